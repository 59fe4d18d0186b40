from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "transcription_platform.audit"
    label = "transcription_platform_audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"
    # (prefix, dotted router) pairs mounted by transcription_platform.api.
    api_routers = [("/audit/", "transcription_platform.audit.api.router")]
