from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TranscriptionsConfig(AppConfig):
    name = "transcription_platform.transcriptions"
    label = "transcription_platform_transcriptions"
    verbose_name = "Transcriptions"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [
        ("/transcriptions/", "transcription_platform.transcriptions.api.router"),
        # Asynchronous engines' providers call back here (bearer token per engine).
        ("/callbacks/", "transcription_platform.transcriptions.api.callbacks_router"),
    ]

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from transcription_platform.transcriptions.tasks import (
            ensure_recovery_schedule,
            sweep_after_spawn,
        )

        post_migrate.connect(ensure_recovery_schedule, sender=self)
        # A worker process started in place of one that died sweeps for its lease.
        post_spawn.connect(sweep_after_spawn, dispatch_uid="transcription_platform.sweep")
