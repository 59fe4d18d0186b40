from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "transcription_platform.notifications"
    label = "transcription_platform_notifications"
    verbose_name = "Notifications (webhooks)"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [("/webhooks/", "transcription_platform.notifications.api.router")]
    # Read by the transcriptions app through transcription_platform.hooks: the
    # per-request ``webhook_url`` of a new transcription.
    transcription_webhook_url_validators = [
        "transcription_platform.notifications.services.validate_url"
    ]
    transcription_webhook_url_registrars = [
        "transcription_platform.notifications.services.register_request_webhook"
    ]

    def ready(self) -> None:
        from transcription_platform import signals
        from transcription_platform.notifications import services

        receivers = {
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
            )
