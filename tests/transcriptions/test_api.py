from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import srt
import webvtt
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from model_bakery import baker

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.storage import stored_files
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.uploads import upload
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

pytestmark = pytest.mark.django_db

URL = f"{API}/transcriptions/"

SEGMENTS = [
    {"id": 0, "start": 0.0, "end": 2.5, "text": "Hello there, team.", "words": []},
    {"id": 1, "start": 2.5, "end": 61.25, "text": "We will ship --> on Friday.", "words": []},
    {"id": 2, "start": 3661.5, "end": 3663.0, "text": "Ünïcödé works.", "words": []},
]


def completed_for(owner, **fields) -> Transcription:
    defaults = {
        "status": TranscriptionStatus.COMPLETED,
        "text": " ".join(s["text"] for s in SEGMENTS),
        "segments": SEGMENTS,
        "original_filename": "meeting.wav",
        "engine": "default",
        "size_bytes": 10,
        "progress": 100,
    }
    return baker.make(Transcription, owner=owner, **{**defaults, **fields})


# --------------------------------------------------------------------------- create


def test_create_returns_201_pending_with_location(auth_client, user, tone_wav, media_root):
    response = upload(auth_client, tone_wav, language="EN", title="Standup", prompt="Acme")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["progress"] == 0
    assert body["language"] == "en"
    assert body["title"] == "Standup"
    assert body["original_filename"] == "tone.wav"
    assert body["duration"] == pytest.approx(6.0, abs=0.05)
    assert response["Location"].endswith(f"{URL}{body['id']}")
    transcription = Transcription.objects.get()
    assert transcription.owner == user
    assert transcription.size_bytes == tone_wav.stat().st_size
    assert transcription.audio_info["channels"] == 2
    # Stored under its own name, not the client's.
    [stored] = stored_files(media_root)
    assert stored.name == f"{transcription.pk}.wav"


def test_create_enqueues_exactly_one_job_in_the_same_transaction(
    auth_client, tone_wav, settings, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    from django_q.conf import Conf

    previous, Conf.SYNC = Conf.SYNC, False
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            response = upload(auth_client, tone_wav)
        assert response.status_code == 201
        # ORM broker: the queue row was written with the transcription row, not after.
        assert OrmQ.objects.count() == 1
        assert not [c for c in callbacks if "push" in getattr(c, "__qualname__", "")]
    finally:
        Conf.SYNC = previous


def test_filename_is_sanitised(auth_client, tone_wav, tmp_path):
    with open(tone_wav, "rb") as handle:
        data = handle.read()
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload_file = SimpleUploadedFile("../../etc/pass\x00wd.wav", data, "audio/wav")
    response = auth_client.post(URL, {"audio_file": upload_file})
    assert response.status_code == 201, response.content
    assert response.json()["original_filename"] == "passwd.wav"


def test_missing_file_is_422(auth_client):
    error = assert_error(auth_client.post(URL, {"language": "en"}), 422, "validation_error")
    assert any(d["field"] == "audio_file" for d in error["details"])


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"", 400, "empty_file"),
        (b"just some text, definitely not audio\n" * 20, 415, "not_audio"),
        # An image: its demuxer is not on the allow-list, so it is "not audio".
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, 415, "not_audio"),
    ],
)
def test_bad_audio_is_refused_and_nothing_is_kept(
    auth_client, tmp_path, media_root, content, status, code
):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(content)
    assert_error(upload(auth_client, bad), status, code)
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []


def test_too_large_is_413(auth_client, tone_wav, media_root):
    with override_settings(TRANSCRIPTION_PLATFORM={"MAX_UPLOAD_BYTES": 1000}):
        error = assert_error(upload(auth_client, tone_wav), 413, "payload_too_large")
    assert error["details"]["max_bytes"] == 1000
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []


def test_declared_content_length_over_the_limit_is_refused_before_reading(auth_client):
    with override_settings(TRANSCRIPTION_PLATFORM={"MAX_UPLOAD_BYTES": 1000}):
        response = auth_client.generic(
            "POST",
            URL,
            b"x" * 10,
            content_type="multipart/form-data; boundary=x",
            CONTENT_LENGTH=str(10**9),
        )
    assert_error(response, 413, "payload_too_large")


def test_too_long_is_400(auth_client, tone_wav, media_root):
    with override_settings(TRANSCRIPTION_PLATFORM={"MAX_DURATION_SECONDS": 5}):
        error = assert_error(upload(auth_client, tone_wav), 400, "audio_too_long")
    assert error["details"]["max_duration"] == 5
    assert stored_files(media_root) == []


def test_unknown_engine_is_400(auth_client, tone_wav):
    error = assert_error(upload(auth_client, tone_wav, engine="nope"), 400, "unknown_engine")
    assert error["details"]["allowed"] == ["default"]


@pytest.mark.parametrize("language", ["english", "e", "12", "en_US!"])
def test_malformed_language_is_400(auth_client, tone_wav, language):
    assert_error(upload(auth_client, tone_wav, language=language), 400, "invalid_language")


def test_unsupported_language_is_400(auth_client, tone_wav):
    engines = {
        "default": {
            "BACKEND": "transcription_platform.engines.fake.FakeEngine",
            "OPTIONS": {"languages": ["en", "fr"]},
        }
    }
    with override_settings(TRANSCRIPTION_PLATFORM={"ENGINES": engines}):
        error = assert_error(upload(auth_client, tone_wav, language="de"), 400)
    assert error["code"] == "unsupported_language"


def test_storage_failure_leaves_no_row(auth_client, tone_wav, media_root, monkeypatch):
    from transcription_platform.transcriptions import tasks

    def broken_queue(transcription):
        raise RuntimeError("queue down")

    monkeypatch.setattr(tasks, "enqueue_transcription", broken_queue)
    auth_client.raise_request_exception = False
    assert_error(upload(auth_client, tone_wav), 500, "internal_error")
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []


def test_idempotency_key_replays_the_original(auth_client, tone_wav, media_root):
    first = upload(auth_client, tone_wav, headers={"Idempotency-Key": "abc-123"})
    second = upload(auth_client, tone_wav, headers={"Idempotency-Key": "abc-123"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Transcription.objects.count() == 1
    assert len(stored_files(media_root)) == 1


def test_idempotency_key_is_per_user_and_expires(auth_client, other_client, tone_wav):
    mine = upload(auth_client, tone_wav, headers={"Idempotency-Key": "k"}).json()
    theirs = upload(other_client, tone_wav, headers={"Idempotency-Key": "k"}).json()
    assert mine["id"] != theirs["id"]
    Transcription.objects.filter(pk=mine["id"]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    fresh = upload(auth_client, tone_wav, headers={"Idempotency-Key": "k"})
    assert fresh.status_code == 201
    assert fresh.json()["id"] != mine["id"]
    assert Transcription.objects.count() == 3


def test_overlong_idempotency_key_is_400(auth_client, tone_wav):
    response = upload(auth_client, tone_wav, headers={"Idempotency-Key": "x" * 256})
    assert_error(response, 400, "invalid_idempotency_key")


@override_settings(TRANSCRIPTION_PLATFORM={"RATE_LIMITS": {"transcription_create": "2/h"}})
def test_create_is_rate_limited_per_user(auth_client, other_client, tone_wav):
    assert upload(auth_client, tone_wav).status_code == 201
    assert upload(auth_client, tone_wav).status_code == 201
    response = upload(auth_client, tone_wav)
    assert_error(response, 429, "rate_limited")
    assert 0 < int(response["Retry-After"]) <= 3600
    assert upload(other_client, tone_wav).status_code == 201
    # Reading keeps the general per-user limit.
    assert auth_client.get(URL).status_code == 200


# --------------------------------------------------------------------------- read


def test_list_shows_only_my_transcriptions_without_transcripts(auth_client, user, other_user):
    completed_for(user, title="mine")
    completed_for(other_user, title="theirs")
    body = auth_client.get(URL).json()
    assert body["count"] == 1
    assert body["next"] is None
    assert body["previous"] is None
    [item] = body["results"]
    assert item["title"] == "mine"
    assert "text" not in item
    assert "segments" not in item


def test_list_pagination_envelope(auth_client, user):
    baker.make(Transcription, owner=user, _quantity=25, engine="default", size_bytes=1)
    first = auth_client.get(URL, {"page_size": 10}).json()
    assert first["count"] == 25
    assert len(first["results"]) == 10
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert "page_size=10" in first["next"]
    last = auth_client.get(URL, {"page_size": 10, "page": 3}).json()
    assert len(last["results"]) == 5
    assert last["next"] is None
    assert "page=2" in last["previous"]
    ids = {
        r["id"]
        for p in (1, 2, 3)
        for r in auth_client.get(URL, {"page_size": 10, "page": p}).json()["results"]
    }
    assert len(ids) == 25  # stable ordering: no item twice, none missing
    assert_error(auth_client.get(URL, {"page": 4, "page_size": 10}), 404, "page_not_found")


def test_page_size_is_capped(auth_client, user):
    baker.make(Transcription, owner=user, _quantity=7, engine="default", size_bytes=1)
    with override_settings(TRANSCRIPTION_PLATFORM={"MAX_PAGE_SIZE": 5, "PAGE_SIZE": 3}):
        assert len(auth_client.get(URL).json()["results"]) == 3
        assert len(auth_client.get(URL, {"page_size": 1000}).json()["results"]) == 5


@pytest.mark.parametrize(
    "query", [{"page": 0}, {"page_size": 0}, {"ordering": "owner"}, {"status": "x"}]
)
def test_bad_list_parameters_are_422(auth_client, query):
    assert_error(auth_client.get(URL, query), 422, "validation_error")


def test_list_filters(auth_client, user):
    now = timezone.now()
    old = completed_for(user, language="fr", title="old")
    Transcription.objects.filter(pk=old.pk).update(
        created_at=now - timedelta(days=10), updated_at=now - timedelta(days=10)
    )
    completed_for(user, detected_language="en", title="english")
    baker.make(
        Transcription, owner=user, status=TranscriptionStatus.FAILED, engine="default", size_bytes=1
    )

    def titles(**query):
        return sorted(r["title"] for r in auth_client.get(URL, query).json()["results"])

    assert titles(status="failed") == [""]
    assert titles(language="fr") == ["old"]
    assert titles(language="EN") == ["english"]
    assert titles(created_before=(now - timedelta(days=1)).isoformat()) == ["old"]
    assert titles(created_after=(now - timedelta(days=1)).isoformat()) == ["", "english"]
    assert titles(updated_since=(now - timedelta(days=1)).isoformat()) == ["", "english"]


def test_list_ordering(auth_client, user):
    for title, duration in [("b", 30.0), ("a", 10.0), ("c", 20.0)]:
        completed_for(user, title=title, duration=duration)

    def order(ordering):
        return [r["title"] for r in auth_client.get(URL, {"ordering": ordering}).json()["results"]]

    assert order("title") == ["a", "b", "c"]
    assert order("-duration") == ["b", "c", "a"]
    assert order("-created_at") == ["c", "a", "b"]


def test_search_title_and_transcript(auth_client, user, other_user):
    completed_for(user, title="Budget review", text="We discussed the quarterly numbers.")
    completed_for(user, title="Standup", text="Alice will fix the login bug by Friday.")
    completed_for(other_user, title="Budget secrets", text="login budget")

    def found(search):
        return sorted(
            r["title"] for r in auth_client.get(URL, {"search": search}).json()["results"]
        )

    assert found("budget") == ["Budget review"]
    assert found("LOGIN bug") == ["Standup"]
    assert found("quarterly numbers") == ["Budget review"]
    assert found("nothing-matches-this") == []


def test_list_query_count_does_not_grow_with_rows(auth_client, user):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert auth_client.get(URL).status_code == 200
        return len(ctx.captured_queries)

    completed_for(user)
    queries_for_list()  # the first call caches the caller and their roles
    one = queries_for_list()
    for _ in range(15):
        completed_for(user)
    assert queries_for_list() == one
    assert one == 2  # count, page (the user is reused: PRINCIPAL_CACHE_SECONDS)


def test_list_does_not_load_transcripts(auth_client, user):
    completed_for(user)
    with CaptureQueriesContext(connection) as ctx:
        auth_client.get(URL)
    page_query = next(q["sql"] for q in ctx.captured_queries if "LIMIT" in q["sql"])
    assert '"segments"' not in page_query
    assert '"text"' not in page_query


def test_detail_has_the_transcript_and_segments(auth_client, user):
    transcription = completed_for(user)
    body = auth_client.get(f"{URL}{transcription.pk}").json()
    assert body["text"] == transcription.text
    assert [s["start"] for s in body["segments"]] == [0.0, 2.5, 3661.5]
    assert body["error"] is None


def test_failed_detail_explains_why(auth_client, user):
    failed = make_transcription(
        user,
        TranscriptionStatus.FAILED,
        error_code="engine_rejected",
        error_message="The engine refused the audio.",
        engine="default",
        size_bytes=1,
    )
    body = auth_client.get(f"{URL}{failed.pk}").json()
    assert body["error"] == {"code": "engine_rejected", "message": "The engine refused the audio."}


# --------------------------------------------------------------------------- isolation


def _endpoints(pk) -> list[tuple[str, str]]:
    return [
        ("get", f"{URL}{pk}"),
        ("delete", f"{URL}{pk}"),
        ("post", f"{URL}{pk}/retry"),
        ("post", f"{URL}{pk}/cancel"),
        ("get", f"{URL}{pk}/export?format=srt"),
        ("get", f"{URL}{pk}/audio"),
    ]


def test_another_users_transcription_is_404_everywhere(auth_client, other_user):
    theirs = completed_for(other_user, status=TranscriptionStatus.FAILED)
    for method, url in _endpoints(theirs.pk):
        assert_error(getattr(auth_client, method)(url), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.status == TranscriptionStatus.FAILED  # untouched


def test_unknown_id_is_404_everywhere(auth_client):
    for method, url in _endpoints(uuid.uuid4()):
        assert_error(getattr(auth_client, method)(url), 404)


def test_unauthenticated_is_401_everywhere(client: Client, user):
    mine = completed_for(user)
    for method, url in [("get", URL), ("post", URL), *_endpoints(mine.pk)]:
        assert_error(getattr(client, method)(url), 401, "not_authenticated")


# --------------------------------------------------------------------------- actions


def test_delete_removes_row_and_file_after_commit(
    auth_client, tone_wav, media_root, django_capture_on_commit_callbacks
):
    pk = upload(auth_client, tone_wav).json()["id"]
    assert len(stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.delete(f"{URL}{pk}").status_code == 204
    assert not Transcription.objects.filter(pk=pk).exists()
    assert stored_files(media_root) == []


def test_retry_only_from_failed(auth_client, user):
    done = completed_for(user)
    assert_error(auth_client.post(f"{URL}{done.pk}/retry"), 409, "illegal_transition")


def test_cancel_pending_then_cancel_again_is_409(auth_client, user):
    pending = baker.make(Transcription, owner=user, engine="default", size_bytes=1)
    response = auth_client.post(f"{URL}{pending.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert_error(auth_client.post(f"{URL}{pending.pk}/cancel"), 409, "illegal_transition")


def test_audio_download_streams_the_original(auth_client, tone_wav):
    pk = upload(auth_client, tone_wav).json()["id"]
    response = auth_client.get(f"{URL}{pk}/audio")
    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == Path(tone_wav).read_bytes()
    assert 'filename="tone.wav"' in response["Content-Disposition"]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=3-9", 3, 9),
        ("bytes=5-", 5, None),
        ("bytes=-4", -4, None),
        ("bytes=2-99999999", 2, None),
    ],
    ids=["closed", "open", "suffix", "past-the-end"],
)
def test_audio_answers_one_byte_range_with_206(auth_client, tone_wav, header, first, last):
    expected = Path(tone_wav).read_bytes()
    size = len(expected)
    pk = upload(auth_client, tone_wav).json()["id"]
    response = auth_client.get(f"{URL}{pk}/audio", headers={"Range": header})
    assert response.status_code == 206
    start = first % size
    end = size - 1 if last is None else last
    assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert int(response["Content-Length"]) == end - start + 1
    assert b"".join(response.streaming_content) == expected[start : end + 1]
    assert 'filename="tone.wav"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-1, 5-9"},  # several ranges: RFC 9110 lets a server send all
        {"Range": "items=0-1"},
        {"Range": "bytes=9-3"},
        {"Range": "bytes=3-9", "If-Range": '"some-etag"'},  # no validator of ours matches
    ],
    ids=["several", "other-unit", "reversed", "if-range"],
)
def test_audio_ignores_a_range_it_cannot_honour_and_sends_the_whole_file(
    auth_client, tone_wav, headers
):
    pk = upload(auth_client, tone_wav).json()["id"]
    response = auth_client.get(f"{URL}{pk}/audio", headers=headers)
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert b"".join(response.streaming_content) == Path(tone_wav).read_bytes()


@pytest.mark.parametrize(
    "header", ["bytes=999999999-", "bytes=-0"], ids=["past-end", "empty-suffix"]
)
def test_an_unsatisfiable_audio_range_is_416_with_the_size(auth_client, tone_wav, header):
    size = Path(tone_wav).stat().st_size
    pk = upload(auth_client, tone_wav).json()["id"]
    response = auth_client.get(f"{URL}{pk}/audio", headers={"Range": header})
    error = assert_error(response, 416, "range_not_satisfiable")
    assert error["details"] == {"size": size}
    assert response["Content-Range"] == f"bytes */{size}"


def test_a_seeking_player_is_audited_once_not_per_range(auth_client, tone_wav):
    from transcription_platform.audit.models import AuditLog
    from transcription_platform.audit.services import flush_deferred_entries

    pk = upload(auth_client, tone_wav).json()["id"]
    for header in ("bytes=0-", "bytes=100-199", "bytes=200-", "bytes=-50"):
        assert auth_client.get(f"{URL}{pk}/audio", headers={"Range": header}).status_code == 206
    flush_deferred_entries()
    assert AuditLog.objects.filter(action="audio_downloaded", object_id=pk).count() == 1


def test_audio_is_served_with_the_probed_type_never_the_uploaders(auth_client, tone_wav):
    from django.core.files.uploadedfile import SimpleUploadedFile

    lying = SimpleUploadedFile("tone.wav", Path(tone_wav).read_bytes(), content_type="text/html")
    created = auth_client.post(URL, {"audio_file": lying})
    assert created.status_code == 201, created.content
    assert created.json()["content_type"] == "text/html"  # kept, as the client said it
    response = auth_client.get(f"{URL}{created.json()['id']}/audio")
    assert response["Content-Type"] == "audio/wav"
    assert response["X-Content-Type-Options"] == "nosniff"


# --------------------------------------------------------------------------- exports


def test_export_srt_parses(auth_client, user):
    transcription = completed_for(user, title="Weekly sync")
    response = auth_client.get(f"{URL}{transcription.pk}/export", {"format": "srt"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-subrip")
    assert response["Content-Disposition"] == 'attachment; filename="Weekly sync.srt"'
    subtitles = list(srt.parse(response.content.decode()))
    assert [s.index for s in subtitles] == [1, 2, 3]
    assert subtitles[1].start.total_seconds() == 2.5
    assert subtitles[1].end.total_seconds() == 61.25
    assert subtitles[2].start.total_seconds() == 3661.5
    assert subtitles[2].content == "Ünïcödé works."


def test_export_vtt_parses(auth_client, user, tmp_path):
    transcription = completed_for(user)
    response = auth_client.get(f"{URL}{transcription.pk}/export", {"format": "vtt"})
    assert response["Content-Type"].startswith("text/vtt")
    path = tmp_path / "out.vtt"
    path.write_bytes(response.content)
    captions = webvtt.read(str(path))
    assert [c.start for c in captions] == ["00:00:00.000", "00:00:02.500", "01:01:01.500"]
    assert captions[0].text == "Hello there, team."


def test_export_txt_and_json(auth_client, user):
    transcription = completed_for(user)
    txt = auth_client.get(f"{URL}{transcription.pk}/export", {"format": "txt"})
    assert txt["Content-Type"] == "text/plain; charset=utf-8"
    assert txt.content.decode().strip() == transcription.text
    data = json.loads(
        auth_client.get(f"{URL}{transcription.pk}/export", {"format": "json"}).content
    )
    assert data["id"] == str(transcription.pk)
    assert data["segments"] == SEGMENTS


def test_export_needs_a_completed_transcript_and_a_known_format(auth_client, user):
    pending = baker.make(Transcription, owner=user, engine="default", size_bytes=1)
    assert_error(auth_client.get(f"{URL}{pending.pk}/export"), 409, "not_completed")
    done = completed_for(user)
    assert_error(auth_client.get(f"{URL}{done.pk}/export", {"format": "docx"}), 422)


def test_export_filename_non_ascii(auth_client, user):
    transcription = completed_for(user, title="Réunion d'équipe")
    response = auth_client.get(f"{URL}{transcription.pk}/export", {"format": "txt"})
    assert "filename*=utf-8''R%C3%A9union" in response["Content-Disposition"]


def test_bearer_client_helper_is_per_user(user, other_user):
    # Guards the fixture the isolation matrix relies on.
    a = bearer_client(user).get(f"{API}/auth/me/").json()["id"]
    b = bearer_client(other_user).get(f"{API}/auth/me/").json()["id"]
    assert a != b


def test_postgres_search_uses_the_gin_index(auth_client, user):
    if connection.vendor != "postgresql":
        pytest.skip("the GIN index exists on PostgreSQL only")
    from django.contrib.postgres.search import SearchQuery

    from transcription_platform.transcriptions.models import SEARCH_CONFIG, search_vector

    completed_for(user, title="Budget review")
    queryset = Transcription.objects.annotate(_search=search_vector()).filter(
        _search=SearchQuery("budget", config=SEARCH_CONFIG, search_type="websearch")
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = queryset.explain()
    assert "tp_tr_search" in plan, plan


def test_owner_detail_needs_no_role_lookup(auth_client, user):
    transcription = completed_for(user, status=TranscriptionStatus.PROCESSING)
    with CaptureQueriesContext(connection) as ctx:
        assert auth_client.get(f"{URL}{transcription.pk}").status_code == 200
    sql = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "auth_permission" not in sql
    assert len(ctx.captured_queries) == 2  # the user (JWT) and the transcription
