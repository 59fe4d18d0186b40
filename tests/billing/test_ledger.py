"""The ledger is exactly right through the real pipeline (sync django-q2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.fixtures.api import API
from tests.fixtures.billing import OPENAI_ENGINE, platform
from tests.fixtures.openai_chat import VALID, completion
from tests.openai_server import CHAT_COMPLETIONS
from transcription_platform import signals
from transcription_platform.billing import services
from transcription_platform.billing.models import (
    LedgerAppendOnly,
    Reservation,
    ReservationStatus,
    UsageRecord,
)
from transcription_platform.billing.signals import usage_recorded
from transcription_platform.transcriptions.models import Transcription

pytestmark = pytest.mark.django_db

OPENAI_ANALYZER = "transcription_platform.analysis.analyzers.openai.OpenAIAnalyzer"


def test_fake_engine_job_records_one_priced_step_and_settles(transcribe, auth_client, user):
    seen = []

    def receiver(sender, record, **kwargs):
        seen.append(record.pk)

    usage_recorded.connect(receiver, weak=False)
    try:
        pk = transcribe()
    finally:
        usage_recorded.disconnect(receiver)

    record = UsageRecord.objects.get()
    assert seen == [record.pk]
    assert (record.owner_id, record.step, record.object_id) == (user.pk, "transcription", pk)
    assert (record.alias, record.model, record.byok) == ("default", "fake-1", False)
    assert record.audio_seconds == Decimal("6.000")
    # 6 s at 0.6 per minute.
    assert record.cost == Decimal("0.060000")
    assert record.unit_prices == {"per_audio_minute": "0.6", "effective_from": "2020-01-01"}
    assert Reservation.objects.get().status == ReservationStatus.SETTLED

    usage = auth_client.get(f"{API}/transcriptions/{pk}").json()["usage"]
    assert usage["cost"] == "0.060000"
    assert usage["steps"][0]["audio_seconds"] == 6.0


def test_a_redelivered_completion_records_nothing_more(transcribe):
    pk = transcribe()
    transcription = Transcription.objects.get(pk=pk)
    # What a re-delivered task or a replayed signal does: send completion again.
    signals.transcription_completed.send(sender=Transcription, transcription=transcription)
    services.on_transcription_completed(None, transcription)
    assert UsageRecord.objects.count() == 1


def test_a_completion_signal_lost_to_a_killed_worker_is_reconciled_once(transcribe):
    # The receiver settles inside the completing transaction; when it fails there (its
    # savepoint rolled back, logged) the job is completed unsettled, as when a worker
    # was killed between the two before receivers ran in the transaction. Simulated by
    # running the pipeline with billing's receiver off.
    uid = "transcription_platform.billing"
    signals.transcription_completed.disconnect(dispatch_uid=uid)
    try:
        pk = transcribe()
    finally:
        signals.transcription_completed.connect(
            services.on_transcription_completed, dispatch_uid=uid, in_transaction=True
        )
    assert Transcription.objects.get(pk=pk).status == "completed"
    assert not UsageRecord.objects.exists()
    assert Reservation.objects.get().status == ReservationStatus.RESERVED

    assert services.reconcile_reservations(older_than_seconds=60) == 0  # too recent
    assert services.reconcile_reservations(older_than_seconds=-600) == 1
    assert services.reconcile_reservations(older_than_seconds=-600) == 0
    # ...and the signal arriving after all (a re-delivery) records nothing more.
    services.on_transcription_completed(None, Transcription.objects.get(pk=pk))
    assert UsageRecord.objects.get().cost == Decimal("0.060000")
    assert Reservation.objects.get().status == ReservationStatus.SETTLED


def test_the_ledger_is_append_only(transcribe):
    transcribe()
    record = UsageRecord.objects.get()
    record.cost = Decimal(0)
    with pytest.raises(LedgerAppendOnly):
        record.save()
    with pytest.raises(LedgerAppendOnly):
        record.delete()
    with pytest.raises(LedgerAppendOnly):
        UsageRecord.objects.update(cost=0)
    with pytest.raises(LedgerAppendOnly):
        UsageRecord.objects.all().delete()


def test_a_price_change_applies_from_its_date_only(settings, transcribe):
    settings.TRANSCRIPTION_PLATFORM = platform(
        PRICES={
            "fake-1": [
                {"effective_from": "2020-01-01", "per_audio_minute": "0.6"},
                {"effective_from": "2999-01-01", "per_audio_minute": "60"},
            ]
        }
    )
    transcribe()
    assert UsageRecord.objects.get().cost == Decimal("0.060000")


def test_a_failed_job_releases_its_reservation_and_records_nothing(
    settings, auth_client, wav, django_capture_on_commit_callbacks
):
    settings.TRANSCRIPTION_PLATFORM = platform(
        ENGINES={
            "default": {
                "BACKEND": "transcription_platform.engines.fake.FakeEngine",
                "OPTIONS": {"fail_with": "engine_auth_failed"},
            }
        }
    )
    from tests.fixtures.uploads import upload as post_audio

    with django_capture_on_commit_callbacks(execute=True):
        response = post_audio(auth_client, wav)
    assert response.status_code == 201, response.content
    assert Transcription.objects.get().status == "failed"
    assert not UsageRecord.objects.exists()
    assert Reservation.objects.get().status == ReservationStatus.RELEASED


def test_openai_engine_and_analyzer_tokens_reach_the_ledger(
    settings, openai_server, transcribe, monkeypatch
):
    engine = {
        "BACKEND": OPENAI_ENGINE,
        "OPTIONS": {
            "base_url": openai_server.base_url,
            "api_key": "sk-site",
            "model": "gpt-4o-transcribe",
            "timeout": 10,
        },
    }
    analyzer = {
        "BACKEND": OPENAI_ANALYZER,
        "OPTIONS": {
            "base_url": openai_server.base_url,
            "api_key": "sk-site",
            "model": "gpt-4o-mini",
            "max_retries": 0,
        },
    }
    settings.TRANSCRIPTION_PLATFORM = platform(
        ENGINES={"default": engine},
        ANALYZERS={"default": analyzer},
        PRICES={
            "gpt-4o-transcribe": [
                {
                    "effective_from": "2025-03-20",
                    "per_audio_minute": "0.006",
                    "per_1k_input_tokens": "0.006",
                    "per_1k_output_tokens": "0.01",
                }
            ],
            "gpt-4o-mini": [
                {
                    "effective_from": "2024-07-18",
                    "per_1k_input_tokens": "0.00015",
                    "per_1k_output_tokens": "0.0006",
                }
            ],
        },
    )
    openai_server.enqueue(
        CHAT_COMPLETIONS, json=completion(VALID, prompt_tokens=1200, completion_tokens=300)
    )

    pk = transcribe(analyze="true")

    assert Transcription.objects.get(pk=pk).status == "completed"
    records = {r.step: r for r in UsageRecord.objects.all()}
    assert set(records) == {"transcription", "analysis"}
    speech = records["transcription"]
    # The test server reports 20 input and 6 output tokens per transcription request.
    calls = speech.input_tokens // 20
    assert calls >= 1
    assert (speech.input_tokens, speech.output_tokens) == (20 * calls, 6 * calls)
    expected = (Decimal("0.006") * 20 * calls + Decimal("0.01") * 6 * calls) / 1000
    assert speech.cost == expected.quantize(Decimal("0.000001"))
    assert speech.model == "gpt-4o-transcribe"
    chat = records["analysis"]
    assert (chat.model, chat.input_tokens, chat.output_tokens) == ("gpt-4o-mini", 1200, 300)
    assert chat.cost == Decimal("0.000360")  # 1.2k * 0.00015 + 0.3k * 0.0006
    assert chat.object_id == pk
