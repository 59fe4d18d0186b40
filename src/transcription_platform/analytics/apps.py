from collections.abc import Callable
from typing import Any

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "transcription_platform.analytics"
    label = "transcription_platform_analytics"
    verbose_name = "Analytics: product metrics for staff"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [
        ("/analytics/", "transcription_platform.analytics.api.router"),
        ("/referrals/", "transcription_platform.analytics.api.referrals_router"),
    ]
    # Read by the accounts app through transcription_platform.hooks: inside the
    # registration's transaction (records the signup, checks and counts a referral code).
    registration_hooks = ["transcription_platform.analytics.services.apply_referral_code"]

    def ready(self) -> None:
        from django.apps import apps

        from transcription_platform import signals
        from transcription_platform.analytics import (
            checks,  # noqa: F401  (registers checks)
            services,
        )

        uid = "transcription_platform.analytics"
        signals.user_signed_up.connect(
            services.on_user_signed_up, dispatch_uid=f"{uid}.on_user_signed_up"
        )
        # Counted in the transaction that changes the job: no transaction of their own.
        receivers: dict[signals.LifecycleSignal, Callable[..., Any]] = {
            signals.transcription_created: services.on_transcription_created,
            signals.transcription_completed: services.on_transcription_completed,
            signals.transcription_failed: services.on_transcription_failed,
        }
        for signal, receiver in receivers.items():
            signal.connect(receiver, dispatch_uid=f"{uid}.{receiver.__name__}", in_transaction=True)
        if apps.is_installed("transcription_platform.billing"):
            from transcription_platform.billing.signals import usage_recorded

            usage_recorded.connect(services.on_usage_recorded, dispatch_uid=f"{uid}.usage")
