"""The demo's client against the real API (live server, sync tasks, fake engine).

The full demo (runserver + qcluster + faster-whisper) is ``nox -s demo -- --once``;
these tests cover its client and helpers fast and in-process.
"""

from __future__ import annotations

import importlib.util
import io
import socket
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http.multipartparser import MultiPartParser

from tests.fixtures.example_project import PROJECT_DIR

SAMPLE = PROJECT_DIR.parent / "samples" / "speech_en.ogg"


def _load_demo():
    spec = importlib.util.spec_from_file_location("example_demo", PROJECT_DIR / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through here
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


class TestMultipart:
    def test_django_parses_what_the_demo_sends(self, tmp_path: Path) -> None:
        audio = tmp_path / "clip.ogg"
        audio.write_bytes(b"OggS\x00\x02binary\r\n--not-a-boundary\xff")
        body, content_type = demo.encode_multipart(
            "audio_file", audio, {"language": "en", "title": "Démo: ünïcode"}
        )
        meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body))}
        fields, files = MultiPartParser(meta, io.BytesIO(body), [MemoryFileUploadHandler()]).parse()
        assert fields["language"] == "en"
        assert fields["title"] == "Démo: ünïcode"
        upload = files["audio_file"]
        assert upload.name == "clip.ogg"
        assert upload.content_type == "audio/ogg"
        assert upload.read() == audio.read_bytes()


class TestWordErrorRate:
    def test_identical_text_ignoring_case_and_punctuation(self) -> None:
        assert demo.word_error_rate("Hello, world.", "hello world") == 0.0

    def test_one_substitution_in_four_words(self) -> None:
        assert demo.word_error_rate("the cat sat down", "the hat sat down") == 0.25

    def test_insertions_and_deletions_count(self) -> None:
        assert demo.word_error_rate("a b c", "a c") == pytest.approx(1 / 3)
        assert demo.word_error_rate("a b", "a x b y") == 1.0

    def test_empty_reference_does_not_divide_by_zero(self) -> None:
        assert demo.word_error_rate("", "words") == 1.0


class TestHelpers:
    def test_free_port_keeps_a_free_preferred_port(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        assert demo.free_port(port) == port

    def test_free_port_replaces_a_busy_one(self) -> None:
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            other = demo.free_port(port)
        assert other != port
        assert other > 0

    def test_committed_sample_is_found_with_its_reference(self) -> None:
        path, reference = demo.find_sample(None)
        assert path == SAMPLE
        assert reference
        assert reference.split()[0] == "The"

    def test_missing_sample_is_a_clear_error(self, tmp_path: Path) -> None:
        with pytest.raises(demo.DemoError, match="is not a file"):
            demo.find_sample(tmp_path / "nope.wav")

    def test_unexpected_answer_is_a_clear_error(self) -> None:
        response = demo.Response(502, {}, b"<html>Bad gateway</html>")
        with pytest.raises(demo.DemoError, match="unexpected answer \\(HTTP 502\\)"):
            response.data("id")
        assert demo.explain(response).startswith("HTTP 502: ")

    def test_api_errors_are_explained_with_code_and_message(self) -> None:
        body = b'{"error": {"code": "not_found", "message": "Not found.", "details": null}}'
        assert demo.explain(demo.Response(404, {}, body)) == "HTTP 404 not_found: Not found."


@pytest.fixture
def demo_user(transactional_db):
    return get_user_model().objects.create_user(
        username=demo.DEMO_USERNAME, email=demo.DEMO_EMAIL, password=demo.DEMO_PASSWORD
    )


@pytest.mark.usefixtures("demo_user")
class TestClientAgainstTheApi:
    def test_login_upload_follow_and_report(self, live_server, capsys) -> None:
        client = demo.Client(live_server.url)
        demo.login(client)
        job_id = demo.upload(client, SAMPLE)
        job = demo.follow(client, job_id, children=[], timeout=60)
        assert job["status"] == "completed"
        demo.report(client, live_server.url, job, SAMPLE, reference=None)
        out = capsys.readouterr().out
        assert "POST /rest/api/v1/auth/login/ -> 200" in out
        assert f"id {job_id}" in out
        assert "completed" in out
        assert job["text"].strip() in out
        assert "00:00:00,000 -->" in out  # the SRT export
        assert f"{live_server.url}/rest/api/v1/docs" in out

    def test_wrong_password_is_reported_not_raised(self, live_server) -> None:
        client = demo.Client(live_server.url)
        response = client.post_json(
            "/rest/api/v1/auth/login/", {"email": demo.DEMO_EMAIL, "password": "wrong"}
        )
        assert response.status == 400
        assert demo.explain(response).startswith("HTTP 400 ")

    def test_upload_without_login_fails_clearly(self, live_server) -> None:
        client = demo.Client(live_server.url)
        with pytest.raises(demo.DemoError, match="upload failed: HTTP 401 not_authenticated"):
            demo.upload(client, SAMPLE)
