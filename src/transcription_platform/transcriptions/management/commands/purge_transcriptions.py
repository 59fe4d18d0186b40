"""Remove finished transcriptions (and their audio) older than ``RETENTION_DAYS``."""

from __future__ import annotations

from datetime import datetime

from transcription_platform.management.retention import RetentionCommand
from transcription_platform.transcriptions.models import Transcription
from transcription_platform.transcriptions.services import FINISHED, purge_finished_before


class Command(RetentionCommand):
    help = (
        "Delete completed, failed and cancelled transcriptions (with their audio) created "
        "more than RETENTION_DAYS ago. Pending and processing jobs are kept."
    )
    setting_name = "RETENTION_DAYS"
    things = "transcriptions"
    kept_forever = "transcriptions are kept until deleted."

    def count(self, cutoff: datetime) -> int:
        return Transcription.objects.filter(status__in=FINISHED, created_at__lt=cutoff).count()

    def purge(self, cutoff: datetime) -> int:
        return purge_finished_before(cutoff)
