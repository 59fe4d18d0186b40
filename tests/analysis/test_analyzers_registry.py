"""get_analyzer(): configuration, caching, errors that name the key; the result contract."""

from __future__ import annotations

import json
import math

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from transcription_platform.analysis.analyzers import (
    ActionItem,
    AnalysisError,
    AnalysisResult,
    Analyzer,
    InvalidTranscriptError,
    PermanentAnalysisError,
    RetryableAnalysisError,
    Topic,
    TranscriptInput,
    Usage,
    analyzer_names,
    get_analyzer,
)
from transcription_platform.analysis.analyzers.extractive import ExtractiveAnalyzer
from transcription_platform.analysis.analyzers.openai import OpenAIAnalyzer
from transcription_platform.exceptions import ServiceUnavailable, TranscriptionPlatformError

EXTRACTIVE = "transcription_platform.analysis.analyzers.extractive.ExtractiveAnalyzer"
OPENAI = "transcription_platform.analysis.analyzers.openai.OpenAIAnalyzer"


def analyzers(**entries: dict) -> override_settings:
    return override_settings(TRANSCRIPTION_PLATFORM={"ANALYZERS": entries})


def test_default_is_the_offline_analyzer():
    analyzer = get_analyzer()
    assert isinstance(analyzer, ExtractiveAnalyzer)
    assert get_analyzer("default") is analyzer  # cached per process
    assert analyzer_names() == ["default"]


def test_named_analyzers_and_cache_cleared_on_setting_change():
    before = get_analyzer()
    config = {
        "default": {"BACKEND": EXTRACTIVE, "OPTIONS": {"max_topics": 2}},
        "gpt": {"BACKEND": OPENAI, "OPTIONS": {"api_key": "sk-site", "model": "gpt-4.1-mini"}},
    }
    with analyzers(**config):
        assert analyzer_names() == ["default", "gpt"]
        offline = get_analyzer()
        assert offline is not before
        assert offline.max_topics == 2
        gpt = get_analyzer("gpt")
        assert isinstance(gpt, OpenAIAnalyzer)
        assert gpt.model_name == "gpt-4.1-mini"
        assert gpt.alias == "gpt"
    assert get_analyzer() is not offline


def test_default_analyzer_setting():
    with override_settings(
        TRANSCRIPTION_PLATFORM={
            "ANALYZERS": {"offline": {"BACKEND": EXTRACTIVE}},
            "DEFAULT_ANALYZER": "offline",
        }
    ):
        assert get_analyzer().alias == "offline"


@pytest.mark.parametrize(
    ("entries", "name", "message"),
    [
        ({}, "missing", r"\['ANALYZERS'\]\['missing'\] is not configured"),
        ({"x": "dotted.path"}, "x", r"\['x'\] must be a dict"),
        ({"x": {"BACKEND": EXTRACTIVE, "OPTIONS": {}, "TIMEOUT": 1}}, "x", "TIMEOUT"),
        ({"x": {"OPTIONS": {}}}, "x", r"\['x'\]\['BACKEND'\] must be"),
        ({"x": {"BACKEND": "no.such.Analyzer"}}, "x", r"\['x'\]\['BACKEND'\] cannot be imported"),
        ({"x": {"BACKEND": "json.dumps"}}, "x", "not an Analyzer subclass"),
        ({"x": {"BACKEND": EXTRACTIVE, "OPTIONS": []}}, "x", r"\['OPTIONS'\] must be a dict"),
        ({"x": {"BACKEND": OPENAI, "OPTIONS": {"modle": "a"}}}, "x", r"\['OPTIONS'\]\['modle'\]"),
        ({"x": {"BACKEND": OPENAI, "OPTIONS": {"timeout": -1}}}, "x", r"\['timeout'\]"),
        ({"x": {"BACKEND": OPENAI, "OPTIONS": {"max_retries": 1.5}}}, "x", r"\['max_retries'\]"),
        ({"x": {"BACKEND": OPENAI, "OPTIONS": {"model": ""}}}, "x", r"\['model'\]"),
        (
            {"x": {"BACKEND": OPENAI, "OPTIONS": {"max_input_tokens": 300}}},
            "x",
            r"\['max_input_tokens'\] is too small",
        ),
    ],
)
def test_misconfiguration_names_the_key(entries, name, message):
    with analyzers(**entries), pytest.raises(ImproperlyConfigured, match=message):
        get_analyzer(name)


def test_result_round_trips_through_json():
    result = AnalysisResult(
        summary="We agreed on the plan.",
        topics=[Topic("plan", 1.0), Topic("budget", 0.4)],
        action_items=[ActionItem("Send the plan.", "Ana", "Friday", 12.5), ActionItem("Call.")],
        model="gpt-4o-mini",
        usage=Usage(120, 30),
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert data == {
        "summary": "We agreed on the plan.",
        "topics": [{"label": "plan", "relevance": 1.0}, {"label": "budget", "relevance": 0.4}],
        "action_items": [
            {"text": "Send the plan.", "owner": "Ana", "due": "Friday", "start": 12.5},
            {"text": "Call.", "owner": None, "due": None, "start": None},
        ],
        "model": "gpt-4o-mini",
        "usage": {"input_tokens": 120, "output_tokens": 30},
    }
    assert AnalysisResult.from_dict(data) == result
    assert AnalysisResult.from_dict({}) == AnalysisResult(summary="")


def test_error_tree_and_codes():
    retry = RetryableAnalysisError(retry_after=3.5, analyzer="gpt")
    assert isinstance(retry, AnalysisError)
    assert isinstance(retry, ServiceUnavailable)
    assert (retry.code, retry.status_code, retry.retry_after) == ("analysis_unavailable", 503, 3.5)
    permanent = PermanentAnalysisError(code="analysis_invalid_output")
    assert isinstance(permanent, TranscriptionPlatformError)
    assert permanent.code == "analysis_invalid_output"
    assert PermanentAnalysisError().code == "analysis_failed"
    invalid = InvalidTranscriptError()
    assert isinstance(invalid, PermanentAnalysisError)
    assert isinstance(invalid, ValueError)
    assert (invalid.code, invalid.status_code) == ("invalid_transcript", 400)


class _Model:
    """What the pipeline will pass: an object with text and segments attributes."""

    text = ""
    segments = [{"start": 0, "end": 1.5, "text": "Hello."}, {"start": 1.5, "end": 3, "text": "Hi."}]


@pytest.mark.parametrize(
    "value",
    [
        "Hello. Hi.",
        {"text": "Hello. Hi."},
        {"segments": _Model.segments},
        _Model(),
        TranscriptInput(segments=_Model.segments),
    ],
)
def test_transcript_input_forms(value):
    transcript = TranscriptInput.coerce(value)
    assert transcript.text == "Hello. Hi."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "Cannot analyse a int"),
        ({"text": b"bytes"}, "text must be a string"),
        ({"segments": "text"}, "segments must be a list"),
        ({"segments": [["0", "1", "x"]]}, r"segments\[0\] must be a dict"),
        ({"segments": [{"start": 0, "text": "x"}]}, r"segments\[0\] lacks end"),
        ({"segments": [{"start": "0", "end": 1, "text": "x"}]}, r"segments\[0\]\.start must"),
        ({"segments": [{"start": 0, "end": math.nan, "text": "x"}]}, r"\.end must be a finite"),
        ({"segments": [{"start": -1, "end": 1, "text": "x"}]}, "must not be negative"),
        ({"segments": [{"start": 2, "end": 1, "text": "x"}]}, "ends before it starts"),
        ({"segments": [{"start": 0, "end": 1, "text": None}]}, r"\.text must be a string"),
        ({"segments": [{"start": True, "end": 1, "text": "x"}]}, r"\.start must be"),
    ],
)
def test_bad_input_is_a_clear_error(value, message):
    with pytest.raises(InvalidTranscriptError, match=message):
        get_analyzer().analyze(value)


def test_language_must_be_a_string():
    with pytest.raises(InvalidTranscriptError, match="language"):
        get_analyzer().analyze("Hello.", language=["en"])


def test_base_class_requires_an_implementation():
    class Incomplete(Analyzer):
        pass

    with pytest.raises(NotImplementedError):
        Incomplete().analyze("Some text.")
