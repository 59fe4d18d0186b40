"""Remove finished transcriptions (and their audio) older than ``RETENTION_DAYS``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from transcription_platform.conf import settings
from transcription_platform.transcriptions.models import Transcription
from transcription_platform.transcriptions.services import FINISHED, purge_finished_before


class Command(BaseCommand):
    help = (
        "Delete completed, failed and cancelled transcriptions (with their audio) created "
        "more than RETENTION_DAYS ago. Pending and processing jobs are kept."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days", type=int, help="Retention in days for this run (default: the setting)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, days: int | None, dry_run: bool, **options: Any) -> None:
        if days is None:
            days = settings.RETENTION_DAYS
        if days is None:
            self.stdout.write("RETENTION_DAYS is None: transcriptions are kept until deleted.")
            return
        if days < 1:
            raise CommandError("The retention must be at least 1 day.")
        cutoff = timezone.now() - timedelta(days=days)
        if dry_run:
            count = Transcription.objects.filter(status__in=FINISHED, created_at__lt=cutoff).count()
            self.stdout.write(
                f"Would delete {count} transcriptions created before {cutoff:%Y-%m-%d}."
            )
            return
        deleted = purge_finished_before(cutoff)
        self.stdout.write(f"Deleted {deleted} transcriptions created before {cutoff:%Y-%m-%d}.")
