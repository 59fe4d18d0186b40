"""The pages in a real browser, as a person uses them: headless Chromium (Debian's
``chromium`` package) driven by Playwright against the live test server.

sign in → a refused upload keeps the form → upload the speech sample → the progress
reaches 100 % → the transcript appears → click the third segment → the audio is at its
start → the highlight follows playback → the SRT download parses → the dashboard shows
the job's minutes. Screenshots of every page at desktop and phone widths are saved in
``TP_SCREENSHOT_DIR`` (default: this test's tmp dir); ``nox -s web`` keeps them as
artifacts and copies them to docs/assets/screenshots/.

Run with ``nox -s web`` or ``pytest -m browser tests/web/test_browser.py``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import srt
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.uploads import SPEECH_SAMPLE
from tests.fixtures.users import PASSWORD

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("TP_CHROMIUM", "/usr/bin/chromium")
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
SPEECH_TEXT = SPEECH_SAMPLE.with_suffix(".txt").read_text().strip()
TIMEOUT_MS = 30_000


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            # Playback starts on a click in a person's browser; the test clicks too, but
            # also starts playback from code to watch the highlight move.
            args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    directory = Path(os.environ.get("TP_SCREENSHOT_DIR") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def site(settings, tmp_path, live_server):
    """The test project as a site with the pages: session auth, a fake engine speaking
    the sample's known text, analysis on, audio in a temporary storage."""
    use_tmp_storage(settings, tmp_path / "media")
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "AUTHENTICATION": [
            "transcription_platform.auth.PlatformAuth",
            "transcription_platform.auth.SessionAuth",
        ],
        "ENGINES": {
            "default": {
                "BACKEND": "transcription_platform.engines.fake.FakeEngine",
                "OPTIONS": {"text": SPEECH_TEXT, "latency": 1.5},
            }
        },
        "RATE_LIMITS": {"transcription_create": None},
    }
    # A realtime stream whose page closed notices at its next keep-alive: make that
    # soon, so no server thread keeps the test database open.
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "EVENTS_KEEPALIVE_SECONDS": 0.5,
    }
    get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD, is_staff=True)
    yield live_server.url
    # The browser is closed: give its streams two keep-alives to notice and let go of
    # their database connections before the test database is flushed or dropped.
    time.sleep(1.0)


def wait_until(page, expression: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Poll ``expression`` until it is truthy. ``page.wait_for_function`` would evaluate
    a string, which the pages' policy (no ``unsafe-eval``) rightly refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {expression}")
        page.wait_for_timeout(100)


def shoot(page, screenshots: Path, name: str) -> None:
    """The page at each width, as ``<name>-desktop.png`` and ``<name>-phone.png``."""
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.wait_for_timeout(150)  # let the layout settle after the resize
        page.screenshot(path=screenshots / f"{name}-{size}.png", full_page=size == "desktop")
    page.set_viewport_size(SIZES["desktop"])


def test_a_person_uploads_listens_reads_and_checks_the_dashboard(
    site, browser, screenshots, tmp_path, settings
):
    # `site` first: Playwright's sync API runs an event loop in this thread, after which
    # Django refuses database calls here (the live server's threads are unaffected).
    context = browser.new_context(viewport=SIZES["desktop"], accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    # Script errors and CSP refusals; not the 4xx the refused upload logs on purpose.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))

    # Sign in: the pages send a signed-out visitor to the sign-in page and back.
    page.goto(f"{site}/app/upload/")
    assert "/app/login/" in page.url
    shoot(page, screenshots, "login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/app/upload/")

    # A file that is not audio, dropped on the zone: the API's error shows next to the
    # file field and the rest of the form keeps what was typed.
    page.get_by_label("Title").fill("Weather and errands")
    page.get_by_label("Language").fill("en")
    page.evaluate(
        """() => {
            const data = new DataTransfer();
            data.items.add(new File(["just some notes"], "notes.txt", {type: "text/plain"}));
            document.getElementById("dropzone").dispatchEvent(
                new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }"""
    )
    assert page.locator("#file-name").inner_text().startswith("notes.txt")
    page.get_by_role("button", name="Upload and transcribe").click()
    audio_error = page.locator("#audio_file-error")
    audio_error.wait_for(state="visible")
    assert audio_error.inner_text()
    assert page.get_by_label("Title").input_value() == "Weather and errands"
    assert page.get_by_label("Language").input_value() == "en"
    assert page.locator("#audio_file").get_attribute("aria-invalid") == "true"

    # Too large for the site: said next to the file field.
    page.locator("#audio_file").set_input_files(str(SPEECH_SAMPLE))
    platform = settings.TRANSCRIPTION_PLATFORM
    settings.TRANSCRIPTION_PLATFORM = {**platform, "MAX_UPLOAD_BYTES": 10_000}
    page.get_by_role("button", name="Upload and transcribe").click()
    page.locator("#audio_file-error", has_text="large").wait_for()

    # Over the monthly quota (billing): not about one field, so said above the form.
    settings.TRANSCRIPTION_PLATFORM = {
        **platform,
        "BILLING_DEFAULT_LIMITS": {"monthly_audio_seconds": 10},
    }
    page.get_by_role("button", name="Upload and transcribe").click()
    form_error = page.locator("#form-error")
    form_error.wait_for(state="visible")
    assert audio_error.is_hidden()
    assert page.get_by_label("Title").input_value() == "Weather and errands"
    settings.TRANSCRIPTION_PLATFORM = platform

    # The real speech sample, through the file picker, with analysis.
    page.get_by_label("Analyse the transcript").check()
    page.get_by_role("button", name="Upload and transcribe").click()
    page.locator("#job-text", has_text="100% — completed").wait_for()
    assert audio_error.is_hidden()
    assert form_error.is_hidden()
    assert page.locator("#upload-progress").evaluate("e => e.value") == 100
    assert page.locator("#job-progress").evaluate("e => e.value") == 100
    shoot(page, screenshots, "upload")

    # The list shows it, searchable.
    page.goto(f"{site}/app/")
    row = page.locator("#jobs tbody tr", has_text="Weather and errands")
    row.wait_for()
    assert "completed" in row.inner_text()
    page.get_by_role("searchbox", name="Search").fill("boat")
    page.locator("#list-summary", has_text="1 transcription").wait_for()
    page.get_by_role("searchbox", name="Search").fill("zeppelin")
    page.locator("#list-summary", has_text="0 transcriptions").wait_for()
    page.get_by_role("searchbox", name="Search").fill("")
    row.wait_for()
    shoot(page, screenshots, "transcriptions")

    # The reader: the transcript appears, segment by segment.
    row.get_by_role("link").click()
    segments = page.locator("#segments .segment")
    segments.nth(2).wait_for()
    audio = page.locator("#audio")
    wait_until(page, "document.getElementById('audio').readyState >= 1")
    starts = [float(s) for s in segments.evaluate_all("els => els.map(e => e.dataset.start)")]
    assert len(starts) >= 4

    # Click the third segment: the audio is at its start and it is highlighted.
    segments.nth(2).click()
    position = audio.evaluate("a => a.currentTime")
    assert starts[2] <= position < starts[2] + 0.5, (position, starts)
    assert "current" in segments.nth(2).get_attribute("class")

    # Playback moves the highlight on: from just before the fourth segment, it follows.
    audio.evaluate("(a, t) => { a.currentTime = t; return a.play(); }", starts[3] - 0.6)
    wait_until(
        page,
        "document.querySelectorAll('#segments .segment')[3].classList.contains('current')",
        timeout=10,
    )
    assert audio.evaluate("a => a.currentTime") >= starts[3]
    assert audio.evaluate("a => a.paused") is False
    assert "current" not in segments.nth(2).get_attribute("class")

    # Keyboard: Space pauses outside text fields, arrows move between segments.
    page.locator("#reader-title").click()
    page.keyboard.press("Space")
    assert audio.evaluate("a => a.paused") is True
    segments.nth(0).focus()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.index") == "1"
    assert starts[1] <= audio.evaluate("a => a.currentTime") < starts[1] + 0.5

    # Search within the transcript marks the words.
    page.get_by_label("Find").fill("bread")
    page.locator("#search-count", has_text="1 segment").wait_for()
    assert page.locator("#segments mark").first.inner_text().lower() == "bread"
    page.get_by_label("Find").fill("")

    # The analysis panel, with action items that jump to their place in the audio.
    page.locator("#analysis-body").wait_for()
    assert page.locator("#summary").inner_text()
    jump = page.locator("#action-items button").first
    if jump.count():
        jump.click()
        assert audio.evaluate("a => a.currentTime") > 0
    shoot(page, screenshots, "reader")

    # Download the SRT: it parses, one entry per segment, starting where they start.
    page.locator(".downloads summary").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="SRT").click()
    srt_path = tmp_path / "transcript.srt"
    download_info.value.save_as(srt_path)
    subtitles = list(srt.parse(srt_path.read_text()))
    assert len(subtitles) == len(starts)
    assert [round(s.start.total_seconds(), 1) for s in subtitles] == [round(s, 1) for s in starts]
    assert "boat" in " ".join(s.content for s in subtitles)

    # The dashboard counts the job's minutes.
    transcription_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    duration = page.evaluate(
        "id => fetch('/rest/api/v1/transcriptions/' + id).then(r => r.json())",
        transcription_id,
    )["duration"]
    page.goto(f"{site}/app/dashboard/")
    assert page.locator("#total-minutes").inner_text() == f"{duration / 60:.2f}"
    assert page.locator("#engines tbody tr", has_text="default").count() == 1
    shoot(page, screenshots, "dashboard")

    assert problems == []
    docs = os.environ.get("TP_DOCS_SCREENSHOT_DIR")
    if docs:
        for shot in screenshots.glob("*.png"):
            shutil.copy(shot, Path(docs) / shot.name)
    context.close()


def in_thread(work):
    """Run ORM ``work`` in a thread of its own: Playwright's event loop in the test's
    thread makes Django refuse database calls there."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # re-raised in the test's thread
            outcome["error"] = error
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture
def pending_job(site):
    owner = get_user_model().objects.get(username="alice")
    return make_transcription(owner, "pending", title="Board meeting", engine="default")


def test_the_list_and_the_reader_follow_a_job_without_a_reload(site, pending_job, browser):
    from transcription_platform.transcriptions import services

    job = pending_job
    context = browser.new_context(viewport=SIZES["desktop"])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{site}/app/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    row = page.locator("#jobs tbody tr", has_text="Board meeting")
    row.locator(".status", has_text="pending").wait_for()

    def start() -> None:
        services.start_processing(job.pk)
        services.set_progress(job.pk, 40)

    # With the realtime streams installed the page follows the user's event stream
    # (and polls only if the stream is closed); without them it polls.
    streams = page.evaluate("JSON.parse(document.getElementById('page-config').textContent)")
    if streams["events"]:
        deadline = time.monotonic() + 10
        while not any("/events?token=" in url for url in requested):
            assert time.monotonic() < deadline, f"no event stream opened: {requested}"
            page.wait_for_timeout(100)
    in_thread(start)
    row.locator(".status", has_text="processing 40%").wait_for()
    assert row.locator("progress").evaluate("e => e.value") == 40

    row.get_by_role("link").click()
    page.locator("#status-detail", has_text="40%").wait_for()
    assert page.locator("#retry").is_hidden()
    assert page.locator("#cancel").is_visible()
    segments = [
        {"id": n, "start": n * 2.0, "end": n * 2.0 + 2, "text": f"Part {n}."} for n in range(3)
    ]

    def finish() -> None:
        type(job).objects.filter(pk=job.pk).update(
            status="completed",
            progress=100,
            text=" ".join(s["text"] for s in segments),
            segments=segments,
            duration=6.0,
            completed_at=timezone.now(),
        )

    in_thread(finish)
    page.locator("#status", has_text="completed").wait_for()
    page.locator("#segments .segment", has_text="Part 2.").wait_for()
    assert page.locator("#cancel").is_hidden()

    # Cancel and delete ask first; "Keep it" keeps it.
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Keep it").click()
    assert in_thread(lambda: type(job).objects.filter(pk=job.pk).exists())
    page.get_by_role("button", name="Delete").click()
    page.locator("#confirm-ok").click()
    page.wait_for_url(f"{site}/app/")
    assert not in_thread(lambda: type(job).objects.filter(pk=job.pk).exists())
    context.close()


@pytest.fixture
def queued(settings):
    """Jobs wait in django-q2's queue (no worker here) instead of running in the request,
    so the test moves them along itself."""
    from django_q.conf import Conf

    previous = Conf.SYNC
    Conf.SYNC = False
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    yield
    Conf.SYNC = previous


def test_the_upload_page_follows_a_queued_job_to_the_end(site, queued, browser):
    from transcription_platform.transcriptions import services

    context = browser.new_context(viewport=SIZES["desktop"])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{site}/app/login/?next=/app/upload/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site}/app/upload/")
    page.locator("#audio_file").set_input_files(str(SPEECH_SAMPLE))
    page.get_by_role("button", name="Upload and transcribe").click()
    job_text = page.locator("#job-text")
    job_text.filter(has_text="pending").wait_for()
    assert page.locator("#upload-progress").evaluate("e => e.value") == 100
    assert page.locator("#job-done").is_hidden()

    def latest() -> object:
        from transcription_platform.transcriptions.models import Transcription

        return Transcription.objects.filter(owner__username="alice").latest("created_at")

    job = in_thread(latest)
    in_thread(lambda: services.start_processing(job.pk))
    in_thread(lambda: services.set_progress(job.pk, 55))
    job_text.filter(has_text="55%").wait_for()
    assert page.locator("#job-progress").evaluate("e => e.value") == 55
    in_thread(lambda: services.fail(job.pk, "engine_rejected", "The engine refused it."))
    job_text.filter(has_text="failed: The engine refused it.").wait_for()
    page.get_by_role("link", name="See the job").click()
    # The badge is in the page's HTML; the detail comes from the API.
    page.locator("#status-detail", has_text="The engine refused it.").wait_for()
    assert page.locator("#status").inner_text() == "failed"

    # Retry (confirmed): the job is pending again, and the page follows it.
    page.get_by_role("button", name="Retry").click()
    page.locator("#confirm-ok").click()
    page.locator("#status", has_text="pending").wait_for()
    assert page.locator("#cancel").is_visible()
    page.get_by_role("button", name="Cancel").click()
    page.locator("#confirm-ok").click()
    page.locator("#status", has_text="cancelled").wait_for()
    context.close()
