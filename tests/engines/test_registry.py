"""get_engine / engine_names: configuration like CACHES, one instance per process."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from transcription_platform.engines import SpeechEngine, engine_names, get_engine
from transcription_platform.engines.fake import FakeEngine
from transcription_platform.engines.openai import OpenAIEngine
from transcription_platform.exceptions import ConfigurationError

FAKE = "transcription_platform.engines.fake.FakeEngine"


def engines(**named):
    return override_settings(TRANSCRIPTION_PLATFORM={"ENGINES": named})


def test_default_engine_comes_from_settings_and_is_cached():
    engine = get_engine()
    assert isinstance(engine, FakeEngine)
    assert engine.name == "default"
    assert get_engine() is engine
    assert get_engine("default") is engine


def test_named_engines_with_options():
    with engines(
        default={"BACKEND": FAKE},
        voxtral={
            "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
            "OPTIONS": {"model": "voxtral-mini-latest", "base_url": "http://127.0.0.1:9/v1"},
        },
    ):
        assert engine_names() == ["default", "voxtral"]
        voxtral = get_engine("voxtral")
        assert isinstance(voxtral, OpenAIEngine)
        assert voxtral.model == "voxtral-mini-latest"
        assert voxtral.response_format == "json"
        assert voxtral.word_timestamps is False


def test_cache_is_cleared_when_the_setting_changes():
    before = get_engine()
    with engines(default={"BACKEND": FAKE, "OPTIONS": {"latency": 0.5}}):
        inside = get_engine()
        assert inside is not before
        assert inside.latency == 0.5
    assert get_engine() is not inside


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"BACKEND": "no.such.Engine"}, "cannot be imported"),
        ({"OPTIONS": {}}, "'BACKEND'"),
        ({"BACKEND": "collections.OrderedDict"}, "SpeechEngine subclass"),
        ({"BACKEND": FAKE, "OPTIONS": {"lattency": 1}}, "unknown option(s) lattency"),
        ({"BACKEND": FAKE, "OPTIONS": []}, "must be a dict"),
        ({"BACKEND": FAKE, "TIMEOUT": 3}, "unknown key(s): TIMEOUT"),
    ],
)
def test_misconfiguration_names_the_key(config, message):
    with (
        engines(default={"BACKEND": FAKE}, broken=config),
        pytest.raises(ConfigurationError) as info,
    ):
        get_engine("broken")
    assert "TRANSCRIPTION_PLATFORM['ENGINES']['broken']" in str(info.value)
    assert message in str(info.value)
    assert isinstance(info.value, ImproperlyConfigured)


def test_unknown_engine_name():
    with pytest.raises(ImproperlyConfigured, match=r"\['nope'\] is not configured.*'default'"):
        get_engine("nope")


def test_chunk_seconds_setting_overrides_engine_default():
    assert get_engine().chunk_seconds == 600.0
    with override_settings(
        TRANSCRIPTION_PLATFORM={
            "ENGINES": {"default": {"BACKEND": FAKE}},
            "CHUNK_SECONDS": 120,
        }
    ):
        assert get_engine().chunk_seconds == 120.0


def test_capabilities_are_declared():
    for engine in (get_engine(), OpenAIEngine(model="whisper-1")):
        assert isinstance(engine, SpeechEngine)
        assert isinstance(engine.word_timestamps, bool)
        assert isinstance(engine.parallel_chunks, bool)
        assert engine.default_chunk_seconds > 0
        assert engine.model
    assert OpenAIEngine().max_upload_bytes == 25 * 1024 * 1024
