"""A scripted OpenAI-compatible Chat Completions server on loopback, for tests.

    with FakeOpenAI() as fake:
        fake.enqueue_tool_call("write", {"instructions": "Say hi"}, prompt_tokens=120)
        fake.enqueue_error(429, "Rate limit reached", headers={"Retry-After": "7"})
        client = openai.OpenAI(api_key="test", base_url=fake.base_url, max_retries=0)
        ...
        body = fake.requests[0].body          # the JSON the client sent
        assert fake.requests[0].header("authorization") == "Bearer test"

Answers `POST /v1/chat/completions` (and `/chat/completions`) from a FIFO script; when the
script is empty it asks `responder(request)` if one is set, else answers 500 with a message
saying so (and records it in `script_errors`), so a test that makes an unplanned call fails
loudly. Every reply carries `usage` with the token counts it was given.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from tests.support.loopback import ServerThread

__all__ = ["ChatRequest", "FakeOpenAI", "Reply", "error_reply", "json_reply", "raw_reply",
           "text_reply", "tool_call_reply"]

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass(frozen=True)
class ChatRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body (None when it was not JSON)

    def header(self, name: str) -> str | None:
        """A header value, case-insensitively."""
        return self.headers.get(name.lower())

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages the client sent."""
        return self.body.get("messages", []) if isinstance(self.body, dict) else []


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status, a JSON (or raw) body, headers, and a delay before it."""

    status: int = 200
    body: Any = None  # JSON-serialisable; a str or bytes is sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def _completion(message: dict[str, Any], finish_reason: str, prompt_tokens: int,
                completion_tokens: int, model: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": model or "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def text_reply(text: str | None, *, prompt_tokens: int = 10, completion_tokens: int = 5,
               model: str | None = None, delay: float = 0.0, **message: Any) -> Reply:
    """An assistant message with text content (extra keys, e.g. refusal, join the message)."""
    body = _completion({"role": "assistant", "content": text, **message}, "stop",
                       prompt_tokens, completion_tokens, model)
    return Reply(body=body, delay=delay)


def json_reply(value: Any, **kwargs: Any) -> Reply:
    """An assistant message whose content is `value` as JSON text (structured output)."""
    return text_reply(json.dumps(value), **kwargs)


def tool_call_reply(name: str, arguments: dict[str, Any] | str, *, call_id: str = "call_1",
                    content: str | None = None, prompt_tokens: int = 10, completion_tokens: int = 5,
                    model: str | None = None, delay: float = 0.0) -> Reply:
    """An assistant message calling one function; a str `arguments` is sent verbatim."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}
    message = {"role": "assistant", "content": content, "tool_calls": [call]}
    return Reply(body=_completion(message, "tool_calls", prompt_tokens, completion_tokens, model),
                 delay=delay)


def error_reply(status: int, message: str, *, type: str = "invalid_request_error",
                code: str | None = None, param: str | None = None,
                headers: dict[str, str] | None = None) -> Reply:
    """An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Reply(status=status, body=body, headers=dict(headers or {}))


def raw_reply(body: str | bytes, *, status: int = 200, content_type: str = "text/plain") -> Reply:
    """A body sent as is (e.g. a proxy's HTML page where JSON was expected)."""
    return Reply(status=status, body=body, headers={"Content-Type": content_type})


class FakeOpenAI:
    """The scripted server; `base_url` ends in /v1 like OpenAI's."""

    def __init__(self, responder: Callable[[ChatRequest], Reply] | None = None) -> None:
        self.requests: list[ChatRequest] = []
        self.script_errors: list[str] = []  # unplanned requests (empty script, no responder)
        self.responder = responder
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        server.daemon_threads = True
        server.block_on_close = False  # a delayed reply must not hold up stop()
        self._serving = ServerThread(server)
        self.port = self._serving.port
        self.url = self._serving.url
        self.base_url = self.url + "/v1"

    # -- the script --------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> FakeOpenAI:
        """Append replies to the script, answered in order."""
        with self._lock:
            self._script.extend(replies)
        return self

    def enqueue_text(self, text: str | None, **kwargs: Any) -> FakeOpenAI:
        """Script a plain text reply (see `text_reply`)."""
        return self.enqueue(text_reply(text, **kwargs))

    def enqueue_json(self, value: Any, **kwargs: Any) -> FakeOpenAI:
        """Script a reply whose content is JSON text."""
        return self.enqueue(json_reply(value, **kwargs))

    def enqueue_tool_call(self, name: str, arguments: dict[str, Any] | str, **kwargs: Any) -> FakeOpenAI:
        """Script a reply calling one function."""
        return self.enqueue(tool_call_reply(name, arguments, **kwargs))

    def enqueue_error(self, status: int, message: str, **kwargs: Any) -> FakeOpenAI:
        """Script an error in OpenAI's shape, with optional extra headers (Retry-After...)."""
        return self.enqueue(error_reply(status, message, **kwargs))

    def reset(self) -> None:
        """Forget the script, the requests and the responder (a server shared between tests)."""
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.script_errors.clear()
            self.responder = None

    @property
    def remaining(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._script)

    def _next_reply(self, request: ChatRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.popleft()
            number = len(self.requests)
        if self.responder is not None:
            return self.responder(request)
        problem = f"FakeOpenAI: no scripted response left for request #{number} to {request.path}"
        self.script_errors.append(problem)
        return error_reply(500, problem, type="fake_openai_script_empty")

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Serve from a daemon thread."""
        self._serving.start()
        return self

    def stop(self) -> None:
        """Stop serving; replies still waiting out their delay are dropped."""
        self._stopping.set()
        self._serving.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP ----------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each reply waits ~40 ms for a delayed ACK

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                request = ChatRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                if self.path.partition("?")[0] not in CHAT_PATHS:
                    with fake._lock:
                        fake.requests.append(request)
                    self._send(error_reply(404, f"FakeOpenAI serves only {CHAT_PATHS[0]}", type="not_found"))
                    return
                if isinstance(body, dict) and body.get("stream"):
                    with fake._lock:
                        fake.requests.append(request)
                    self._send(error_reply(400, "FakeOpenAI does not stream"))
                    return
                reply = fake._next_reply(request)
                if reply.delay and fake._stopping.wait(reply.delay):
                    return
                self._send(reply)

            def do_GET(self) -> None:
                self._send(error_reply(404, "FakeOpenAI serves only POST chat completions", type="not_found"))

            def _send(self, reply: Reply) -> None:
                if isinstance(reply.body, (str, bytes)):
                    data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                    content_type = "text/plain"
                else:
                    data = json.dumps(reply.body).encode()
                    content_type = "application/json"
                headers = {"Content-Type": content_type, **reply.headers}
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        return Handler
