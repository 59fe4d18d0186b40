"""Which database errors are an outage (503 + Retry-After) and which are bugs (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from django.db.utils import IntegrityError, InterfaceError, OperationalError

from transcription_platform.exceptions import is_database_outage


def django_error(cause: Exception, wrapper: type[Exception] = OperationalError) -> Exception:
    """``cause`` wrapped as Django's DatabaseErrorWrapper wraps a driver's error."""
    try:
        try:
            raise cause
        except type(cause) as exc:
            raise wrapper(*exc.args) from exc
    except wrapper as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (django_error(psycopg.OperationalError("connection refused")), True),
        (django_error(psycopg.OperationalError("sorry, too many clients already")), True),
        (django_error(sqlite3.OperationalError("database is locked")), True),
        (django_error(sqlite3.OperationalError("unable to open database file")), True),
        # SQLite reports schema mistakes as OperationalError too: those are bugs.
        (django_error(sqlite3.OperationalError("no such table: accounts")), False),
        (InterfaceError("connection already closed"), True),
        (django_error(sqlite3.IntegrityError("UNIQUE constraint failed"), IntegrityError), False),
        (ValueError("not a database error"), False),
    ],
    ids=["pg-refused", "pg-too-many", "sqlite-locked", "sqlite-open", "sqlite-schema",
         "interface", "integrity", "other"],
)  # fmt: skip
def test_outages_are_told_apart_from_bugs(error, outage) -> None:
    assert is_database_outage(error) is outage
