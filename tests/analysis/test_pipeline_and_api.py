"""The analysis step of the pipeline and its API, in django-q2 sync mode.

Transcripts come from the FakeEngine (a fixed meeting text); analyses from the real
ExtractiveAnalyzer, or the real OpenAIAnalyzer against the local OpenAI-compatible
server for provider failures, retries, keys and token usage.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.fixtures.api import API, assert_error
from tests.fixtures.audio import write_audio
from tests.fixtures.openai_chat import VALID, completion
from tests.fixtures.storage import use_tmp_storage
from tests.openai_server import CHAT_COMPLETIONS, error_json
from transcription_platform import signals
from transcription_platform.analysis import services, tasks
from transcription_platform.analysis.models import Analysis, AnalysisStatus
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

pytestmark = pytest.mark.django_db

FAKE_ENGINE = "transcription_platform.engines.fake.FakeEngine"
OPENAI_ENGINE = "transcription_platform.engines.openai.OpenAIEngine"
EXTRACTIVE = "transcription_platform.analysis.analyzers.extractive.ExtractiveAnalyzer"
OPENAI_ANALYZER = "transcription_platform.analysis.analyzers.openai.OpenAIAnalyzer"

MEETING = (
    "Welcome to the launch planning call. The launch moves to June because the audit "
    "is late. Ana will update the launch checklist by Friday. The launch checklist "
    "covers the audit and the launch venue. That is all, thank you."
)


def platform(**extra) -> dict:
    """Test settings: the FakeEngine says MEETING, the offline analyzer is the default."""
    return {
        "ENGINES": {"default": {"BACKEND": FAKE_ENGINE, "OPTIONS": {"text": MEETING}}},
        "ANALYZERS": {
            "default": {"BACKEND": EXTRACTIVE, "OPTIONS": {}},
            "offline": {"BACKEND": EXTRACTIVE, "OPTIONS": {"summary_sentences": 1}},
        },
        "TASK_RETRY_BACKOFF_SECONDS": 0,
        **extra,
    }


def gpt(server, **options) -> dict:
    """An OpenAIAnalyzer entry for the local server; the pipeline does the retrying."""
    return {
        "BACKEND": OPENAI_ANALYZER,
        "OPTIONS": {
            "base_url": server.base_url,
            "api_key": "sk-site",
            "timeout": 5,
            "max_retries": 0,
            **options,
        },
    }


@pytest.fixture(autouse=True)
def test_settings(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    use_tmp_storage(settings, tmp_path / "media")
    settings.TRANSCRIPTION_PLATFORM = platform()
    return settings


@pytest.fixture
def wav(tmp_path):
    return write_audio(tmp_path / "meeting.wav", [(3.0, 440), (1.0, None), (2.0, 660)])


@pytest.fixture
def sent():
    """Analysis signals sent during the test, with their arguments."""
    received: list[tuple[str, dict]] = []
    receivers = {}
    for name in ("analysis_completed", "analysis_failed"):

        def receiver(sender, _name=name, **kwargs):
            received.append((_name, kwargs))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver, weak=False)
    yield received
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


@pytest.fixture
def transcribe(auth_client, wav, django_capture_on_commit_callbacks):
    """Upload ``wav`` as the user and run the whole pipeline (sync mode, on commit)."""

    def run(client=auth_client, **fields) -> Transcription:
        with django_capture_on_commit_callbacks(execute=True), open(wav, "rb") as handle:
            response = client.post(f"{API}/transcriptions/", {"audio_file": handle, **fields})
        assert response.status_code == 201, response.content
        return Transcription.objects.get(pk=response.json()["id"])

    return run


@pytest.fixture
def post_analysis(auth_client, django_capture_on_commit_callbacks):
    def run(transcription, client=auth_client, **body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"{API}/transcriptions/{transcription.pk}/analysis",
                body,
                content_type="application/json",
            )

    return run


def analysis_of(transcription) -> Analysis | None:
    return Analysis.objects.filter(transcription=transcription).first()


# --------------------------------------------------------------------------- when it runs


def test_analyze_true_on_upload_runs_the_analysis(transcribe, auth_client, sent):
    transcription = transcribe(analyze="true")

    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.analyze is True
    analysis = analysis_of(transcription)
    assert analysis.status == AnalysisStatus.COMPLETED
    assert (analysis.analyzer, analysis.model, analysis.attempts) == (
        "default",
        "extractive-v1",
        1,
    )
    assert analysis.summary
    assert analysis.summary in MEETING
    assert analysis.topics[0]["label"]
    [item] = analysis.action_items
    assert item["owner"] == "Ana"
    assert item["due"] == "Friday"
    assert "checklist" in item["text"]
    assert 0 <= item["start"] <= 6
    assert (analysis.input_tokens, analysis.output_tokens) == (0, 0)
    assert [name for name, _ in sent] == ["analysis_completed"]
    assert sent[0][1]["analysis"].pk == analysis.pk
    assert sent[0][1]["transcription"].pk == transcription.pk

    body = auth_client.get(f"{API}/transcriptions/{transcription.pk}/analysis").json()
    assert body["status"] == "completed"
    assert body["transcription_id"] == str(transcription.pk)
    assert body["summary"] == analysis.summary
    assert body["action_items"][0]["owner"] == "Ana"
    assert body["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert body["error"] is None


@pytest.mark.parametrize(
    ("site", "user_choice", "request_choice", "expected"),
    [
        (False, None, None, False),  # nothing asks for it
        (True, None, None, True),  # site default
        (False, True, None, True),  # the user's setting beats the site's
        (True, False, None, False),
        (False, False, "true", True),  # the request beats the user's setting
        (True, True, "false", False),
    ],
)
def test_who_decides_whether_to_analyse(
    transcribe, auth_client, settings, site, user_choice, request_choice, expected
):
    settings.TRANSCRIPTION_PLATFORM = platform(ANALYSIS_ENABLED=site)
    if user_choice is not None:
        response = auth_client.patch(
            f"{API}/settings/", {"analysis_enabled": user_choice}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
    fields = {} if request_choice is None else {"analyze": request_choice}

    transcription = transcribe(**fields)

    assert transcription.status == TranscriptionStatus.COMPLETED
    assert services.should_analyze(transcription) is expected
    analysis = analysis_of(transcription)
    if expected:
        assert analysis.status == AnalysisStatus.COMPLETED
    else:
        assert analysis is None
        response = auth_client.get(f"{API}/transcriptions/{transcription.pk}/analysis")
        assert_error(response, 404, "analysis_not_found")


def test_invalid_analyze_field_is_a_422(auth_client, wav):
    with open(wav, "rb") as handle:
        response = auth_client.post(
            f"{API}/transcriptions/", {"audio_file": handle, "analyze": "perhaps"}
        )
    assert_error(response, 422, "validation_error")
    assert not Transcription.objects.exists()


# --------------------------------------------------------------------------- failures


def test_failing_analyzer_keeps_the_transcript(
    transcribe, auth_client, settings, openai_server, sent
):
    settings.TRANSCRIPTION_PLATFORM = platform(ANALYZERS={"default": gpt(openai_server)})
    openai_server.enqueue(
        CHAT_COMPLETIONS, status=401, json=error_json("Incorrect API key", code="invalid_api_key")
    )

    transcription = transcribe(analyze="true")

    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.error_code == ""
    assert MEETING.split()[0] in transcription.text
    analysis = analysis_of(transcription)
    assert analysis.status == AnalysisStatus.FAILED
    assert analysis.error_code == "analysis_auth_failed"
    assert analysis.error_message
    assert [name for name, _ in sent] == ["analysis_failed"]
    assert sent[0][1]["error_code"] == "analysis_auth_failed"

    detail = auth_client.get(f"{API}/transcriptions/{transcription.pk}").json()
    assert detail["status"] == "completed"
    assert detail["text"] == transcription.text
    body = auth_client.get(f"{API}/transcriptions/{transcription.pk}/analysis").json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "analysis_auth_failed"


def test_a_misconfigured_analyzer_fails_the_analysis_not_the_transcript(transcribe, settings):
    settings.TRANSCRIPTION_PLATFORM = platform(
        ANALYZERS={"default": {"BACKEND": EXTRACTIVE, "OPTIONS": {"summary_sentencez": 2}}}
    )

    transcription = transcribe(analyze="true")

    assert Transcription.objects.get(pk=transcription.pk).status == TranscriptionStatus.COMPLETED
    analysis = analysis_of(transcription)
    assert (analysis.status, analysis.error_code) == ("failed", "configuration_error")
    assert "summary_sentencez" in analysis.error_message


def test_invalid_output_twice_fails_with_its_code_and_bills_the_tokens(
    transcribe, settings, openai_server
):
    settings.TRANSCRIPTION_PLATFORM = platform(ANALYZERS={"default": gpt(openai_server)})
    openai_server.enqueue(
        CHAT_COMPLETIONS, json=completion("not json", prompt_tokens=50, completion_tokens=3)
    )
    openai_server.enqueue(
        CHAT_COMPLETIONS, json=completion('{"summary": 1}', prompt_tokens=70, completion_tokens=4)
    )

    transcription = transcribe(analyze="true")

    analysis = analysis_of(transcription)
    assert (analysis.status, analysis.error_code) == ("failed", "analysis_invalid_output")
    assert (analysis.input_tokens, analysis.output_tokens) == (120, 7)
    assert Transcription.objects.get(pk=transcription.pk).status == TranscriptionStatus.COMPLETED


def test_retryable_error_then_success(transcribe, settings, openai_server):
    settings.TRANSCRIPTION_PLATFORM = platform(ANALYZERS={"default": gpt(openai_server)})
    openai_server.enqueue(CHAT_COMPLETIONS, status=429, json=error_json("slow down"))
    openai_server.enqueue(
        CHAT_COMPLETIONS, json=completion(VALID, prompt_tokens=400, completion_tokens=60)
    )

    transcription = transcribe(analyze="true")

    analysis = analysis_of(transcription)
    assert analysis.status == AnalysisStatus.COMPLETED
    assert analysis.attempts == 2
    assert analysis.error_code == ""
    assert analysis.summary == VALID["summary"]
    assert analysis.model == "gpt-4o-mini"
    assert analysis.action_items[0]["owner"] == "Ana"
    assert (analysis.input_tokens, analysis.output_tokens) == (400, 60)
    assert len(openai_server.requests_to(CHAT_COMPLETIONS)) == 2


def test_retry_after_is_honoured_by_a_scheduled_retry(
    transcribe, settings, openai_server, django_capture_on_commit_callbacks
):
    from django_q.brokers import get_broker
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    settings.TRANSCRIPTION_PLATFORM = platform(ANALYZERS={"default": gpt(openai_server)})
    openai_server.enqueue(
        CHAT_COMPLETIONS, status=503, json=error_json("busy"), headers={"Retry-After": "42"}
    )
    before = timezone.now()

    transcription = transcribe(analyze="true")

    # No worker sleeps through the 42 s: the analysis waits, pending, for a one-off schedule.
    analysis = analysis_of(transcription)
    assert (analysis.status, analysis.attempts) == ("pending", 1)
    assert analysis.error_code == "analysis_unavailable"
    [retry] = Schedule.objects.filter(func=tasks.TASK)
    assert retry.func == tasks.TASK
    assert retry.schedule_type == Schedule.ONCE
    assert retry.next_run >= before + timedelta(seconds=42)
    assert len(openai_server.requests_to(CHAT_COMPLETIONS)) == 1

    # django-q2's scheduler (as qcluster runs it) starts the retry once it is due.
    Schedule.objects.filter(pk=retry.pk).update(next_run=timezone.now() - timedelta(seconds=1))
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))
    with django_capture_on_commit_callbacks(execute=True):
        scheduler(broker=get_broker())

    analysis.refresh_from_db()
    assert (analysis.status, analysis.attempts) == ("completed", 2)
    assert not Schedule.objects.filter(pk=retry.pk).exists()


def test_retryable_errors_exhaust_attempts(transcribe, settings, openai_server):
    settings.TRANSCRIPTION_PLATFORM = platform(
        ANALYZERS={"default": gpt(openai_server)}, TASK_MAX_ATTEMPTS=3
    )
    openai_server.enqueue(CHAT_COMPLETIONS, status=500, json=error_json("boom"), times=5)

    transcription = transcribe(analyze="true")

    analysis = analysis_of(transcription)
    assert (analysis.status, analysis.attempts) == ("failed", 3)
    assert analysis.error_code == "analysis_unavailable"
    assert "after 3 attempts" in analysis.error_message
    assert len(openai_server.requests_to(CHAT_COMPLETIONS)) == 3


def test_a_redelivered_task_or_signal_does_not_run_again(
    transcribe, settings, openai_server, django_capture_on_commit_callbacks
):
    settings.TRANSCRIPTION_PLATFORM = platform(ANALYZERS={"default": gpt(openai_server)})
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))
    transcription = transcribe(analyze="true")
    assert analysis_of(transcription).status == AnalysisStatus.COMPLETED

    tasks.analyze_transcription(str(transcription.pk))
    with django_capture_on_commit_callbacks(execute=True):
        signals.transcription_completed.send(sender=Transcription, transcription=transcription)

    assert len(openai_server.requests_to(CHAT_COMPLETIONS)) == 1
    assert analysis_of(transcription).attempts == 1


# --------------------------------------------------------------------------- keys and tokens


def test_token_usage_and_schema_end_to_end(transcribe, auth_client, settings, openai_server):
    settings.TRANSCRIPTION_PLATFORM = platform(ANALYZERS={"default": gpt(openai_server)})
    openai_server.enqueue(
        CHAT_COMPLETIONS, json=completion(VALID, prompt_tokens=1234, completion_tokens=56)
    )

    transcription = transcribe(analyze="true")

    [request] = openai_server.requests_to(CHAT_COMPLETIONS)
    assert request.headers["authorization"] == "Bearer sk-site"
    assert request.json["response_format"]["json_schema"]["strict"] is True
    assert "Ana will update the launch checklist" in request.json["messages"][1]["content"]
    body = auth_client.get(f"{API}/transcriptions/{transcription.pk}/analysis").json()
    assert body["usage"] == {"input_tokens": 1234, "output_tokens": 56}
    assert body["model"] == "gpt-4o-mini"
    assert body["topics"][0] == {"label": "launch date", "relevance": 0.9}


def openai_everywhere(server, analyzer_base_url: str) -> dict:
    """The OpenAI engine and analyzer; the analyzer at ``analyzer_base_url``."""
    return platform(
        ENGINES={
            "default": {
                "BACKEND": OPENAI_ENGINE,
                "OPTIONS": {"base_url": server.base_url, "api_key": "sk-site"},
            }
        },
        ANALYZERS={"default": gpt(server, base_url=analyzer_base_url)},
    )


def test_owner_key_goes_to_an_analyzer_of_the_same_provider(
    transcribe, auth_client, settings, openai_server
):
    settings.TRANSCRIPTION_PLATFORM = openai_everywhere(openai_server, openai_server.base_url)
    response = auth_client.patch(
        f"{API}/settings/", {"api_key": "sk-owner-0123456789"}, content_type="application/json"
    )
    assert response.status_code == 200
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))

    transcription = transcribe(analyze="true")

    assert analysis_of(transcription).status == AnalysisStatus.COMPLETED
    [request] = openai_server.requests_to(CHAT_COMPLETIONS)
    assert request.headers["authorization"] == "Bearer sk-owner-0123456789"


def test_owner_key_is_not_sent_to_another_provider(
    transcribe, auth_client, settings, openai_server
):
    # Same server, another base URL: to the library another provider.
    other = openai_server.base_url.replace("127.0.0.1", "localhost")
    settings.TRANSCRIPTION_PLATFORM = openai_everywhere(openai_server, other)
    auth_client.patch(
        f"{API}/settings/", {"api_key": "sk-owner-0123456789"}, content_type="application/json"
    )
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))

    transcription = transcribe(analyze="true")

    assert analysis_of(transcription).status == AnalysisStatus.COMPLETED
    [request] = openai_server.requests_to(CHAT_COMPLETIONS)
    assert request.headers["authorization"] == "Bearer sk-site"


def test_a_rejected_owner_key_says_so(transcribe, auth_client, settings, openai_server):
    settings.TRANSCRIPTION_PLATFORM = openai_everywhere(openai_server, openai_server.base_url)
    auth_client.patch(
        f"{API}/settings/", {"api_key": "sk-owner-0123456789"}, content_type="application/json"
    )
    openai_server.enqueue(CHAT_COMPLETIONS, status=401, json=error_json("Incorrect API key"))

    transcription = transcribe(analyze="true")

    analysis = analysis_of(transcription)
    assert (analysis.status, analysis.error_code) == ("failed", "user_api_key_rejected")
    assert "sk-owner" not in analysis.error_message


# --------------------------------------------------------------------------- API


def test_rerun_after_failure_with_another_analyzer(
    transcribe, auth_client, settings, openai_server, post_analysis, sent
):
    settings.TRANSCRIPTION_PLATFORM = platform(
        ANALYZERS={
            "default": gpt(openai_server),
            "offline": {"BACKEND": EXTRACTIVE, "OPTIONS": {}},
        }
    )
    openai_server.enqueue(CHAT_COMPLETIONS, status=403, json=error_json("forbidden"))
    transcription = transcribe(analyze="true")
    assert analysis_of(transcription).status == AnalysisStatus.FAILED

    response = post_analysis(transcription, analyzer="offline")

    assert response.status_code == 202, response.content
    accepted = response.json()
    assert (accepted["status"], accepted["analyzer"], accepted["error"]) == (
        "pending",
        "offline",
        None,
    )
    analysis = analysis_of(transcription)
    assert (analysis.status, analysis.analyzer, analysis.attempts) == ("completed", "offline", 1)
    assert analysis.action_items[0]["owner"] == "Ana"
    assert (analysis.error_code, analysis.input_tokens) == ("", 0)
    assert [name for name, _ in sent] == ["analysis_failed", "analysis_completed"]


def test_rerun_of_a_completed_analysis_without_a_body(
    transcribe, auth_client, settings, openai_server, django_capture_on_commit_callbacks
):
    settings.TRANSCRIPTION_PLATFORM = platform(ANALYZERS={"default": gpt(openai_server)})
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID, prompt_tokens=10))
    transcription = transcribe(analyze="true")
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID, prompt_tokens=20))

    with django_capture_on_commit_callbacks(execute=True):
        # No body at all: the analyzer is optional.
        response = auth_client.generic("POST", f"{API}/transcriptions/{transcription.pk}/analysis")

    assert response.status_code == 202, response.content
    analysis = analysis_of(transcription)
    assert (analysis.status, analysis.analyzer, analysis.input_tokens) == (
        "completed",
        "default",
        20,  # this run's tokens; the first run's were reported when it completed
    )


def test_unknown_analyzer_is_a_400(transcribe, post_analysis):
    transcription = transcribe()

    response = post_analysis(transcription, analyzer="nope")

    error = assert_error(response, 400, "unknown_analyzer")
    assert error["details"]["allowed"] == ["default", "offline"]
    assert analysis_of(transcription) is None


def test_analysis_needs_a_completed_transcript(user, post_analysis, transcribe):
    transcription = transcribe()
    Transcription.objects.filter(pk=transcription.pk).update(status=TranscriptionStatus.PROCESSING)

    response = post_analysis(transcription)

    error = assert_error(response, 409, "not_completed")
    assert error["details"] == {"status": "processing"}
    assert analysis_of(transcription) is None


def test_a_pending_analysis_is_not_requested_twice(transcribe, auth_client):
    transcription = transcribe()
    # Not run: no on-commit callbacks are executed here, so it stays pending.
    services.request_analysis(transcription)

    response = auth_client.post(
        f"{API}/transcriptions/{transcription.pk}/analysis", content_type="application/json"
    )
    assert_error(response, 409, "analysis_in_progress")

    # One whose worker or enqueue was lost long ago may be requested again.
    Analysis.objects.filter(transcription=transcription).update(
        updated_at=timezone.now() - timedelta(hours=2)
    )
    response = auth_client.post(
        f"{API}/transcriptions/{transcription.pk}/analysis", content_type="application/json"
    )
    assert response.status_code == 202, response.content


def test_other_users_analysis_is_a_404(transcribe, other_client, post_analysis):
    transcription = transcribe(analyze="true")
    url = f"{API}/transcriptions/{transcription.pk}/analysis"

    assert_error(other_client.get(url), 404, "not_found")
    assert_error(post_analysis(transcription, client=other_client), 404, "not_found")
    analysis = analysis_of(transcription)
    assert (analysis.attempts, analysis.status) == (1, "completed")  # not re-run
    unknown = f"{API}/transcriptions/00000000-0000-4000-8000-000000000000/analysis"
    assert_error(other_client.get(unknown), 404, "not_found")


def test_anonymous_is_a_401(transcribe, client):
    transcription = transcribe(analyze="true")
    response = client.get(f"{API}/transcriptions/{transcription.pk}/analysis")
    assert_error(response, 401, "not_authenticated")


def test_json_export_includes_the_analysis(transcribe, auth_client):
    plain = transcribe()
    analysed = transcribe(analyze="true")

    def export(transcription):
        url = f"{API}/transcriptions/{transcription.pk}/export?format=json"
        response = auth_client.get(url)
        assert response.status_code == 200
        return json.loads(response.content)

    assert "analysis" not in export(plain)
    data = export(analysed)["analysis"]
    assert data["status"] == "completed"
    assert data["analyzer"] == "default"
    assert data["action_items"][0]["owner"] == "Ana"
    assert data["summary"] == analysis_of(analysed).summary
    assert data["usage"] == {"input_tokens": 0, "output_tokens": 0}


def test_deleting_the_transcription_deletes_its_analysis(transcribe, auth_client):
    transcription = transcribe(analyze="true")
    assert auth_client.delete(f"{API}/transcriptions/{transcription.pk}").status_code == 204
    assert not Analysis.objects.exists()


def test_routes_do_not_shadow_each_other(transcribe, auth_client):
    transcription = transcribe(analyze="true")
    base = f"{API}/transcriptions/{transcription.pk}"
    assert auth_client.get(base).json()["id"] == str(transcription.pk)
    assert auth_client.get(f"{base}/analysis").json()["transcription_id"] == str(transcription.pk)
    schema = auth_client.get(f"{API}/openapi.json").json()
    operations = schema["paths"]["/rest/api/v1/transcriptions/{transcription_id}/analysis"]
    assert set(operations) == {"get", "post"}
    assert {"202", "400", "404", "409"} <= set(operations["post"]["responses"])


# --------------------------------------------------------------------------- admin


def test_admin_shows_the_analysis(transcribe, admin_client):
    transcription = transcribe(analyze="true")
    analysis = analysis_of(transcription)

    page = admin_client.get(
        f"/admin/transcription_platform_transcriptions/transcription/{transcription.pk}/change/"
    )
    assert page.status_code == 200
    content = page.content.decode()
    assert "Ana will update the launch checklist by Friday." in content
    assert "extractive-v1" in content

    listing = admin_client.get("/admin/transcription_platform_analysis/analysis/")
    assert listing.status_code == 200
    detail = admin_client.get(
        f"/admin/transcription_platform_analysis/analysis/{analysis.pk}/change/"
    )
    assert detail.status_code == 200
    assert "Friday" in detail.content.decode()


def test_a_support_admin_reading_or_rerunning_someones_analysis_is_audited(
    transcribe, post_analysis
):
    from tests.fixtures.api import bearer_client
    from tests.fixtures.users import make_user
    from transcription_platform.audit.models import AuditLog
    from transcription_platform.roles import ADMIN

    transcription = transcribe(analyze="true")
    admin = make_user("support", ADMIN)
    admin_client = bearer_client(admin)
    url = f"{API}/transcriptions/{transcription.pk}/analysis"

    assert admin_client.get(url).status_code == 200
    assert post_analysis(transcription, client=admin_client).status_code == 202

    entries = AuditLog.objects.filter(actor=admin, object_type=Analysis._meta.label_lower)
    assert sorted(entries.values_list("action", flat=True)) == ["retried", "viewed"]
    for entry in entries:
        assert entry.object_id == str(analysis_of(transcription).pk)
        assert entry.meta["owner_id"] == transcription.owner_id
