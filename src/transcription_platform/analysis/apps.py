from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "transcription_platform.analysis"
    label = "transcription_platform_analysis"
    verbose_name = "Transcript analysis"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = []
