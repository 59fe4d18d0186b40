"""Language, prompt and size are checked by one validator each, whichever entry point
(upload API, settings API, ``transcribe`` command) a value comes through."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.fixtures.api import API, assert_error
from tests.fixtures.uploads import upload
from transcription_platform.exceptions import ValidationError
from transcription_platform.transcriptions.models import Transcription
from transcription_platform.validators import (
    MAX_PROMPT_LENGTH,
    normalize_language,
    validate_prompt,
)

pytestmark = pytest.mark.django_db

SETTINGS_URL = f"{API}/settings/"


def patch_settings(client, **data):
    return client.patch(SETTINGS_URL, data, content_type="application/json")


def cli(*args: str) -> Transcription:
    call_command("transcribe", *args, user="alice", stdout=io.StringIO(), stderr=io.StringIO())
    return Transcription.objects.latest("created_at")


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("pt", "pt"),
        ("pt-BR", "pt-BR"),
        ("pt_BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("PT_br", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("  fr ", "fr"),
        ("", ""),
    ],
)
def test_language_has_one_canonical_form(given: str, canonical: str) -> None:
    assert normalize_language(given) == canonical


@pytest.mark.parametrize("given", ["english", "e", "12", "en_US!", "pt--BR"])
def test_malformed_language_is_invalid_language(given: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_language(given)
    assert caught.value.code == "invalid_language"


@pytest.mark.parametrize("given", ["pt_BR", "pt-br", "pt-BR"])
def test_language_is_stored_the_same_way_through_every_entry_point(
    auth_client, user, tone_wav, given
) -> None:
    response = patch_settings(auth_client, language=given)
    assert response.status_code == 200, response.content
    assert response.json()["language"] == "pt-BR"

    created = upload(auth_client, tone_wav, language=given)
    assert created.status_code == 201, created.content
    assert created.json()["language"] == "pt-BR"

    assert cli(str(tone_wav), "--language", given).language == "pt-BR"


def test_a_saved_language_is_accepted_by_every_upload(auth_client, user, tone_wav) -> None:
    # The bug this fixes: settings took pt_BR, every upload then answered 400.
    assert patch_settings(auth_client, language="pt_BR").status_code == 200
    created = upload(auth_client, tone_wav)
    assert created.status_code == 201, created.content
    assert created.json()["language"] == "pt-BR"
    assert cli(str(tone_wav)).language == "pt-BR"


def test_malformed_language_is_refused_the_same_way_everywhere(auth_client, user, tone_wav) -> None:
    assert_error(patch_settings(auth_client, language="english!"), 400, "invalid_language")
    assert_error(upload(auth_client, tone_wav, language="english!"), 400, "invalid_language")
    with pytest.raises(CommandError, match=r"^invalid_language: "):
        cli(str(tone_wav), "--language", "english!")


def test_prompt_has_one_limit_everywhere(auth_client, user, tone_wav) -> None:
    longest, too_long = "x" * MAX_PROMPT_LENGTH, "x" * (MAX_PROMPT_LENGTH + 1)
    assert validate_prompt(longest) == longest

    assert patch_settings(auth_client, prompt=longest).status_code == 200
    error = assert_error(patch_settings(auth_client, prompt=too_long), 400, "validation_error")
    assert error["details"]["max_length"] == MAX_PROMPT_LENGTH

    assert upload(auth_client, tone_wav, prompt=longest).status_code == 201
    assert_error(upload(auth_client, tone_wav, prompt=too_long), 400, "validation_error")

    assert cli(str(tone_wav), "--prompt", longest).prompt == longest
    with pytest.raises(CommandError, match=rf"longer than {MAX_PROMPT_LENGTH} characters"):
        cli(str(tone_wav), "--prompt", too_long)


def test_size_limit_is_the_same_for_the_api_and_the_cli(
    auth_client, user, tone_wav, settings
) -> None:
    size = tone_wav.stat().st_size
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "MAX_UPLOAD_BYTES": size - 1,
    }
    error = assert_error(upload(auth_client, tone_wav), 413, "payload_too_large")
    with pytest.raises(CommandError) as caught:
        cli(str(tone_wav))
    assert str(caught.value) == f"payload_too_large: {error['message']}"

    settings.TRANSCRIPTION_PLATFORM = {**settings.TRANSCRIPTION_PLATFORM, "MAX_UPLOAD_BYTES": size}
    assert cli(str(tone_wav)).size_bytes == size
