"""Remove audit entries older than ``AUDIT_RETENTION_DAYS`` (or ``--days``)."""

from __future__ import annotations

from datetime import datetime

from transcription_platform.audit.models import AuditLog
from transcription_platform.management.retention import RetentionCommand


class Command(RetentionCommand):
    help = "Delete audit log entries older than AUDIT_RETENTION_DAYS (None keeps everything)."
    setting_name = "AUDIT_RETENTION_DAYS"
    things = "audit entries"
    kept_forever = "audit entries are kept forever."

    def count(self, cutoff: datetime) -> int:
        return AuditLog.objects.filter(created_at__lt=cutoff).count()

    def purge(self, cutoff: datetime) -> int:
        return AuditLog.objects.purge_before(cutoff)
