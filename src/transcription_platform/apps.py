from django.apps import AppConfig


class TranscriptionPlatformConfig(AppConfig):
    """Core app: system checks and the core commands (startup_checks, rotate_encryption_keys)."""

    name = "transcription_platform"
    label = "transcription_platform"
    verbose_name = "Transcription platform"

    def ready(self) -> None:
        from transcription_platform import checks  # noqa: F401  (registers system checks)
