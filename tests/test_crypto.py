"""Secrets at rest: Fernet keys, SECRET_KEY derivation, rotation, the encrypted field."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from transcription_platform import crypto
from transcription_platform.accounts.models import TranscriptionSettings
from transcription_platform.exceptions import ConfigurationError

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
SECRET = "sk-user-provided-0123456789abcdef"


def keys(*keys: str) -> override_settings:
    return override_settings(TRANSCRIPTION_PLATFORM={"ENCRYPTION_KEYS": list(keys)})


def raw_api_key(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT api_key FROM {TranscriptionSettings._meta.db_table} WHERE id = %s",  # noqa: S608
            [pk],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def user():
    return get_user_model().objects.create_user("crypto", "crypto@example.com", "x")


def test_round_trip_is_randomised() -> None:
    first, second = crypto.encrypt(SECRET), crypto.encrypt(SECRET)
    assert first != second
    assert SECRET not in first
    assert crypto.decrypt(first) == crypto.decrypt(second) == SECRET


def test_default_key_is_derived_from_secret_key() -> None:
    token = crypto.encrypt(SECRET)
    assert crypto.configured_keys() == [crypto.derive_key(django_settings.SECRET_KEY)]
    with (
        override_settings(SECRET_KEY="another-secret-key"),
        pytest.raises(crypto.DecryptionError) as excinfo,
    ):
        crypto.decrypt(token)
    assert excinfo.value.code == "decryption_failed"
    assert SECRET not in str(excinfo.value)


def test_invalid_key_names_its_index_not_its_value() -> None:
    with keys(NEW_KEY, "not-a-fernet-key"), pytest.raises(ConfigurationError) as excinfo:
        crypto.encrypt(SECRET)
    assert "ENCRYPTION_KEYS'][1]" in str(excinfo.value)
    assert "not-a-fernet-key" not in str(excinfo.value)


def test_first_key_encrypts_all_keys_decrypt() -> None:
    with keys(OLD_KEY):
        old_token = crypto.encrypt(SECRET)
    with keys(NEW_KEY, OLD_KEY):
        assert crypto.decrypt(old_token) == SECRET
        new_token = crypto.encrypt(SECRET)
    assert Fernet(NEW_KEY).decrypt(new_token.encode()).decode() == SECRET
    with keys(NEW_KEY), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(old_token)


@pytest.mark.django_db
def test_field_stores_ciphertext_and_returns_plaintext(user) -> None:
    with keys(OLD_KEY):
        row = TranscriptionSettings.objects.create(user=user, api_key=SECRET)
        raw = raw_api_key(row.pk)
        assert SECRET not in raw
        assert SECRET[-8:] not in raw
        assert Fernet(OLD_KEY).decrypt(raw.encode()).decode() == SECRET
        assert TranscriptionSettings.objects.get(pk=row.pk).api_key == SECRET


@pytest.mark.django_db
def test_blank_value_is_stored_as_blank(user) -> None:
    row = TranscriptionSettings.objects.create(user=user, api_key="")
    assert raw_api_key(row.pk) == ""
    assert TranscriptionSettings.objects.get(pk=row.pk).api_key == ""


@pytest.mark.django_db
def test_rotate_command_reencrypts_under_the_new_key(user) -> None:
    other = get_user_model().objects.create_user("crypto2", "c2@example.com", "x")
    with keys(OLD_KEY):
        rows = [
            TranscriptionSettings.objects.create(user=user, api_key=SECRET),
            TranscriptionSettings.objects.create(user=other, api_key=""),
        ]
    with keys(NEW_KEY, OLD_KEY):
        out = StringIO()
        call_command("rotate_encryption_keys", "--batch-size", "1", stdout=out)
    assert "Re-encrypted 1 value(s)" in out.getvalue()
    assert Fernet(NEW_KEY).decrypt(raw_api_key(rows[0].pk).encode()).decode() == SECRET
    assert raw_api_key(rows[1].pk) == ""
    with keys(NEW_KEY):  # the old key can now be dropped
        assert TranscriptionSettings.objects.get(pk=rows[0].pk).api_key == SECRET


@pytest.mark.django_db
def test_rotate_command_reports_values_no_key_opens(user) -> None:
    other = get_user_model().objects.create_user("crypto2", "c2@example.com", "x")
    with keys(OLD_KEY):
        lost = TranscriptionSettings.objects.create(user=user, api_key=SECRET)
    with keys(NEW_KEY):
        kept = TranscriptionSettings.objects.create(user=other, api_key=SECRET)
        before = raw_api_key(lost.pk)
        err = StringIO()
        with pytest.raises(CommandError, match="1 value"):
            call_command("rotate_encryption_keys", stdout=StringIO(), stderr=err)
    assert f"pk={lost.pk}" in err.getvalue()
    assert SECRET not in err.getvalue()
    assert raw_api_key(lost.pk) == before
    with keys(NEW_KEY):
        assert TranscriptionSettings.objects.get(pk=kept.pk).api_key == SECRET


def test_system_check_warns_about_derived_key_in_production() -> None:
    with override_settings(DEBUG=False):
        assert [m.id for m in crypto.check_encryption_keys()] == ["transcription_platform.W020"]
    with override_settings(DEBUG=True):
        assert crypto.check_encryption_keys() == []
    with keys(NEW_KEY):
        assert crypto.check_encryption_keys() == []
    with keys("bad"):
        assert [m.id for m in crypto.check_encryption_keys()] == ["transcription_platform.E020"]


@pytest.mark.django_db
def test_decrypted_values_are_masked_in_repr(user) -> None:
    TranscriptionSettings.objects.create(user=user, api_key=SECRET)
    loaded = TranscriptionSettings.objects.get(user=user).api_key
    assert loaded == SECRET
    assert isinstance(loaded, crypto.RevealedSecret)
    assert SECRET not in repr(loaded)
    assert SECRET not in repr({"api_key": loaded, "nested": [loaded]})
    assert SECRET not in "%r" % (loaded,)  # noqa: UP031  (what logging's %r does)
    assert f"Bearer {loaded}" == f"Bearer {SECRET}"
