"""The official ``openai`` SDK against a live server of the test project (WSGI).

Results are compared with what the REST API returns for the same transcription.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openai
import pytest
from django.test import Client

from tests.fixtures.api import API, bearer_client
from tests.fixtures.audio import write_audio

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _small_chunks(settings):
    # Several chunks per file: streaming sends one delta per chunk.
    settings.TRANSCRIPTION_PLATFORM = {**settings.TRANSCRIPTION_PLATFORM, "CHUNK_SECONDS": 2.5}


@pytest.fixture
def audio(tmp_path) -> Path:
    """7 s: tone, a pause, tone, a pause, tone (the fake engine hears a word per 0.5 s)."""
    return write_audio(
        tmp_path / "speech.wav", [(2.0, 440), (0.6, None), (2.0, 550), (0.6, None), (2.0, 660)]
    )


def rest(user, path: str):
    response = bearer_client(user).get(f"{API}/transcriptions/{path}")
    assert response.status_code == 200, response.content
    return response


def create(sdk, audio: Path, **kwargs):
    """The SDK call through ``with_raw_response``: (parsed result, transcription id)."""
    with open(audio, "rb") as handle:
        raw = sdk.audio.transcriptions.with_raw_response.create(
            model="whisper-1", file=handle, **kwargs
        )
    return raw.parse(), raw.headers["x-transcription-id"]


def test_json_is_the_rest_transcript(sdk, audio, user):
    result, pk = create(sdk, audio)
    detail = rest(user, pk).json()
    assert detail["status"] == "completed"
    assert result.text == detail["text"]
    assert result.text.split()  # the fake engine heard words


@pytest.mark.parametrize(
    ("response_format", "export"), [("text", "txt"), ("srt", "srt"), ("vtt", "vtt")]
)
def test_text_formats_equal_the_rest_export(sdk, audio, user, response_format, export):
    result, pk = create(sdk, audio, response_format=response_format)
    assert isinstance(result, str)
    exported = rest(user, f"{pk}/export?format={export}").content.decode()
    assert result == exported


def test_verbose_json_segments_and_words(sdk, audio, user):
    result, pk = create(
        sdk, audio, response_format="verbose_json", timestamp_granularities=["word", "segment"]
    )
    detail = rest(user, pk).json()
    assert result.text == detail["text"]
    assert result.duration == pytest.approx(detail["duration"])
    assert result.language == "en"
    assert [(s.start, s.end, s.text) for s in result.segments] == [
        (s["start"], s["end"], s["text"]) for s in detail["segments"]
    ]
    assert [(w.start, w.end, w.word) for w in result.words] == [
        (w["start"], w["end"], w["text"]) for s in detail["segments"] for w in s["words"]
    ]


def test_verbose_json_granularity_word_only(sdk, audio):
    result, _pk = create(
        sdk, audio, response_format="verbose_json", timestamp_granularities=["word"]
    )
    assert result.words
    assert result.segments is None


def test_verbose_json_defaults_to_segments(sdk, audio):
    result, _pk = create(sdk, audio, response_format="verbose_json")
    assert result.segments
    assert result.words is None


def test_stream_sends_a_delta_per_chunk_then_done(sdk, audio, user):
    with open(audio, "rb") as handle:
        events = list(sdk.audio.transcriptions.create(model="whisper-1", file=handle, stream=True))
    types = [event.type for event in events]
    assert types[-1] == "transcript.text.done"
    deltas = [event.delta for event in events if event.type == "transcript.text.delta"]
    assert len(deltas) == len(types) - 1 >= 2  # several chunks, one delta each
    (pk,) = [t["id"] for t in bearer_client(user).get(f"{API}/transcriptions/").json()["results"]]
    text = rest(user, pk).json()["text"]
    assert events[-1].text == text
    assert "".join(deltas) == text


def test_async_client(live_url, api_key, audio, user):
    async def run():
        async with openai.AsyncOpenAI(
            base_url=f"{live_url}/v1", api_key=api_key, max_retries=0
        ) as client:
            with open(audio, "rb") as handle:
                return await client.audio.transcriptions.create(
                    model="whisper-1", file=handle, response_format="srt"
                )

    srt = asyncio.run(run())
    (pk,) = [t["id"] for t in bearer_client(user).get(f"{API}/transcriptions/").json()["results"]]
    assert srt == rest(user, f"{pk}/export?format=srt").content.decode()


def test_idempotency_key_replays_the_same_transcription(sdk, audio, user):
    headers = {"Idempotency-Key": "sdk-retry-1"}
    _, first = create(sdk, audio, extra_headers=headers)
    _, second = create(sdk, audio, extra_headers=headers)
    assert first == second
    assert bearer_client(user).get(f"{API}/transcriptions/").json()["count"] == 1


def test_models(sdk):
    assert [model.id for model in sdk.models.list()] == ["whisper-1"]
    assert sdk.models.retrieve("whisper-1").id == "whisper-1"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o-transcribe")


# --------------------------------------------------------------------------- errors


def error_of(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


def test_unknown_model_is_a_400(sdk, audio):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.transcriptions.create(model="whisper-2", file=audio)
    error = error_of(caught.value)
    assert (error["code"], error["param"], error["type"]) == (
        "model_not_found",
        "model",
        "invalid_request_error",
    )


def test_wrong_key_is_a_401(live_url, audio):
    with openai.OpenAI(base_url=f"{live_url}/v1", api_key="tp_0123456789ab_wrong") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            client.audio.transcriptions.create(model="whisper-1", file=audio)
        assert error_of(caught.value)["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            client.models.list()


def test_jwt_access_token_works_as_api_key(live_url, user, audio):
    from ninja_jwt.tokens import RefreshToken

    token = str(RefreshToken.for_user(user).access_token)
    with openai.OpenAI(base_url=f"{live_url}/v1", api_key=token, max_retries=0) as client:
        assert client.audio.transcriptions.create(model="whisper-1", file=audio).text


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [(b"this is not audio at all", 415, "not_audio"), (b"", 400, "empty_file")],
)
def test_bad_file(sdk, tmp_path, content, status, code):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(content)
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=bad)
    assert caught.value.status_code == status
    assert error_of(caught.value)["code"] == code


def test_too_large_is_a_413(sdk, audio, settings):
    settings.TRANSCRIPTION_PLATFORM = {**settings.TRANSCRIPTION_PLATFORM, "MAX_UPLOAD_BYTES": 1000}
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.audio.transcriptions.create(model="whisper-1", file=audio)
    assert caught.value.status_code == 413
    assert error_of(caught.value)["code"] == "payload_too_large"


def test_rate_limit_is_a_429_with_retry_after(sdk, audio, settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "RATE_LIMITS": {"transcription_create": "1/h"},
    }
    create(sdk, audio)
    with pytest.raises(openai.RateLimitError) as caught:
        create(sdk, audio)
    assert int(caught.value.response.headers["retry-after"]) > 0
    assert error_of(caught.value)["type"] == "rate_limit_error"


@pytest.fixture
def no_worker():
    """Jobs are queued but nothing runs them: transcriptions stay pending."""
    from django_q.conf import Conf

    previous = Conf.SYNC
    Conf.SYNC = False
    yield
    Conf.SYNC = previous


def test_too_long_wait_is_a_408_carrying_the_id(sdk, audio, user, settings, no_worker):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "OPENAI_COMPAT_WAIT_SECONDS": 0.3,
    }
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.with_options(max_retries=2).audio.transcriptions.create(model="whisper-1", file=audio)
    response = caught.value.response
    assert response.status_code == 408
    assert response.headers["x-should-retry"] == "false"  # no key: a retry would re-upload
    error = error_of(caught.value)
    assert error["code"] == "transcription_timeout"
    detail = rest(user, error["transcription_id"]).json()
    assert detail["status"] == "pending"
    assert bearer_client(user).get(f"{API}/transcriptions/").json()["count"] == 1


def test_too_long_wait_with_a_key_lets_the_sdk_retry_the_same_job(
    sdk, audio, user, settings, no_worker
):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "OPENAI_COMPAT_WAIT_SECONDS": 0.2,
    }
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.with_options(max_retries=1).audio.transcriptions.create(
            model="whisper-1", file=audio, extra_headers={"Idempotency-Key": "k-408"}
        )
    assert caught.value.response.headers["x-should-retry"] == "true"
    # The SDK retried once: the key replayed the same transcription, no second upload.
    assert bearer_client(user).get(f"{API}/transcriptions/").json()["count"] == 1


def test_stream_past_the_wait_ends_with_an_error_event(sdk, audio, settings, no_worker):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "OPENAI_COMPAT_WAIT_SECONDS": 0.3,
    }
    with pytest.raises(openai.APIError) as caught:
        list(sdk.audio.transcriptions.create(model="whisper-1", file=audio, stream=True))
    assert caught.value.code == "transcription_timeout"


def test_failed_transcription_is_a_422_not_retried(sdk, audio, user, settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "ENGINES": {
            "default": {
                "BACKEND": "transcription_platform.engines.fake.FakeEngine",
                "OPTIONS": {"failures": ["permanent"] * 10},
            }
        },
    }
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        sdk.with_options(max_retries=2).audio.transcriptions.create(model="whisper-1", file=audio)
    assert caught.value.response.headers["x-should-retry"] == "false"
    error = error_of(caught.value)
    assert error["code"] == "transcription_failed"
    assert rest(user, error["transcription_id"]).json()["status"] == "failed"
    assert bearer_client(user).get(f"{API}/transcriptions/").json()["count"] == 1


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": "whisper\x00-1"}, "model"),
        ({"model": "whisper-1", "response_format": "xml"}, "response_format"),
        ({"model": "whisper-1", "temperature": "hot"}, "temperature"),
        ({"model": "whisper-1", "temperature": "1e309"}, "temperature"),
        ({"model": "whisper-1", "temperature": "nan"}, "temperature"),
        ({"model": "whisper-1", "stream": "maybe"}, "stream"),
        ({"model": "whisper-1", "timestamp_granularities[]": "char"}, "timestamp_granularities"),
        ({"model": "whisper-1", "timestamp_granularities[]": "word"}, "timestamp_granularities"),
        ({"model": "whisper-1", "include[]": "everything"}, "include"),
        ({"model": "whisper-1", "language": "x" * 10_000}, "language"),
        ({"model": "whisper-1", "prompt": "p" * 100_000}, "prompt"),
        ({"model": "m" * 100_000}, "model"),
        ({}, "model"),
    ],
)
def test_hostile_fields_are_400s(api_key, audio, fields, param):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    with open(audio, "rb") as handle:
        response = client.post("/v1/audio/transcriptions", {**fields, "file": handle})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"


def test_missing_file_and_non_multipart_bodies(api_key):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    url = "/v1/audio/transcriptions"
    for response in (
        client.post(url, {"model": "whisper-1"}),
        client.post(url, {"model": "whisper-1"}, content_type="application/json"),
        client.post(url, b"--x\r\nbroken", content_type="multipart/form-data; boundary=x"),
        client.post(url, b"\xff\x00", content_type="multipart/form-data"),
    ):
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] in ("missing_file", "bad_request")


def test_methods_and_unknown_paths_answer_in_openai_shape(api_key):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    response = client.get("/v1/audio/transcriptions")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    for path in ("/v1/audio/speech", "/v1/chat/completions", "/v1/%0a"):
        response = client.post(path)
        assert response.status_code == 404
        assert json.loads(response.content)["error"]["type"] == "not_found_error"


# --------------------------------------------------------------------------- translations


def test_translations_without_a_translating_engine_are_400(sdk, audio):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.translations.create(model="whisper-1", file=audio)
    assert error_of(caught.value)["code"] == "translation_not_supported"


def test_translations_mapped_to_a_transcribing_engine_are_400(sdk, audio, settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "OPENAI_COMPAT_TRANSLATION_MODELS": {"whisper-1": None},
    }
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.audio.translations.create(model="whisper-1", file=audio)
    assert error_of(caught.value)["code"] == "translation_not_supported"


def test_translations_with_a_translating_engine(sdk, audio, user, settings):
    fake = "transcription_platform.engines.fake.FakeEngine"
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "ENGINES": {
            "default": {"BACKEND": fake, "OPTIONS": {}},
            "translator": {"BACKEND": fake, "OPTIONS": {"task": "translate"}},
        },
        "OPENAI_COMPAT_TRANSLATION_MODELS": {"whisper-1": "translator"},
    }
    with open(audio, "rb") as handle:
        raw = sdk.audio.translations.with_raw_response.create(
            model="whisper-1", file=handle, response_format="verbose_json"
        )
    result = raw.parse()
    detail = rest(user, raw.headers["x-transcription-id"]).json()
    assert detail["engine"] == "translator"
    assert result.text == detail["text"]
    assert json.loads(raw.text)["task"] == "translate"
    assert sorted(m.id for m in sdk.models.list()) == ["whisper-1"]


def test_a_mapping_to_a_missing_engine_is_a_500_not_retried(sdk, audio, settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "OPENAI_COMPAT_MODELS": {"whisper-1": "nope"},
    }
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.with_options(max_retries=2).audio.transcriptions.create(model="whisper-1", file=audio)
    assert caught.value.response.headers["x-should-retry"] == "false"
    error = error_of(caught.value)
    assert (error["code"], error["type"]) == ("configuration_error", "server_error")
    assert "OPENAI_COMPAT_MODELS" in error["message"]
    with pytest.raises(openai.InternalServerError):
        sdk.models.list()
