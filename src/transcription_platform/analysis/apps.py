from django.apps import AppConfig


class AnalysisConfig(AppConfig):
    name = "transcription_platform.analysis"
    label = "transcription_platform_analysis"
    verbose_name = "Transcript analysis"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api; ninja serves
    # several routers under one prefix, so /transcriptions/{id}/analysis lives here.
    api_routers = [("/transcriptions/", "transcription_platform.analysis.api.router")]
    # What this app adds to the transcriptions app (see transcription_platform.hooks).
    transcription_admin_inlines = ["transcription_platform.analysis.admin.AnalysisInline"]
    transcription_export_sections = [
        ("analysis", "transcription_platform.analysis.services.analysis_export")
    ]
    local_transcription_steps = ["transcription_platform.analysis.services.run_analysis"]

    def ready(self) -> None:
        from transcription_platform.analysis.services import on_transcription_completed
        from transcription_platform.signals import transcription_completed

        # In the completing transaction: the analysis is requested (its row written, its
        # task enqueued) exactly when the transcript is saved.
        transcription_completed.connect(
            on_transcription_completed,
            dispatch_uid="transcription_platform.analysis",
            in_transaction=True,
        )
