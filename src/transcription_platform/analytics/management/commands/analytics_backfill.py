"""Record analytics events from existing users, transcriptions and the billing ledger."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from transcription_platform.analytics.services import backfill


class Command(BaseCommand):
    help = (
        "Record analytics events from existing data (users, transcriptions, the billing "
        "ledger). Idempotent: run it again and nothing is counted twice."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        added = backfill()
        summary = ", ".join(f"{count} {name}" for name, count in added.items())
        self.stdout.write(f"Backfilled: {summary}.")
