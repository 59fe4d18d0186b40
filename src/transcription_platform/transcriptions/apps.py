from django.apps import AppConfig


class TranscriptionsConfig(AppConfig):
    name = "transcription_platform.transcriptions"
    label = "transcription_platform_transcriptions"
    verbose_name = "Transcriptions"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [("/transcriptions/", "transcription_platform.transcriptions.api.router")]
