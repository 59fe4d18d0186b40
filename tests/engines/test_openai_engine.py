"""OpenAIEngine with the real openai SDK over real HTTP against tests/openai_server.py."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import pytest

from tests.fixtures.audio import write_audio
from tests.openai_server import TRANSCRIPTIONS, error_json
from transcription_platform.engines import PermanentEngineError, RetryableEngineError
from transcription_platform.engines.audio import AudioClip, probe
from transcription_platform.engines.base import StopTranscribing
from transcription_platform.engines.languages import normalize_language
from transcription_platform.engines.openai import OpenAIEngine, retry_after_seconds
from transcription_platform.exceptions import ConfigurationError

VERBOSE = {
    "task": "transcribe",
    "language": "english",
    "duration": 6.0,
    "text": "Hello world. Second part here.",
    "segments": [
        {"id": 0, "start": 0.0, "end": 2.5, "text": " Hello world."},
        {"id": 1, "start": 3.0, "end": 5.9, "text": " Second part here."},
    ],
    "words": [
        {"word": "Hello", "start": 0.1, "end": 0.6},
        {"word": "world.", "start": 0.7, "end": 1.4},
        {"word": "Second", "start": 3.1, "end": 3.6},
        {"word": "part", "start": 3.7, "end": 4.2},
        {"word": "here.", "start": 4.3, "end": 5.0},
    ],
    "usage": {"type": "duration", "seconds": 6},
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> AudioClip:
    path = tmp_path_factory.mktemp("oa") / "six.wav"
    write_audio(path, [(1.0, None), (4.0, 440.0), (1.0, None)])
    return AudioClip(str(path))


def engine(server, **options) -> OpenAIEngine:
    return OpenAIEngine(
        alias="remote", base_url=server.base_url, api_key="sk-configured", **options
    )


def test_verbose_json_success_and_multipart_body(openai_server, clip):
    openai_server.enqueue(TRANSCRIPTIONS, json=VERBOSE)
    result = engine(openai_server).transcribe(clip, language="en", prompt="Glossary: Zoë")
    assert result.text == "Hello world. Second part here."
    assert result.language == "en"  # "english" normalised
    # Segments are narrowed to their words' span (Whisper pads them with silence).
    assert [(s.id, s.start, s.end, s.text) for s in result.segments] == [
        (0, 0.1, 1.4, "Hello world."),
        (1, 3.1, 5.0, "Second part here."),
    ]
    assert [w.text for w in result.segments[1].words] == ["Second", "part", "here."]
    assert result.usage.audio_seconds == 6.0
    assert result.model == "whisper-1"

    (request,) = openai_server.requests_to(TRANSCRIPTIONS)
    assert request.headers["authorization"] == "Bearer sk-configured"
    assert request.fields["model"] == "whisper-1"
    assert request.fields["language"] == "en"
    assert request.fields["prompt"] == "Glossary: Zoë"
    assert request.fields["response_format"] == "verbose_json"
    assert request.fields["timestamp_granularities"] == ["segment", "word"]
    upload = request.files["file"]
    assert upload.filename == "chunk.mp3"
    assert upload.content_type == "audio/mpeg"
    # The upload is real audio of the clip: 16 kHz mono mp3 of the same length.
    info = probe(io.BytesIO(upload.data))
    assert (info.codec, info.channels, info.sample_rate) == ("mp3float", 1, 16_000)
    assert info.duration == pytest.approx(6.0, abs=0.1)


def test_progress_is_reported_when_the_request_returns(openai_server, clip):
    openai_server.enqueue(TRANSCRIPTIONS, json=VERBOSE)
    seen: list[float] = []
    engine(openai_server).transcribe(clip, progress=seen.append)
    assert seen == [1.0]  # one request per clip: nothing to report before it answers


def test_json_only_model(openai_server, clip):
    openai_server.enqueue(
        TRANSCRIPTIONS,
        json={
            "text": "Bonjour tout le monde.",
            "usage": {"type": "tokens", "input_tokens": 61, "output_tokens": 7},
        },
    )
    eng = engine(openai_server, model="gpt-4o-mini-transcribe", upload_format="ogg")
    assert eng.word_timestamps is False
    result = eng.transcribe(clip, language="fr")
    assert result.text == "Bonjour tout le monde."
    assert result.language == "fr"
    (segment,) = result.segments
    assert (segment.start, segment.end) == (0.0, 6.0)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (61, 7)
    (request,) = openai_server.requests
    assert request.fields["response_format"] == "json"
    assert "timestamp_granularities" not in request.fields
    assert request.files["file"].data[:4] == b"OggS"
    assert request.files["file"].content_type == "audio/ogg"


def test_per_call_api_key_wins(openai_server, clip):
    engine(openai_server).transcribe(clip, api_key="sk-user-own")
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-user-own"


def test_no_api_key_at_all_is_permanent(openai_server, clip, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    eng = OpenAIEngine(base_url=openai_server.base_url)
    with pytest.raises(PermanentEngineError) as info:
        eng.transcribe(clip)
    assert info.value.code == "engine_auth_failed"
    assert openai_server.requests == []


def test_429_with_retry_after_is_retryable(openai_server, clip):
    openai_server.enqueue(
        TRANSCRIPTIONS, 429, json=error_json("Rate limit reached"), headers={"Retry-After": "7"}
    )
    with pytest.raises(RetryableEngineError) as info:
        engine(openai_server).transcribe(clip)
    error = info.value
    assert error.code == "engine_rate_limited"
    assert error.retry_after == 7.0
    assert error.provider_status == 429
    assert error.engine == "remote"
    assert "Rate limit reached" in error.message
    assert len(openai_server.requests) == 1  # no hidden SDK retries


def test_429_out_of_quota_is_permanent(openai_server, clip):
    openai_server.enqueue(
        TRANSCRIPTIONS,
        429,
        json=error_json(
            "You exceeded your current quota", "insufficient_quota", "insufficient_quota"
        ),
    )
    with pytest.raises(PermanentEngineError) as info:
        engine(openai_server).transcribe(clip)
    assert info.value.code == "engine_quota_exceeded"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(openai_server, clip, status):
    openai_server.enqueue(
        TRANSCRIPTIONS, status, json=error_json("upstream trouble", "server_error")
    )
    with pytest.raises(RetryableEngineError) as info:
        engine(openai_server).transcribe(clip)
    assert info.value.code == "engine_unavailable"
    assert info.value.retry_after is None


def test_401_is_permanent(openai_server, clip):
    openai_server.enqueue(TRANSCRIPTIONS, 401, json=error_json("Incorrect API key provided"))
    with pytest.raises(PermanentEngineError) as info:
        engine(openai_server).transcribe(clip)
    assert info.value.code == "engine_auth_failed"
    assert info.value.provider_status == 401


def test_400_is_permanent_with_the_provider_message(openai_server, clip):
    openai_server.enqueue(
        TRANSCRIPTIONS, 400, json=error_json("Audio file might be corrupted or unsupported")
    )
    with pytest.raises(PermanentEngineError) as info:
        engine(openai_server).transcribe(clip)
    assert info.value.code == "engine_bad_request"
    assert "corrupted or unsupported" in info.value.message


def test_timeout_is_retryable(openai_server, clip):
    openai_server.enqueue(TRANSCRIPTIONS, json=VERBOSE, delay=1.5)
    with pytest.raises(RetryableEngineError) as info:
        engine(openai_server, timeout=0.3).transcribe(clip)
    assert info.value.code == "engine_timeout"


def stopping_progress(after: float) -> tuple[list[float], Callable[[float], None]]:
    """A progress callback that raises StopTranscribing once ``after`` seconds passed
    (as the pipeline's does once the job is cancelled); the reports it heard."""
    heard: list[float] = []
    deadline = time.monotonic() + after

    def progress(fraction: float) -> None:
        heard.append(fraction)
        if time.monotonic() >= deadline:
            raise StopTranscribing("cancelled")

    return heard, progress


def test_a_stopped_request_is_no_longer_waited_for(openai_server, clip):
    openai_server.enqueue(TRANSCRIPTIONS, json=VERBOSE, delay=10)
    heard, progress = stopping_progress(0.3)
    started = time.monotonic()
    with pytest.raises(StopTranscribing):
        engine(openai_server).transcribe(clip, progress=progress)
    # Stopped at the first poll after the stop (0.5 s), not when the provider answers.
    assert time.monotonic() - started < 5
    assert set(heard) == {0.0}
    assert len(openai_server.requests_to(TRANSCRIPTIONS)) == 1


def test_a_request_waited_for_with_progress_answers_and_fails_as_without(openai_server, clip):
    openai_server.enqueue(TRANSCRIPTIONS, json=VERBOSE, delay=1.2)
    heard: list[float] = []
    result = engine(openai_server).transcribe(clip, progress=heard.append)
    assert result.text == VERBOSE["text"]
    assert heard[-1] == 1.0
    assert set(heard[:-1]) == {0.0}  # polled while it waited
    openai_server.enqueue(TRANSCRIPTIONS, json=VERBOSE, delay=1.5)
    with pytest.raises(RetryableEngineError) as info:
        engine(openai_server, timeout=0.3).transcribe(clip, progress=heard.append)
    assert info.value.code == "engine_timeout"


def test_connection_refused_is_retryable(clip):
    eng = OpenAIEngine(base_url="http://127.0.0.1:9/v1", api_key="k", timeout=2)
    with pytest.raises(RetryableEngineError) as info:
        eng.transcribe(clip)
    assert info.value.code == "engine_connection_error"


def test_unsupported_language_never_reaches_the_provider(openai_server, clip):
    eng = engine(openai_server, languages=["en", "fr"])
    with pytest.raises(PermanentEngineError) as info:
        eng.transcribe(clip, language="de")
    assert info.value.code == "unsupported_language"
    assert openai_server.requests == []


def test_chunk_over_the_upload_limit_is_permanent(openai_server, clip):
    with pytest.raises(PermanentEngineError) as info:
        engine(openai_server, upload_format="wav", max_upload_bytes=50_000).transcribe(clip)
    assert info.value.code == "chunk_too_large"
    assert openai_server.requests == []


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "12"}) == 12.0
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_unusable_audio_is_permanent_and_never_uploaded(openai_server, tmp_path):
    bogus = tmp_path / "notes.mp3"
    bogus.write_text("meeting notes, not a recording\n" * 10)
    with pytest.raises(PermanentEngineError) as info:
        engine(openai_server).transcribe(AudioClip(str(bogus)))
    assert info.value.code == "not_audio"
    assert openai_server.requests == []


@pytest.mark.parametrize(
    ("option", "value"), [("response_format", "srt"), ("upload_format", "aiff")]
)
def test_bad_options_are_configuration_errors(option, value):
    with pytest.raises(ConfigurationError, match=option):
        OpenAIEngine(alias="bad", **{option: value})


@pytest.mark.parametrize(
    ("given", "expected"),
    [("english", "en"), ("English", "en"), ("en", "en"), ("en-US", "en"), ("pt_BR", "pt"),
     ("haitian creole", "ht"), ("klingon", "klingon"), ("", None), (None, None)],
)  # fmt: skip
def test_language_names_are_normalised(given, expected):
    assert normalize_language(given) == expected
