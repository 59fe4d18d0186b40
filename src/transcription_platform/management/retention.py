"""The shape shared by the retention commands (purge_transcriptions, purge_audit_log)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone


class RetentionCommand(BaseCommand):
    """Delete what is older than a retention setting (days; None keeps everything).

    Subclasses name the setting and the things purged, and implement `count`
    and `purge` for a cutoff.
    """

    setting_name: str
    things: str
    kept_forever: str

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days", type=int, help="Retention in days for this run (default: the setting)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def retention_days(self) -> int | None:
        from transcription_platform.conf import settings

        days: int | None = getattr(settings, self.setting_name)
        return days

    def count(self, cutoff: datetime) -> int:
        raise NotImplementedError

    def purge(self, cutoff: datetime) -> int:
        raise NotImplementedError

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is None:
            days = self.retention_days()
        if days is None:
            self.stdout.write(f"{self.setting_name} is None: {self.kept_forever}")
            return
        if days < 1:
            raise CommandError("The retention must be at least 1 day.")
        cutoff = timezone.now() - timedelta(days=days)
        if dry_run:
            count = self.count(cutoff)
            self.stdout.write(f"Would delete {count} {self.things} older than {cutoff:%Y-%m-%d}.")
            return
        deleted = self.purge(cutoff)
        self.stdout.write(f"Deleted {deleted} {self.things} older than {cutoff:%Y-%m-%d}.")
