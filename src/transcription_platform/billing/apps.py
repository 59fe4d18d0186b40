from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "transcription_platform.billing"
    label = "transcription_platform_billing"
    verbose_name = "Billing: usage ledger and budgets"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [("/usage/", "transcription_platform.billing.api.router")]
    # Read by the transcriptions app through transcription_platform.hooks.
    transcription_create_hooks = ["transcription_platform.billing.services.reserve"]
    transcription_planned_hooks = ["transcription_platform.billing.services.adjust_reservation"]
    transcription_detail_hooks = ["transcription_platform.billing.services.add_usage_to"]

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate

        from transcription_platform.billing import services
        from transcription_platform.billing.tasks import ensure_reconcile_schedule
        from transcription_platform.signals import (
            analysis_completed,
            analysis_failed,
            transcription_cancelled,
            transcription_completed,
            transcription_failed,
        )

        uid = "transcription_platform.billing"
        post_migrate.connect(ensure_reconcile_schedule, sender=self, dispatch_uid=uid)
        # In the completing (failing, cancelling) transaction: the job is settled (or
        # released) exactly when it finishes, with no window in between.
        transcription_completed.connect(
            services.on_transcription_completed, dispatch_uid=uid, in_transaction=True
        )
        transcription_failed.connect(
            services.on_transcription_ended, dispatch_uid=uid, in_transaction=True
        )
        transcription_cancelled.connect(
            services.on_transcription_ended, dispatch_uid=uid, in_transaction=True
        )
        analysis_completed.connect(services.on_analysis_finished, dispatch_uid=uid)
        analysis_failed.connect(services.on_analysis_finished, dispatch_uid=uid)
        # Deleting a job sends no lifecycle signal: release what a pending one held. A
        # lazy "app_label.Model" sender, so billing never imports their models.
        post_delete.connect(
            services.on_transcription_deleted,
            sender="transcription_platform_transcriptions.Transcription",
            dispatch_uid=uid,
        )
