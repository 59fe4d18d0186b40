"""The staff dashboard's figures, from a known history: jobs, billed usage, the queue,
worker heartbeats, and days counted in the site's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone
from model_bakery import baker

from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.users import make_user
from transcription_platform.web import charts
from transcription_platform.web.dashboard import dashboard_context

pytestmark = pytest.mark.django_db

USAGE = "transcription_platform_billing.UsageRecord"


def usage(at: datetime, *, seconds: str = "0", cost: str, step: str = "transcription") -> None:
    baker.make(
        USAGE,
        step=step,
        audio_seconds=Decimal(seconds),
        cost=Decimal(cost),
        currency="USD",
        created_at=at,
        object_type="transcription",
    )


@pytest.fixture
def history(user):
    now = timezone.now()
    make_transcription(
        user,
        "completed",
        engine="default",
        duration=120.0,
        started_at=now - timedelta(seconds=90),
        completed_at=now - timedelta(seconds=60),
    )
    make_transcription(
        user,
        "completed",
        engine="fast",
        duration=60.0,
        started_at=now - timedelta(seconds=50),
        completed_at=now - timedelta(seconds=35),
    )
    make_transcription(user, "failed", engine="default", error_code="engine_rejected")
    make_transcription(user, "failed", engine="fast", error_code="engine_rejected")
    make_transcription(user, "failed", engine="fast", error_code="invalid_audio")
    waiting = make_transcription(user, "pending", engine="default")
    waiting.created_at = now - timedelta(minutes=10)
    waiting.save()
    make_transcription(user, "processing", engine="default")
    usage(now, seconds="120", cost="0.012")
    usage(now, seconds="60", cost="0.006")
    usage(now, cost="0.0015", step="analysis")  # tokens: cost, no audio minutes
    usage(now - timedelta(days=45), seconds="600", cost="1")  # outside the 30 days
    baker.make("transcription_platform_health.WorkerHeartbeat", cluster="a", last_seen=now)
    baker.make(
        "transcription_platform_health.WorkerHeartbeat",
        cluster="b",
        last_seen=now - timedelta(hours=1),
    )


@pytest.fixture
def staff(db):
    return make_user("staffer", is_staff=True)


def test_every_figure_of_a_known_history(history, staff):
    context = dashboard_context(staff, days=30)
    assert context["jobs"] == {"total": 7, "completed": 2, "failed": 3}
    assert context["usage"]["total_minutes"] == 3.0
    assert context["usage"]["total_cost"] == Decimal("0.0195")
    assert context["usage"]["currency"] == "USD"
    assert len(context["usage"]["rows"]) == 30
    today = context["usage"]["rows"][-1]
    assert today["day"] == timezone.localdate()
    assert (today["minutes"], today["cost"]) == (3.0, Decimal("0.0195"))
    engines = {row["engine"]: row for row in context["engines"]}
    assert engines["fast"] == {
        "engine": "fast",
        "jobs": 3,
        "completed": 1,
        "failed": 2,
        "audio_seconds": 60.0,
        "processing_seconds": 15.0,
        "success_rate": 1 / 3,
        "real_time_factor": 0.25,
        "audio_minutes": 1.0,
    }
    assert engines["default"]["jobs"] == 4  # + the pending and the processing job
    assert engines["default"]["real_time_factor"] == 0.25
    assert engines["default"]["success_rate"] == 0.5
    queue = context["queue"]
    assert (queue["waiting"], queue["running"]) == (1, 1)
    assert 600 <= queue["oldest_waiting_seconds"] < 660
    assert queue["failures_by_code"] == [
        {"code": "engine_rejected", "count": 2},
        {"code": "invalid_audio", "count": 1},
    ]
    assert [(b["cluster"], b["fresh"]) for b in context["heartbeats"]] == [
        ("a", True),
        ("b", False),
    ]


def test_days_are_the_sites_days(settings, user, staff):
    settings.TIME_ZONE = "America/New_York"
    local = timezone.localdate() - timedelta(days=2)
    # 23:30 in New York is already the next day in UTC.
    late_evening = datetime(
        local.year, local.month, local.day, 23, 30, tzinfo=ZoneInfo(settings.TIME_ZONE)
    )
    usage(late_evening, seconds="90", cost="0.5")
    rows = {row["day"]: row for row in dashboard_context(staff, days=7)["usage"]["rows"]}
    assert rows[local]["minutes"] == 1.5
    assert rows[local + timedelta(days=1)]["minutes"] == 0


def test_the_page_shows_them(history, user):
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    body = client.get("/app/dashboard/").content.decode()
    assert '<dd id="total-minutes">3.00</dd>' in body
    assert "<code>engine_rejected</code></th><td>2</td>" in body
    # Minutes and cost; the funnel too with the analytics app.
    assert body.count('<svg class="chart"') == 2
    funnel = apps.is_installed("transcription_platform.analytics")
    assert body.count('<svg class="chart bars"') == funnel


def test_a_billing_user_sees_it_a_member_does_not():
    billing, member = make_user("bill", "billing"), make_user("mem")
    for person, status in ((billing, 200), (member, 404)):
        client = Client()
        client.force_login(person)
        assert client.get("/app/dashboard/").status_code == status


def test_charts_scale_to_a_round_maximum_and_escape_titles():
    assert [charts.nice_ceiling(v) for v in (0, 0.3, 1, 3, 7, 12, 2400)] == [
        1.0, 0.5, 1.0, 5.0, 10.0, 20.0, 2500.0,
    ]  # fmt: skip
    days = [timezone.localdate() - timedelta(days=n) for n in (2, 1, 0)]
    bars = charts.time_series(days, [1, 0, 4], title="<b>minutes</b>")
    assert bars.count('<rect class="series bar"') == 3
    assert "<b>" not in bars
    assert "&lt;b&gt;minutes&lt;/b&gt;" in bars
    line = charts.time_series(days, [1, 0, 4], title="cost", kind="line")
    assert line.count("<circle") == 3
    assert "<polyline" in line
    funnel = charts.horizontal_bars([("Signed up", 10), ("Activated", 4)], title="Funnel")
    assert funnel.count("<rect") == 2
    assert funnel.startswith('<svg class="chart bars"')


def test_with_the_analytics_app_the_funnel_and_cohorts_of_a_known_history(user, other_user, staff):
    if not apps.is_installed("transcription_platform.analytics"):
        pytest.skip("the analytics app is not installed in the test project")
    from transcription_platform.analytics import services as analytics

    now = timezone.now()
    for person in (user, other_user):
        analytics.record_signup(person, at=now - timedelta(hours=2))
    done = make_transcription(
        user,
        "completed",
        engine="default",
        duration=60.0,
        started_at=now - timedelta(seconds=40),
        completed_at=now - timedelta(seconds=10),
    )
    analytics.record_transcription_completed(done)

    context = dashboard_context(staff, days=30)["analytics"]
    tiles = {tile["label"]: tile["value"] for tile in context["tiles"]}
    assert tiles["Sign-ups"] == 2
    assert tiles["Activation"] == "50%"
    steps = {step["step"]: step["users"] for step in context["funnel"]}
    assert (steps["acquisition"], steps["activation"]) == (2, 1)
    (cohort,) = context["retention"]["rows"]
    assert cohort["size"] == 2
    assert cohort["cells"][-1] == {"rate": 100.0, "level": 4}  # both active this week
    (engine,) = context["engines"]
    assert (engine["engine"], engine["jobs"], engine["minutes"]) == ("default", 1, 1.0)
    assert engine["real_time_factor"] == 0.5

    analyst = make_user("ana", "analyst")
    client = Client()
    client.force_login(analyst)
    body = client.get("/app/dashboard/").content.decode()
    assert 'id="funnel"' in body
    assert 'id="cohorts"' in body
    assert '<td class="heat heat-4">100%</td>' in body

    # The billing role opens the dashboard but not the analytics endpoints: nor their
    # figures here.
    billing = make_user("bill", "billing")
    assert dashboard_context(billing)["analytics"] is None
    client.force_login(billing)
    body = client.get("/app/dashboard/").content.decode()
    assert 'id="funnel"' not in body
    assert "Sign-ups" not in body


@pytest.mark.parametrize(
    ("query", "days"), [("", 30), ("?days=7", 7), ("?days=90", 90), ("?days=5", 30)]
)
def test_the_period_is_7_30_or_90_days(query, days, user):
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    response = client.get(f"/app/dashboard/{query}")
    assert response.context["period"]["days"] == days
    assert len(response.context["usage"]["rows"]) == days
    assert f'<a href="?days={days}" aria-current="page">' in response.content.decode()
