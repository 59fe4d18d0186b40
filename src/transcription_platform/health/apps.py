from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "transcription_platform.health"
    label = "transcription_platform_health"
    verbose_name = "Health"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [("/transcriptions/health/", "transcription_platform.health.api.router")]
