"""Fixtures of the web pages' tests: the API accepting the session, signed-in clients."""

from __future__ import annotations

import pytest
from django.test import Client

SESSION_AUTH = "transcription_platform.auth.SessionAuth"


@pytest.fixture(autouse=True)
def session_auth(settings):
    """The API accepts the session, as on a site that installs the pages (the test
    project does not list it: other tests check that the session is not accepted by
    default)."""
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "AUTHENTICATION": [*settings.TRANSCRIPTION_PLATFORM["AUTHENTICATION"], SESSION_AUTH],
    }


@pytest.fixture
def web_client(user) -> Client:
    """A browser-like client signed in as ``user``, with CSRF checks on."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client
