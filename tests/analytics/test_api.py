"""``/analytics/`` (analyst role or staff, 404 for members) and ``/referrals/``; the
platform's real signals feed the app (registration, the sync pipeline, the ledger)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.fixtures.analytics import ANALYTICS_SETTINGS, TIME_ZONE, build_history, utc
from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.audio import write_audio
from tests.fixtures.billing import platform
from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.uploads import upload
from tests.fixtures.users import make_user
from transcription_platform import signals
from transcription_platform.analytics import services
from transcription_platform.analytics.models import Event, ReferralCode, UserStats
from transcription_platform.transcriptions.models import Transcription
from transcription_platform.transcriptions.services import fail

pytestmark = pytest.mark.django_db

MARCH = "from=2026-03-01&to=2026-03-31"
ENDPOINTS = [
    ("overview", f"{MARCH}", lambda: services.overview(*_march())),
    ("funnel", f"{MARCH}", lambda: services.funnel(*_march())),
    ("retention", f"cohort=week&{MARCH}", lambda: services.retention(*_march())),
    (
        "timeseries",
        f"metric=revenue&interval=week&{MARCH}",
        lambda: services.timeseries("revenue", "week", *_march()),
    ),
    ("engines", f"{MARCH}", lambda: services.engines(*_march())),
]


def _march():
    from datetime import date

    return date(2026, 3, 1), date(2026, 3, 31)


@pytest.fixture
def analytics_settings(settings, tmp_path):
    use_tmp_storage(settings, tmp_path / "media")
    settings.TIME_ZONE = TIME_ZONE
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        **platform(),
        **ANALYTICS_SETTINGS,
        "REGISTRATION_OPEN": True,
        "RATE_LIMITS": {"transcription_create": None, "user": None, "registration": None},
    }
    return settings


@pytest.mark.parametrize(("name", "query", "expected"), ENDPOINTS)
def test_analyst_reads_each_endpoint_equal_to_the_service(
    analytics_settings, name, query, expected
):
    build_history()
    client = bearer_client(make_user("ana", "analyst"))
    response = client.get(f"{API}/analytics/{name}/?{query}")
    assert response.status_code == 200, response.content
    assert response.json() == expected()


@pytest.mark.parametrize(
    ("who", "status"),
    [("member", 404), ("billing", 404), ("auditor", 404), ("analyst", 200), ("admin", 200)],
)
def test_roles(analytics_settings, who, status) -> None:
    client = bearer_client(make_user("u", who))
    for name, query, _ in ENDPOINTS:
        response = client.get(f"{API}/analytics/{name}/?{query}")
        if status == 404:
            assert_error(response, 404, "not_found")
        else:
            assert response.status_code == 200, (name, response.content)


def test_staff_reads_and_anonymous_is_401(analytics_settings, client) -> None:
    staff = bearer_client(make_user("boss", is_staff=True))
    assert staff.get(f"{API}/analytics/overview/").status_code == 200
    assert_error(client.get(f"{API}/analytics/overview/"), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("overview/?from=2026-04-01&to=2026-03-01", 400, "invalid_period"),
        ("overview/?from=2020-01-01&to=2026-03-01", 400, "invalid_period"),
        ("overview/?from=yesterday", 422, "validation_error"),
        ("overview/?from=9999-12-30&to=9999-12-31", 400, "invalid_period"),
        ("engines/?from=0001-01-01&to=0001-01-02", 400, "invalid_period"),
        ("funnel/?to=2026-02-30", 422, "validation_error"),
        ("retention/?cohort=month", 422, "validation_error"),
        ("timeseries/?metric=happiness", 422, "validation_error"),
        ("timeseries/?metric=signups&interval=hour", 422, "validation_error"),
        ("timeseries/", 422, "validation_error"),
        ("engines/?from=99999-01-01", 422, "validation_error"),
    ],
)
def test_bad_input_is_a_documented_error(analytics_settings, query, status, code) -> None:
    client = bearer_client(make_user("ana", "analyst"))
    assert_error(client.get(f"{API}/analytics/{query}"), status, code)


def test_answers_are_cached_briefly(analytics_settings) -> None:
    analytics_settings.TRANSCRIPTION_PLATFORM = {
        **analytics_settings.TRANSCRIPTION_PLATFORM,
        "ANALYTICS_CACHE_SECONDS": 60,
    }
    build_history()
    first = services.overview(*_march())
    services.record_signup(make_user("late", date_joined=utc(2026, 3, 20, 12, 0)))
    with CaptureQueriesContext(connection) as queries:
        assert services.overview(*_march()) == first
    assert len(queries) == 0
    cache.clear()  # what expiry does
    assert services.overview(*_march())["signups"] == first["signups"] + 1


def test_registration_signal_and_pipeline_feed_the_metrics(
    analytics_settings, client, tmp_path, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{API}/auth/registration/",
            {"email": "new@example.com", "password": "Correct-Horse-42"},
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    user = get_user_model().objects.get(email="new@example.com")
    new = bearer_client(user)
    wav = write_audio(tmp_path / "six.wav", [(3.0, 440), (1.0, None), (2.0, 660)])
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(new, wav).status_code == 201

    stats = UserStats.objects.get(pk=user.pk)
    assert (stats.transcriptions, stats.completed, stats.active_days) == (1, 1, 1)
    assert stats.activated_at is not None
    kinds = sorted(Event.objects.values_list("kind", flat=True))
    assert kinds == ["signup", "transcription_completed", "transcription_created", "usage"]
    completed = Event.objects.get(kind="transcription_completed")
    assert completed.audio_seconds == Decimal("6.000")
    assert completed.revenue == Decimal("0.002000")  # 0.1 min * 0.02
    usage = Event.objects.get(kind="usage")
    assert (usage.cost, usage.engine, usage.model) == (Decimal("0.060000"), "default", "fake-1")

    body = services.overview()
    assert (body["signups"], body["activated_users"], body["dau"]) == (1, 1, 1)
    assert (body["transcriptions"], body["audio_seconds"]) == (1, 6.0)
    assert (body["cost"], body["revenue"]) == ("0.060000", "0.002000")
    assert body["gross_margin"] == -29.0


def test_failed_job_is_counted_once_with_its_code(
    analytics_settings, django_capture_on_commit_callbacks
) -> None:
    owner = make_user("fay")
    job = make_transcription(owner, "processing", engine="default", model="")
    with django_capture_on_commit_callbacks(execute=True):
        fail(job.pk, "engine_rejected", "No.")
    event = Event.objects.get(kind="transcription_failed")
    # No model from the engine yet: the engine's configured one.
    assert (event.error_code, event.engine, event.model) == ("engine_rejected", "default", "fake-1")
    # A re-delivered failure counts once.
    signals.transcription_failed.send(
        sender=Transcription,
        transcription=Transcription.objects.get(pk=job.pk),
        error_code="engine_rejected",
        error_message="No.",
    )
    assert UserStats.objects.get(pk=owner.pk).failed == 1
    assert services.overview()["failures"] == {"total": 1, "by_error_code": {"engine_rejected": 1}}


def test_referral_flow(analytics_settings, client, django_capture_on_commit_callbacks) -> None:
    ann = make_user("ann")
    ann_client = bearer_client(ann)
    created = ann_client.post(f"{API}/referrals/")
    assert created.status_code == 201, created.content
    code = created.json()["code"]
    assert (len(code) == 10 and code.isupper()) or code.isalnum()

    def register(email, referral_code):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"{API}/auth/registration/",
                {"email": email, "password": "Correct-Horse-42", "referral_code": referral_code},
                content_type="application/json",
            )

    assert register("b@example.com", code.lower()).status_code == 201
    assert register("c@example.com", f" {code} ").status_code == 201
    assert_error(register("d@example.com", "NOPE"), 400, "invalid_referral_code")
    assert not get_user_model().objects.filter(email="d@example.com").exists()

    listed = ann_client.get(f"{API}/referrals/").json()
    assert [(row["code"], row["uses"]) for row in listed] == [(code, 2)]
    assert UserStats.objects.get(pk=ann.pk).referrals == 2
    referred = UserStats.objects.filter(referred_by=ann.pk).count()
    assert referred == 2
    steps = {step["step"]: step["users"] for step in services.funnel()["steps"]}
    assert steps == {
        "acquisition": 3,  # ann (first seen as a referrer) and the two new users
        "activation": 0,
        "retention": 0,
        "referral": 1,
        "revenue": 0,
    }
    # Another user's codes are not listed.
    assert bearer_client(make_user("zed")).get(f"{API}/referrals/").json() == []


def test_referral_codes_are_limited(analytics_settings) -> None:
    analytics_settings.TRANSCRIPTION_PLATFORM = {
        **analytics_settings.TRANSCRIPTION_PLATFORM,
        "ANALYTICS_MAX_REFERRAL_CODES": 2,
    }
    client = bearer_client(make_user("ann"))
    assert client.post(f"{API}/referrals/").status_code == 201
    assert client.post(f"{API}/referrals/").status_code == 201
    error = assert_error(client.post(f"{API}/referrals/"), 409, "too_many_referral_codes")
    assert error["details"] == {"limit": 2}
    assert ReferralCode.objects.count() == 2


def test_a_recording_error_never_breaks_the_sender(analytics_settings, monkeypatch, caplog) -> None:
    owner = make_user("gil")
    job = make_transcription(owner, "completed")
    seen = []

    def later_receiver(sender, transcription, **kwargs):
        seen.append(transcription.pk)

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "record_transcription_completed", broken)
    signals.transcription_completed.connect(later_receiver, weak=False)
    try:
        signals.transcription_completed.send(sender=Transcription, transcription=job)
    finally:
        signals.transcription_completed.disconnect(later_receiver)
    assert seen == [job.pk]
    assert "Analytics could not record on_transcription_completed" in caplog.text
    monkeypatch.undo()
    # What the backfill then does: the job is counted once.
    assert services.backfill()["completed"] == 1
    assert UserStats.objects.get(pk=owner.pk).completed == 1
