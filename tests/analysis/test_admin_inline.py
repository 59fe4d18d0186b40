"""The analysis app adds its read-only inline to the transcription admin page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from model_bakery import baker

from transcription_platform.analysis.admin import AnalysisInline
from transcription_platform.analysis.models import Analysis, AnalysisStatus
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

pytestmark = pytest.mark.django_db


def test_transcription_page_shows_the_analysis_inline(admin_client, user) -> None:
    transcription = baker.make(Transcription, owner=user, status=TranscriptionStatus.COMPLETED)
    baker.make(
        Analysis,
        transcription=transcription,
        status=AnalysisStatus.COMPLETED,
        summary="Ship the release on Friday.",
    )
    url = reverse(
        "admin:transcription_platform_transcriptions_transcription_change", args=[transcription.pk]
    )
    response = admin_client.get(url)
    assert response.status_code == 200
    inlines = [type(f.opts) for f in response.context["inline_admin_formsets"]]
    assert AnalysisInline in inlines
    assert "Ship the release on Friday." in response.content.decode()
