"""Account models: role permissions, per-user provider settings, platform API keys."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from transcription_platform.crypto import EncryptedTextField
from transcription_platform.scopes import DEFAULT_API_KEY_SCOPES, Scope


class PlatformPermission(models.Model):
    """Holder of the role permissions (no table). Grant them to any group to map a
    site's own roles; ``transcription_platform.roles`` creates default groups that bundle them."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("access_all_transcriptions", "Can access every user's transcriptions (support)"),
            ("view_usage", "Can view every user's usage and costs"),
        ]

    def __str__(self) -> str:
        return "platform permission"


class TranscriptionSettings(models.Model):
    """A user's transcription defaults and their own provider key (bring your own key).

    Blank/None fields fall back to the site's settings. ``api_key`` is encrypted at
    rest and write-only everywhere: never render it, log it or put it in an export.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="transcription_settings"
    )
    engine = models.CharField(max_length=50, blank=True, help_text="Blank: the site default.")
    model = models.CharField(max_length=100, blank=True, help_text="Blank: the engine's model.")
    language = models.CharField(max_length=16, blank=True, help_text="Blank: auto-detect.")
    prompt = models.TextField(blank=True, help_text="Default prompt (vocabulary, spelling).")
    analysis_enabled = models.BooleanField(null=True, blank=True, help_text="None: site default.")
    api_key = EncryptedTextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "transcription settings"
        verbose_name_plural = "transcription settings"

    def __str__(self) -> str:
        return f"Transcription settings of {self.user}"

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key)

    @property
    def api_key_last4(self) -> str | None:
        # Only for keys long enough that four characters reveal little of them.
        return self.api_key[-4:] if len(self.api_key) >= 16 else None


def default_api_key_scopes() -> list[str]:
    """``read`` and ``transcribe``: what the documented scripts need (also given to the
    keys that existed before scopes)."""
    return [scope.value for scope in DEFAULT_API_KEY_SCOPES]


class ApiKey(models.Model):
    """A named platform API key. Only a SHA-256 of the secret is stored; ``prefix`` is
    the visible part that identifies it (``tp_<12 hex>``); ``scopes`` say what it may
    do (`transcription_platform.scopes`)."""

    SCOPE_CHOICES = [(scope.value, scope.value) for scope in Scope]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=40, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = models.JSONField(
        default=default_api_key_scopes,
        help_text="What the key may do: read, transcribe, manage.",
    )

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
