"""Remove audit entries older than ``AUDIT_RETENTION_DAYS`` (or ``--days``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from transcription_platform.audit.models import AuditLog
from transcription_platform.conf import settings


class Command(BaseCommand):
    help = "Delete audit log entries older than AUDIT_RETENTION_DAYS (None keeps everything)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days", type=int, help="Retention in days for this run (default: the setting)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is None:
            days = settings.AUDIT_RETENTION_DAYS
        if days is None:
            self.stdout.write("AUDIT_RETENTION_DAYS is None: audit entries are kept forever.")
            return
        if days < 1:
            raise CommandError("The retention must be at least 1 day.")
        cutoff = timezone.now() - timedelta(days=days)
        if dry_run:
            count = AuditLog.objects.filter(created_at__lt=cutoff).count()
            self.stdout.write(f"Would delete {count} audit entries older than {cutoff:%Y-%m-%d}.")
            return
        deleted = AuditLog.objects.purge_before(cutoff)
        self.stdout.write(f"Deleted {deleted} audit entries older than {cutoff:%Y-%m-%d}.")
