"""OpenAIAnalyzer with the real openai SDK against the local OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.fixtures.openai_chat import VALID, completion
from tests.openai_server import CHAT_COMPLETIONS, RecordedRequest, ScriptedResponse, error_json
from transcription_platform.analysis.analyzers import (
    PermanentAnalysisError,
    RetryableAnalysisError,
    Usage,
)
from transcription_platform.analysis.analyzers.openai import (
    AnalysisOutput,
    CombinedOutput,
    OpenAIAnalyzer,
    estimate_tokens,
    strict_json_schema,
)

SEGMENTS = [
    {"start": 0.0, "end": 4.0, "text": "Welcome to the launch planning call."},
    {"start": 4.0, "end": 9.5, "text": "The launch moves to June because the audit is late."},
    {"start": 9.5, "end": 14.0, "text": "Ana will update the launch checklist by Friday."},
    {"start": 14.0, "end": 18.0, "text": "That is all, thank you."},
]


@pytest.fixture
def make_analyzer(openai_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def make(**options) -> OpenAIAnalyzer:
        defaults = {
            "base_url": openai_server.base_url,
            "api_key": "sk-site",
            "timeout": 5,
            "retry_backoff": 0.01,
            "max_retry_delay": 0.5,
        }
        return OpenAIAnalyzer("gpt", **{**defaults, **options})

    return make


def chat_requests(server) -> list[RecordedRequest]:
    return server.requests_to(CHAT_COMPLETIONS)


def test_valid_structured_output(openai_server, make_analyzer):
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID, prompt_tokens=321))

    result = make_analyzer().analyze({"segments": SEGMENTS}, language="en")

    assert result.summary == VALID["summary"]
    assert [(t.label, t.relevance) for t in result.topics] == [
        ("launch date", 0.9),
        ("audit", 1.0),  # clamped into 0..1
    ]
    [item] = result.action_items
    assert (item.text, item.owner, item.due, item.start) == (
        "Update the launch checklist",
        "Ana",
        "Friday",
        9.5,  # segment 2 starts at 9.5 s
    )
    assert result.model == "gpt-4o-mini"
    assert result.usage == Usage(321, 20)

    [request] = chat_requests(openai_server)
    assert request.headers["authorization"] == "Bearer sk-site"
    body = request.json
    assert body["model"] == "gpt-4o-mini"
    response_format = body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["schema"] == strict_json_schema(AnalysisOutput)
    system, user = body["messages"]
    assert "'en'" in system["content"]
    assert user["content"].splitlines() == [
        "[0 00:00] Welcome to the launch planning call.",
        "[1 00:04] The launch moves to June because the audit is late.",
        "[2 00:09] Ana will update the launch checklist by Friday.",
        "[3 00:14] That is all, thank you.",
    ]


def test_schema_is_strict():
    schema = strict_json_schema(AnalysisOutput)
    item = schema["$defs"]["ActionItemOutput"]
    assert item["additionalProperties"] is False
    assert item["required"] == ["text", "owner", "due", "segment"]
    assert schema["required"] == ["summary", "topics", "action_items"]
    assert schema["additionalProperties"] is False


def test_owner_key_wins_over_site_key(openai_server, make_analyzer):
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))
    make_analyzer().analyze({"segments": SEGMENTS}, api_key="sk-owner")
    assert chat_requests(openai_server)[0].headers["authorization"] == "Bearer sk-owner"


def test_no_key_anywhere_is_a_permanent_error(openai_server, make_analyzer):
    with pytest.raises(PermanentAnalysisError) as caught:
        make_analyzer(api_key=None).analyze("Some text to analyse.")
    assert caught.value.code == "analysis_auth_failed"
    assert "OPENAI_API_KEY" in caught.value.message
    assert chat_requests(openai_server) == []


def test_invalid_json_is_repaired_once(openai_server, make_analyzer):
    openai_server.enqueue(
        CHAT_COMPLETIONS, json=completion('{"summary": "cut off', prompt_tokens=50)
    )
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID, prompt_tokens=70))

    result = make_analyzer().analyze({"segments": SEGMENTS})

    assert result.summary == VALID["summary"]
    assert result.usage == Usage(120, 40)  # the failed attempt is billed too
    first, second = chat_requests(openai_server)
    messages = second.json["messages"]
    assert messages[:2] == first.json["messages"]
    assert messages[2] == {"role": "assistant", "content": '{"summary": "cut off'}
    assert messages[3]["role"] == "user"
    assert "did not match the required JSON schema" in messages[3]["content"]
    assert second.json["response_format"] == first.json["response_format"]


def test_schema_violation_is_repaired(openai_server, make_analyzer):
    wrong = {"summary": "x", "topics": "launch"}  # wrong type, missing action_items
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(wrong))
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))

    result = make_analyzer().analyze({"segments": SEGMENTS})

    assert result.action_items[0].owner == "Ana"
    repair = chat_requests(openai_server)[1].json["messages"][-1]["content"]
    assert "topics" in repair
    assert "action_items" in repair


def test_invalid_twice_is_a_permanent_error(openai_server, make_analyzer):
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion("not json"), times=2)
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))  # must not be reached

    with pytest.raises(PermanentAnalysisError) as caught:
        make_analyzer().analyze({"segments": SEGMENTS})

    assert caught.value.code == "analysis_invalid_output"
    assert caught.value.analyzer == "gpt"
    assert "Invalid JSON" in caught.value.message
    assert caught.value.usage == Usage(200, 40)
    assert len(chat_requests(openai_server)) == 2


def test_reply_cut_at_the_output_limit_asks_for_brevity(openai_server, make_analyzer):
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion('{"summ', finish_reason="length"))
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))
    make_analyzer().analyze({"segments": SEGMENTS})
    assert "be briefer" in chat_requests(openai_server)[1].json["messages"][-1]["content"]


def test_code_fenced_json_is_accepted(openai_server, make_analyzer):
    fenced = "```json\n" + json.dumps(VALID) + "\n```"
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(fenced))
    assert make_analyzer().analyze({"segments": SEGMENTS}).summary == VALID["summary"]


def test_refusal_is_permanent(openai_server, make_analyzer):
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion("", refusal="I can't help."))
    with pytest.raises(PermanentAnalysisError) as caught:
        make_analyzer().analyze("Some transcript.")
    assert caught.value.code == "analysis_refused"


def test_rate_limit_is_retried_honouring_retry_after(openai_server, make_analyzer):
    openai_server.enqueue(
        CHAT_COMPLETIONS,
        429,
        json=error_json("slow down", "rate_limit_exceeded"),
        headers={"Retry-After": "0.2"},
    )
    openai_server.enqueue(CHAT_COMPLETIONS, 503, json=error_json("overloaded", "server_error"))
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID))

    began = time.monotonic()
    result = make_analyzer(max_retries=2).analyze({"segments": SEGMENTS})

    assert time.monotonic() - began >= 0.2  # waited as asked
    assert result.summary == VALID["summary"]
    assert len(chat_requests(openai_server)) == 3


def test_rate_limit_beyond_retries_is_retryable(openai_server, make_analyzer):
    openai_server.enqueue(
        CHAT_COMPLETIONS,
        429,
        json=error_json("slow down"),
        headers={"Retry-After": "0.01"},
        times=2,
    )
    with pytest.raises(RetryableAnalysisError) as caught:
        make_analyzer(max_retries=1).analyze("Some transcript.")
    assert caught.value.retry_after == pytest.approx(0.01)
    assert caught.value.code == "analysis_unavailable"
    assert len(chat_requests(openai_server)) == 2


def test_long_retry_after_goes_back_to_the_task_queue(openai_server, make_analyzer):
    openai_server.enqueue(
        CHAT_COMPLETIONS, 429, json=error_json("slow down"), headers={"Retry-After": "120"}
    )
    with pytest.raises(RetryableAnalysisError) as caught:
        make_analyzer(max_retries=3).analyze("Some transcript.")
    assert caught.value.retry_after == 120
    assert len(chat_requests(openai_server)) == 1  # no worker sleeps for two minutes


def test_timeout_is_retryable(openai_server, make_analyzer):
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(VALID), delay=1.0)
    with pytest.raises(RetryableAnalysisError, match="timed out"):
        make_analyzer(timeout=0.2, max_retries=0).analyze("Some transcript.")


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (
            429,
            error_json("quota", "insufficient_quota", "insufficient_quota"),
            "analysis_quota_exceeded",
        ),
        (
            401,
            error_json("bad key", "invalid_request_error", "invalid_api_key"),
            "analysis_auth_failed",
        ),
        (404, error_json("no such model", code="model_not_found"), "analysis_rejected"),
        (400, error_json("bad request"), "analysis_rejected"),
    ],
)
def test_permanent_provider_errors(openai_server, make_analyzer, status, error, code):
    openai_server.enqueue(CHAT_COMPLETIONS, status, json=error)
    with pytest.raises(PermanentAnalysisError) as caught:
        make_analyzer().analyze("Some transcript.")
    assert caught.value.code == code
    assert caught.value.provider_status == status
    assert f"HTTP {status}: {error['error']['message']}" in caught.value.message
    assert len(chat_requests(openai_server)) == 1  # never retried


def test_unknown_segment_id_leaves_the_item_untimed(openai_server, make_analyzer):
    output = {**VALID, "action_items": [{**VALID["action_items"][0], "segment": 99}]}
    openai_server.enqueue(CHAT_COMPLETIONS, json=completion(output))
    [item] = make_analyzer().analyze({"segments": SEGMENTS}).action_items
    assert item.start is None


def test_empty_transcript_makes_no_request(openai_server, make_analyzer):
    result = make_analyzer().analyze({"text": "", "segments": []})
    assert result.summary == ""
    assert result.usage == Usage(0, 0)
    assert chat_requests(openai_server) == []


# --------------------------------------------------------------------------- map-reduce


def long_meeting(count: int = 60) -> list[dict]:
    return [
        {
            "start": i * 10.0,
            "end": i * 10.0 + 10,
            "text": f"Item {i}: the team discussed milestone {i} of the migration in some detail.",
        }
        for i in range(count)
    ]


def scripted_model(request: RecordedRequest) -> ScriptedResponse:
    """Answers each map call with a summary naming the segment ids it saw and one action
    item on its first segment; answers the combining call with a fixed summary."""
    body = request.json
    name = body["response_format"]["json_schema"]["name"]
    user = body["messages"][-1]["content"]
    if name == "CombinedOutput":
        parts = json.loads(user)["parts"]
        content = {
            "summary": f"Combined {len(parts)} parts.",
            "topics": [{"label": "migration", "relevance": 1.0}],
        }
    else:
        ids = [int(i) for i in re.findall(r"^\[(\d+)[ \]]", user, re.MULTILINE)]
        content = {
            "summary": f"Segments {ids[0]}-{ids[-1]}.",
            "topics": [{"label": f"milestone {ids[0]}", "relevance": 0.5}],
            "action_items": [
                {
                    "text": f"Follow up on milestone {ids[0]}",
                    "owner": None,
                    "due": None,
                    "segment": ids[0],
                }
            ],
        }
    return ScriptedResponse(json=completion(content, prompt_tokens=10, completion_tokens=5))


def test_long_transcript_is_analysed_in_parts_and_combined(openai_server, make_analyzer):
    openai_server.set_default(CHAT_COMPLETIONS, scripted_model)
    budget = 1400
    analyzer = make_analyzer(max_input_tokens=budget)
    segments = long_meeting()
    assert estimate_tokens(" ".join(s["text"] for s in segments)) > budget  # needs splitting

    result = analyzer.analyze({"segments": segments})

    requests = chat_requests(openai_server)
    maps = [
        r for r in requests if r.json["response_format"]["json_schema"]["name"] == "AnalysisOutput"
    ]
    combines = [r for r in requests if r not in maps]
    assert len(maps) >= 3
    assert len(combines) == 1
    assert requests[-1] is combines[0]  # combined after every part is analysed
    seen = []
    for index, request in enumerate(maps):
        system, user = request.json["messages"]
        assert f"part {index + 1} of {len(maps)}" in system["content"]
        assert estimate_tokens(system["content"] + user["content"]) < budget
        seen += [int(i) for i in re.findall(r"^\[(\d+)[ \]]", user["content"], re.MULTILINE)]
    assert seen == list(range(len(segments)))  # every segment once, in order: nothing dropped
    combine = combines[0].json
    assert combine["response_format"]["json_schema"]["schema"] == strict_json_schema(CombinedOutput)
    parts = json.loads(combine["messages"][-1]["content"])["parts"]
    assert parts[0]["summary"].startswith("Segments 0-")

    assert result.summary == f"Combined {len(maps)} parts."
    assert [t.label for t in result.topics] == ["migration"]
    firsts = [int(p["summary"].split()[1].split("-")[0]) for p in parts]
    assert [(i.text, i.start) for i in result.action_items] == [
        (f"Follow up on milestone {first}", first * 10.0) for first in firsts
    ]
    assert result.usage == Usage(10 * len(requests), 5 * len(requests))


def test_context_length_error_splits_smaller(openai_server, make_analyzer):
    openai_server.enqueue(
        CHAT_COMPLETIONS,
        400,
        json=error_json("maximum context length exceeded", code="context_length_exceeded"),
    )
    openai_server.set_default(CHAT_COMPLETIONS, scripted_model)
    segments = long_meeting(20)

    result = make_analyzer().analyze({"segments": segments})

    requests = chat_requests(openai_server)
    assert "part" not in requests[0].json["messages"][0]["content"]  # first try: one part
    assert "part 1 of " in requests[1].json["messages"][0]["content"]
    assert result.summary.startswith("Combined")
    assert len(result.action_items) >= 2


def test_untimed_text_is_split_at_line_breaks(openai_server, make_analyzer):
    openai_server.set_default(CHAT_COMPLETIONS, scripted_model)
    text = "\n".join(s["text"] for s in long_meeting())
    result = make_analyzer(max_input_tokens=1400).analyze(text)
    assert result.summary.startswith("Combined")
    assert all(item.start is None for item in result.action_items)
