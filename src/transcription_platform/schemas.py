"""Schemas shared by every router: the error envelope and the strict input types.

Two rules hold for every input of the API, whatever the operation:

* Text never carries a NUL character (PostgreSQL cannot store one, and no header, name,
  prompt or search has a use for it): `find_nul` is applied to the JSON body, the form
  fields, the query string and the request headers (``api.PlatformParser`` and
  ``api.refuse_nul_outside_body``), so a field added tomorrow is covered too.
* A date-time is `IsoDatetime`: ISO 8601 only, an offset within ±15:59, returned in UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from ninja import Schema
from ninja.responses import NinjaJSONEncoder
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from transcription_platform.exceptions import ValidationError

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")

#: The widest UTC offset PostgreSQL's timestamptz (and any real time zone) accepts.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)

#: The message of every NUL refusal.
NUL_MESSAGE = "NUL characters are not allowed."


def _iso_datetime_only(value: Any) -> Any:
    # pydantic would read 0.5 or "1700000000" as a Unix time; the schema says date-time.
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("Expected an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.")
    return value


def _in_utc(value: datetime) -> datetime:
    # Python allows offsets up to ±23:59, PostgreSQL ±15:59: refuse the rest here (422)
    # instead of failing in the query (500), and hand the ORM one zone only.
    offset = value.utcoffset()
    if offset is None:
        return value.replace(tzinfo=UTC)  # no offset given: read as UTC, documented
    if abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("The UTC offset must be within ±15:59.")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 lies before year 1 in UTC
        raise ValueError("The date-time is out of range.") from None


def find_nul(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The locations of every string holding a NUL character in ``data``.

    Args:
        data: A parsed input: a string, or dicts and lists of them (keys included).
        path: The location of ``data`` itself.

    Yields:
        The path (keys and list indexes as strings) of each offending string.
    """
    if isinstance(data, str):
        if "\x00" in data:
            yield path
    elif isinstance(data, dict):
        for key, value in data.items():
            key_path = (*path, str(key).replace("\x00", "\\x00"))
            if isinstance(key, str) and "\x00" in key:
                yield key_path
            else:
                yield from find_nul(value, key_path)
    elif isinstance(data, (list, tuple)):
        for index, item in enumerate(data):
            yield from find_nul(item, (*path, str(index)))


def nul_error(source: str, paths: list[tuple[str, ...]]) -> ValidationError:
    """The refusal of text holding a NUL character (400 ``validation_error``).

    Args:
        source: Where the text was: ``body``, ``form``, ``query`` or ``header``.
        paths: The offending locations, as `find_nul` yields them.

    Returns:
        The error to raise, naming each field.
    """
    # 400, not 422: the schema allows the text, the platform refuses it (docs/api.md).
    return ValidationError(
        NUL_MESSAGE,
        details=[
            {"field": ".".join(path), "source": source, "message": NUL_MESSAGE} for path in paths
        ],
    )


def _form_bool(value: Any) -> Any:
    # A form field carries text; OpenAPI serialises a boolean as "true"/"false", and
    # pydantic's lax "1", "yes", "on" would make the schema lie.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError('Expected "true" or "false".')


#: A date-time in ISO 8601, returned in UTC (no offset given: UTC); numbers (Unix
#: times) and offsets beyond ±15:59 are refused.
IsoDatetime = Annotated[
    datetime,
    BeforeValidator(_iso_datetime_only),
    AfterValidator(_in_utc),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            # Z, or an offset within ±15:59 (JSON Schema patterns match anywhere).
            "pattern": "([Zz]|[+-](0[0-9]|1[0-5]):?[0-5][0-9])$",
        }
    ),
]

#: An optional multipart boolean: "true" or "false", or left out (``None``). The
#: schema says boolean, not nullable: a form cannot send null.
FormBool = Annotated[
    bool | None,
    BeforeValidator(_form_bool),
    WithJsonSchema({"type": "boolean"}),
]


class ErrorDetail(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    """``{"error": {"code", "message", "details"}}`` — the shape of every API error."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """``response=`` entries documenting the error statuses an operation can return."""
    return dict.fromkeys(statuses, ErrorOut)


def as_api_json(schema: type[Schema], obj: Any) -> dict[str, Any]:
    """``obj`` through ``schema`` exactly as the API renders it (ninja's JSON encoder:
    the same datetime precision), for payloads sent elsewhere (webhooks)."""
    payload: dict[str, Any] = json.loads(
        json.dumps(schema.from_orm(obj).model_dump(), cls=NinjaJSONEncoder)
    )
    return payload
