"""The plugin convention every family shares: Registry, option checks, error base."""

from __future__ import annotations

import openai
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from tests.openai_server import CHAT_COMPLETIONS, error_json
from transcription_platform import providers
from transcription_platform.analysis.analyzers import (
    PermanentAnalysisError,
    RetryableAnalysisError,
    analyzers,
)
from transcription_platform.analysis.analyzers.base import analysis_error
from transcription_platform.conf import SETTINGS, Setting
from transcription_platform.engines import PermanentEngineError, RetryableEngineError, engines
from transcription_platform.engines.errors import engine_error
from transcription_platform.exceptions import (
    PermanentError,
    RetryableError,
    ServiceUnavailable,
)
from transcription_platform.openai_client import MissingApiKey, classify, create_client
from transcription_platform.plugins import Plugin, Registry
from transcription_platform.providers import ProviderFailure

# --------------------------------------------------------------------------- a new family


class Diarizer(Plugin):
    """What a future family looks like: a base class and one Registry line."""

    setting = "DIARIZERS"


class PyannoteDiarizer(Diarizer):
    def __init__(self, alias: str = "default", *, model: str = "pyannote-3.1", speakers: int = 2):
        super().__init__(alias)
        self.model = model
        self.speakers = self.positive_number("speakers", speakers, integer=True)


HERE = f"{__name__}.PyannoteDiarizer"


@pytest.fixture
def diarizers(monkeypatch):
    # A family's setting is declared in conf.SETTINGS like every other setting.
    monkeypatch.setitem(SETTINGS, "DIARIZERS", Setting({}, dict, "Diarizers."))
    monkeypatch.setitem(SETTINGS, "DEFAULT_DIARIZER", Setting("default", str, "Default."))
    return Registry("DIARIZERS", Diarizer, default_setting="DEFAULT_DIARIZER")


def family(**entries):
    return override_settings(TRANSCRIPTION_PLATFORM={"DIARIZERS": entries})


def test_a_new_family_is_one_registry_line(diarizers):
    with family(default={"BACKEND": HERE, "OPTIONS": {"speakers": 3}}, other={"BACKEND": HERE}):
        default = diarizers.get()
        assert isinstance(default, PyannoteDiarizer)
        assert (default.alias, default.model, default.speakers) == ("default", "pyannote-3.1", 3)
        assert diarizers.get("default") is default  # cached per alias
        assert diarizers.get("other") is not default
        assert diarizers.names() == ["default", "other"]
    # setting_changed dropped the instances built under the old settings.
    with family(default={"BACKEND": HERE}):
        assert diarizers.get() is not default


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"BACKEND": HERE, "OPTIONS": {"speakrs": 2}},
            r"\['DIARIZERS'\]\['x'\]\['OPTIONS'\]\['speakrs'\]: unknown option\(s\) speakrs "
            r"for PyannoteDiarizer; accepted: model, speakers\.",
        ),
        (
            {"BACKEND": HERE, "OPTIONS": {"speakers": 0}},
            r"\['DIARIZERS'\]\['x'\]\['OPTIONS'\]\['speakers'\] must be a positive int\.",
        ),
        ({"BACKEND": "json.dumps"}, r"\['x'\]\['BACKEND'\] 'json.dumps' is not a Diarizer"),
        ({"BACKEND": HERE, "OPTIONS": ["speakers"]}, r"\['x'\]\['OPTIONS'\] must be a dict"),
        ({"BACKEND": HERE, "LOCATION": "x"}, r"\['x'\] has unknown key\(s\): LOCATION"),
    ],
)
def test_misconfiguration_names_the_exact_key(diarizers, entry, message):
    with family(x=entry), pytest.raises(ImproperlyConfigured, match=message):
        diarizers.get("x")


def test_engines_and_analyzers_are_registries_of_the_same_kind():
    assert isinstance(engines, Registry)
    assert isinstance(analyzers, Registry)
    assert (engines.setting, analyzers.setting) == ("ENGINES", "ANALYZERS")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("failure", "engine_code", "analysis_code"),
    [
        (ProviderFailure(providers.TIMEOUT), "engine_timeout", "analysis_unavailable"),
        (
            ProviderFailure(providers.RATE_LIMITED, "slow down", 429, 7.0),
            "engine_rate_limited",
            "analysis_unavailable",
        ),
        (
            ProviderFailure(providers.QUOTA_EXCEEDED, "no money", 429),
            "engine_quota_exceeded",
            "analysis_quota_exceeded",
        ),
        (
            ProviderFailure(providers.AUTH_FAILED, "no", 401),
            "engine_auth_failed",
            "analysis_auth_failed",
        ),
        (ProviderFailure(providers.NOT_FOUND, "?", 404), "engine_not_found", "analysis_rejected"),
    ],
)
def test_one_classification_two_families(failure, engine_code, analysis_code):
    as_engine = engine_error(failure, "default")
    as_analysis = analysis_error(failure, "gpt")
    assert (as_engine.code, as_analysis.code) == (engine_code, analysis_code)
    for error in (as_engine, as_analysis):
        assert error.retryable is failure.retryable
        assert isinstance(error, RetryableError if failure.retryable else PermanentError)
        assert error.provider_status == failure.status
        assert error.retry_after == failure.retry_after
    assert isinstance(
        as_engine, RetryableEngineError if failure.retryable else PermanentEngineError
    )
    assert isinstance(
        as_analysis, RetryableAnalysisError if failure.retryable else PermanentAnalysisError
    )
    assert (as_engine.engine, as_analysis.analyzer) == ("default", "gpt")


def test_retryable_errors_are_503s():
    assert isinstance(RetryableEngineError(), ServiceUnavailable)
    assert RetryableEngineError().status_code == 503


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, "insufficient_quota", providers.QUOTA_EXCEEDED),
        (429, None, providers.RATE_LIMITED),
        (408, None, providers.UNAVAILABLE),
        (503, None, providers.UNAVAILABLE),
        (400, "context_length_exceeded", providers.CONTEXT_TOO_LONG),
        (401, "invalid_api_key", providers.AUTH_FAILED),
        (413, None, providers.TOO_LARGE),
        (418, None, providers.BAD_REQUEST),
    ],
)
def test_kind_for_status(status, code, kind):
    assert providers.kind_for_status(status, code) == kind


def test_classify_a_real_sdk_error(openai_server):
    openai_server.enqueue(
        CHAT_COMPLETIONS, 503, json=error_json("overloaded"), headers={"retry-after-ms": "1500"}
    )
    client = create_client(api_key="sk-test", base_url=openai_server.base_url, timeout=5)
    with client, pytest.raises(openai.OpenAIError) as caught:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    failure = classify(caught.value)
    assert (failure.kind, failure.status, failure.retry_after) == (providers.UNAVAILABLE, 503, 1.5)
    assert failure.detail == "overloaded"
    assert len(openai_server.requests) == 1  # the SDK did not retry on its own


def test_no_api_key_is_a_permanent_auth_failure(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingApiKey) as caught:
        create_client(api_key=None, base_url="http://127.0.0.1:9/v1", timeout=1)
    error = engine_error(classify(caught.value), "default")
    assert isinstance(error, PermanentEngineError)
    assert error.code == "engine_auth_failed"
    assert "OPENAI_API_KEY" in error.message


def test_clients_never_retry_on_their_own():
    client = create_client(api_key="sk-test", base_url="http://127.0.0.1:9/v1", timeout=2)
    assert client.max_retries == 0
    assert client.timeout == 2
