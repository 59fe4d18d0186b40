from django.apps import AppConfig
from django.db.models.signals import post_migrate


class HealthConfig(AppConfig):
    name = "transcription_platform.health"
    label = "transcription_platform_health"
    verbose_name = "Health"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [("/transcriptions/health/", "transcription_platform.health.api.router")]

    def ready(self) -> None:
        from transcription_platform.health.tasks import ensure_heartbeat_schedule

        post_migrate.connect(ensure_heartbeat_schedule, sender=self)
