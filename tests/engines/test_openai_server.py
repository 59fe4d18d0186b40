"""The test server itself, driven by the real openai SDK over real HTTP."""

from __future__ import annotations

import io

import openai
import pytest

from tests.openai_server import CHAT_COMPLETIONS, TRANSCRIPTIONS, error_json


def client(server, **kw):
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, **kw)


def test_default_transcription_and_multipart_record(openai_server):
    result = client(openai_server).audio.transcriptions.create(
        file=("a.ogg", io.BytesIO(b"OggS-payload"), "audio/ogg"),
        model="whisper-1",
        language="en",
        prompt="Names: Zoë",
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
    )
    assert result.text == "hello from the test server"
    assert result.segments[0].end == 2.0
    (request,) = openai_server.requests_to(TRANSCRIPTIONS)
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.fields["model"] == "whisper-1"
    assert request.fields["language"] == "en"
    assert request.fields["prompt"] == "Names: Zoë"
    assert request.fields["timestamp_granularities"] == ["segment", "word"]
    assert request.files["file"].filename == "a.ogg"
    assert request.files["file"].data == b"OggS-payload"


def test_chat_completion_scripted_then_default(openai_server):
    openai_server.enqueue(
        CHAT_COMPLETIONS,
        json={
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "scripted"},
                }
            ],
        },
    )
    c = client(openai_server)
    messages = [{"role": "user", "content": "hi"}]
    first = c.chat.completions.create(model="m", messages=messages)
    second = c.chat.completions.create(model="m2", messages=messages)
    assert first.choices[0].message.content == "scripted"
    assert second.choices[0].message.content == "{}"
    assert second.model == "m2"
    assert openai_server.requests[0].json["messages"] == messages


def test_scripted_error_headers_and_unknown_route(openai_server):
    openai_server.enqueue(
        CHAT_COMPLETIONS, 429, json=error_json("slow down"), headers={"Retry-After": "7"}
    )
    with pytest.raises(openai.RateLimitError) as info:
        client(openai_server).chat.completions.create(model="m", messages=[])
    assert info.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.NotFoundError):
        client(openai_server).models.list()


def test_delay_triggers_client_timeout(openai_server):
    openai_server.enqueue(CHAT_COMPLETIONS, delay=1.0)
    with pytest.raises(openai.APITimeoutError):
        client(openai_server, timeout=0.2).chat.completions.create(model="m", messages=[])
