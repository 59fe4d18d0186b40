from collections.abc import Callable

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "transcription_platform.notifications"
    label = "transcription_platform_notifications"
    verbose_name = "Notifications (webhooks, real-time events)"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [
        ("/webhooks/", "transcription_platform.notifications.api.router"),
        ("/events/", "transcription_platform.notifications.api.events_router"),
    ]
    # Plain Django views mounted under the API's prefix by transcription_platform.urls:
    # the Server-Sent Events streams (async, long-lived: not ninja operations).
    api_urlpatterns = ["transcription_platform.notifications.urls.urlpatterns"]
    # Read by the transcriptions app through transcription_platform.hooks: the
    # per-request ``webhook_url`` of a new transcription.
    transcription_webhook_url_validators = [
        "transcription_platform.notifications.services.validate_url"
    ]
    transcription_webhook_url_registrars = [
        "transcription_platform.notifications.services.register_request_webhook"
    ]

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from transcription_platform import signals
        from transcription_platform.notifications import services
        from transcription_platform.notifications.tasks import ensure_sweep_schedule

        post_migrate.connect(
            ensure_sweep_schedule,
            sender=self,
            dispatch_uid="transcription_platform.notifications.sweep",
        )

        # In the transaction that changes the job: the stream event and the webhook
        # messages commit with the change, exactly once, at no transaction of their own.
        receivers: dict[signals.LifecycleSignal, Callable[..., None]] = {
            signals.transcription_created: services.on_transcription_created,
            signals.transcription_started: services.on_transcription_started,
            signals.transcription_progress: services.on_transcription_progress,
            signals.transcription_retried: services.on_transcription_retried,
            signals.transcription_completed: services.on_transcription_completed,
            signals.transcription_failed: services.on_transcription_failed,
            signals.transcription_cancelled: services.on_transcription_cancelled,
            signals.analysis_completed: services.on_analysis_completed,
            signals.analysis_failed: services.on_analysis_failed,
        }
        for signal, receiver in receivers.items():
            signal.connect(
                receiver,
                dispatch_uid=f"transcription_platform.notifications.{receiver.__name__}",
                in_transaction=True,
            )
