"""A small, scriptable OpenAI-compatible HTTP server for tests (no internet needed).

It serves ``/v1/audio/transcriptions`` and ``/v1/chat/completions`` (and answers any
other path with an OpenAI-shaped 404) on ``127.0.0.1`` at a random port, so the real
``openai`` SDK can be exercised over real HTTP::

    def test_something(openai_server):
        openai_server.enqueue("/v1/audio/transcriptions", status=429,
                              json=error_json("slow down"), headers={"Retry-After": "7"})
        client = openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
        ...
        request = openai_server.requests[-1]
        assert request.fields["model"] == "whisper-1"
        assert request.files["file"].data.startswith(b"OggS")

Each route has a FIFO queue of :class:`ScriptedResponse`; when it is empty a default
responder answers (:meth:`OpenAIServer.set_default` replaces it). Every request is
recorded as a :class:`RecordedRequest` (headers, raw body, parsed multipart fields and
files, or parsed JSON), in arrival order.
"""

from __future__ import annotations

import email.parser
import email.policy
import json as jsonlib
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TRANSCRIPTIONS = "/v1/audio/transcriptions"
CHAT_COMPLETIONS = "/v1/chat/completions"


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    fields: dict[str, Any] = field(default_factory=dict)  # multipart text fields
    files: dict[str, UploadedFile] = field(default_factory=dict)
    json: Any = None

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


@dataclass
class ScriptedResponse:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None  # raw body; wins over ``json``
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)

    def encoded(self) -> tuple[bytes, str]:
        if self.body is not None:
            data = self.body.encode() if isinstance(self.body, str) else self.body
            return data, "text/plain; charset=utf-8"
        return jsonlib.dumps(self.json if self.json is not None else {}).encode(), (
            "application/json"
        )


Responder = Callable[[RecordedRequest], ScriptedResponse]


def error_json(message: str, type_: str = "invalid_request_error", code: str | None = None):
    """The body OpenAI returns with an error status."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def default_transcription(request: RecordedRequest) -> ScriptedResponse:
    """A plausible transcription answer, shaped by the requested ``response_format``."""
    fmt = request.fields.get("response_format", "json")
    text = "hello from the test server"
    if fmt == "verbose_json":
        words = text.split()
        return ScriptedResponse(
            json={
                "task": "transcribe",
                "language": "english",
                "duration": 2.0,
                "text": text,
                "segments": [
                    {
                        "id": 0,
                        "seek": 0,
                        "start": 0.0,
                        "end": 2.0,
                        "text": " " + text,
                        "tokens": [],
                        "temperature": 0.0,
                        "avg_logprob": -0.2,
                        "compression_ratio": 1.0,
                        "no_speech_prob": 0.01,
                    }
                ],
                "words": [
                    {"word": w, "start": i * 0.4, "end": i * 0.4 + 0.35}
                    for i, w in enumerate(words)
                ],
                "usage": {"type": "duration", "seconds": 2},
            }
        )
    if fmt in ("text", "srt", "vtt"):
        return ScriptedResponse(body=text)
    return ScriptedResponse(
        json={
            "text": text,
            "usage": {
                "type": "tokens",
                "input_tokens": 20,
                "output_tokens": 6,
                "total_tokens": 26,
            },
        }
    )


def default_chat_completion(request: RecordedRequest) -> ScriptedResponse:
    """A minimal chat.completion whose content is ``{}`` (valid for JSON-mode callers)."""
    body = request.json if isinstance(request.json, dict) else {}
    return ScriptedResponse(
        json={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "test-model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "{}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }
    )


def _not_found(request: RecordedRequest) -> ScriptedResponse:
    return ScriptedResponse(404, json=error_json(f"Unknown route {request.route}"))


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(fields, files) of a multipart/form-data body; repeated fields become lists."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = UploadedFile(filename, part.get_content_type(), payload)
            continue
        value = payload.decode("utf-8")
        if name.endswith("[]"):
            name = name[:-2]
            fields.setdefault(name, []).append(value)
        elif name in fields:
            previous = fields[name]
            fields[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields, files


class OpenAIServer:
    """The server plus its scripts and its record of requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[ScriptedResponse]] = defaultdict(deque)
        self._defaults: dict[str, Responder] = {
            TRANSCRIPTIONS: default_transcription,
            CHAT_COMPLETIONS: default_chat_completion,
        }
        self.requests: list[RecordedRequest] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval makes stop() (hence every test's teardown) take ~50 ms, not 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle
    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Pass as ``base_url`` to ``openai.OpenAI`` (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting
    def enqueue(
        self,
        route: str,
        status: int = 200,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests to ``route`` with this response."""
        response = ScriptedResponse(status, json, body, dict(headers or {}), delay)
        with self._lock:
            self._queues[route].extend([response] * times)

    def set_default(self, route: str, responder: Responder | ScriptedResponse) -> None:
        """What ``route`` answers once its queue is empty (a response or a callable)."""
        if isinstance(responder, ScriptedResponse):
            fixed = responder
            responder = lambda request: fixed  # noqa: E731
        with self._lock:
            self._defaults[route] = responder

    def requests_to(self, route: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.route == route]

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self.requests.clear()

    # -- serving
    def _respond(self, request: RecordedRequest) -> ScriptedResponse:
        with self._lock:
            self.requests.append(request)
            queue = self._queues.get(request.route)
            if queue:
                return queue.popleft()
            responder = self._defaults.get(request.route, _not_found)
        return responder(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet tests
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = RecordedRequest(self.command, self.path, headers, body)
                content_type = headers.get("content-type", "")
                if content_type.startswith("multipart/form-data"):
                    request.fields, request.files = parse_multipart(content_type, body)
                elif body and "json" in content_type:
                    try:
                        request.json = jsonlib.loads(body)
                    except ValueError:
                        request.json = None
                response = server._respond(request)
                if response.delay:
                    time.sleep(response.delay)
                data, default_type = response.encoded()
                try:
                    self.send_response(response.status)
                    names = {k.lower() for k in response.headers}
                    if "content-type" not in names:
                        self.send_header("Content-Type", default_type)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (a timeout test): nothing left to answer.
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler
