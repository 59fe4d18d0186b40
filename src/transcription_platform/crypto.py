"""Secrets at rest: Fernet encryption keyed by ``ENCRYPTION_KEYS``.

``TRANSCRIPTION_PLATFORM["ENCRYPTION_KEYS"]`` is a list of Fernet keys (generate one
with `generate_key`). The first key encrypts; every key decrypts, so a key is
rotated by putting the new key first, running ``manage.py rotate_encryption_keys`` and
then dropping the old key. With no keys configured, one key is derived from
``SECRET_KEY`` (system check ``transcription_platform.W020`` warns about it when
``DEBUG`` is off: rotating ``SECRET_KEY`` would then make stored secrets unreadable).

`EncryptedTextField` stores ciphertext in the database and gives Python code the
plaintext as a `RevealedSecret` (masked in ``repr()``). Importing this module (the
accounts app's models do) registers the system check.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from transcription_platform.conf import SETTINGS_NAME, settings
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import ConfigurationError, TranscriptionPlatformError
from transcription_platform.generics import TextField

# Fixed HKDF "info": a derived key is only ever used for this purpose.
_DERIVATION_INFO = b"transcription_platform.crypto.v1"


class RevealedSecret(str):
    """A decrypted secret: an ordinary ``str`` to code, masked in ``repr()``.

    Tracebacks with local variables (Sentry, Django's debug page) and ``%r`` log
    arguments show frames and containers through ``repr()``, so the plaintext stays
    out of them wherever it is passed along.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<secret>'"


class DecryptionError(TranscriptionPlatformError):
    """Ciphertext that none of the configured keys can decrypt (wrong or dropped key)."""

    status_code = 500
    code = PlatformErrorCode.DECRYPTION_FAILED
    default_message = (
        "A stored secret could not be decrypted with any configured ENCRYPTION_KEYS entry."
    )


def generate_key() -> str:
    """A new random Fernet key, ready for ``ENCRYPTION_KEYS``."""
    return Fernet.generate_key().decode()


def derive_key(secret_key: str) -> str:
    """The Fernet key used when ``ENCRYPTION_KEYS`` is empty (HKDF-SHA256 of SECRET_KEY)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_DERIVATION_INFO).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(raw).decode()


def configured_keys() -> list[str]:
    """The keys in use, primary first: ``ENCRYPTION_KEYS`` or the SECRET_KEY-derived one."""
    keys = list(settings.ENCRYPTION_KEYS)
    return keys or [derive_key(django_settings.SECRET_KEY)]


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for index, key in enumerate(keys):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # Never echo the key itself: it is a secret.
            raise ConfigurationError(
                f"{SETTINGS_NAME}['ENCRYPTION_KEYS'][{index}] is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; create one with "
                "transcription_platform.crypto.generate_key())."
            ) from None
    return MultiFernet(fernets)


def get_fernet() -> MultiFernet:
    """A MultiFernet over `configured_keys` (cached per key list)."""
    return _multi_fernet(tuple(configured_keys()))


def encrypt(secret: str) -> str:
    """Ciphertext of ``secret`` under the primary key."""
    return get_fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> RevealedSecret:
    """Plaintext of ``token``; `DecryptionError` if no configured key opens it."""
    try:
        return RevealedSecret(get_fernet().decrypt(token.encode()).decode())
    except InvalidToken:
        raise DecryptionError() from None


def rotate(token: str) -> str:
    """``token`` re-encrypted under the primary key (readable by any configured key)."""
    try:
        return get_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError() from None


class EncryptedTextField(TextField[str, str]):
    """A text column holding Fernet ciphertext; Python code sees the plaintext.

    The empty string is stored as is (nothing secret to hide, and ``blank`` stays
    meaningful). Encrypted values cannot be filtered on: each encryption differs.
    """

    description = "Text encrypted at rest with the platform's ENCRYPTION_KEYS"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, secret: Any) -> str | None:
        # Named ``secret`` so error reporters' scrubbers mask this frame's local.
        secret = super().get_prep_value(secret)
        if not secret:
            return None if secret is None else str(secret)
        return encrypt(secret)


@register(Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E020: every ENCRYPTION_KEYS entry is a Fernet key. W020: with DEBUG off, secrets
    at rest are encrypted with a key derived from SECRET_KEY (no ENCRYPTION_KEYS set)."""
    try:
        keys = settings.ENCRYPTION_KEYS
        get_fernet()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="transcription_platform.E020")]
    if not keys and not django_settings.DEBUG:
        return [
            Warning(
                "TRANSCRIPTION_PLATFORM['ENCRYPTION_KEYS'] is empty: stored provider API keys "
                "are encrypted with a key derived from SECRET_KEY, so rotating SECRET_KEY "
                "makes them unreadable.",
                hint="Set ENCRYPTION_KEYS to a list holding a key from "
                "transcription_platform.crypto.generate_key(); see docs/security.md.",
                id="transcription_platform.W020",
            )
        ]
    return []
