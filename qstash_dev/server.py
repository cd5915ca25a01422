"""The HTTP front: routing, the bearer token, JSON in and out."""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, unquote

from . import api_logs, api_messages, api_schedules
from .web import ApiError, Context, Reply, Request

__all__ = ["ROUTES", "make_server", "dispatch"]

log = logging.getLogger("qstash_dev")

MAX_BODY_BYTES = 10 * 1024 * 1024

Handler = Callable[..., Reply]
# (methods, path pattern, handler). Order matters: `/v2/schedules/{id}/pause` before the
# catch-all `/v2/schedules/{destination}`, whose destination is a whole URL.
ROUTES: list[tuple[tuple[str, ...], str, Handler]] = [
    (("POST",), r"/v2/publish/(?P<dest>.+)", api_messages.publish),
    (("POST",), r"/v2/enqueue/(?P<queue>[^/]+)/(?P<dest>.+)", api_messages.enqueue),
    (("POST",), r"/v2/batch", api_messages.batch),
    (("GET",), r"/v2/messages/(?P<message_id>[^/]+)", api_messages.get_message),
    (("DELETE",), r"/v2/messages/(?P<message_id>[^/]+)", api_messages.cancel_message),
    (("DELETE",), r"/v2/messages/?", api_messages.cancel_messages),
    (("PATCH", "POST"), r"/v2/schedules/(?P<schedule_id>[^/]+)/pause", api_schedules.pause_schedule),
    (("PATCH", "POST"), r"/v2/schedules/(?P<schedule_id>[^/]+)/resume", api_schedules.resume_schedule),
    (("POST",), r"/v2/schedules/(?P<dest>.+)", api_schedules.create_schedule),
    (("GET",), r"/v2/schedules/?", api_schedules.list_schedules),
    (("GET",), r"/v2/schedules/(?P<schedule_id>[^/]+)", api_schedules.get_schedule),
    (("DELETE",), r"/v2/schedules/(?P<schedule_id>[^/]+)", api_schedules.delete_schedule),
    (("POST",), r"/_dev/schedules/(?P<schedule_id>[^/]+)/fire", api_schedules.fire_schedule),
    (("POST",), r"/v2/queues/?", api_schedules.upsert_queue),
    (("GET",), r"/v2/queues/?", api_schedules.list_queues),
    (("POST",), r"/v2/queues/(?P<name>[^/]+)/pause", api_schedules.pause_queue),
    (("POST",), r"/v2/queues/(?P<name>[^/]+)/resume", api_schedules.resume_queue),
    (("GET",), r"/v2/queues/(?P<name>[^/]+)", api_schedules.get_queue),
    (("DELETE",), r"/v2/queues/(?P<name>[^/]+)", api_schedules.delete_queue),
    (("GET",), r"/v2/dlq/?", api_logs.list_dlq),
    (("DELETE",), r"/v2/dlq/?", api_logs.delete_dlq_many),
    (("POST",), r"/v2/dlq/retry/(?P<dlq_id>[^/]+)", api_logs.retry_dlq),
    (("POST",), r"/v2/dlq/retry/?", api_logs.retry_dlq_many),
    (("GET",), r"/v2/dlq/(?P<dlq_id>[^/]+)", api_logs.get_dlq),
    (("DELETE",), r"/v2/dlq/(?P<dlq_id>[^/]+)", api_logs.delete_dlq),
    (("GET",), r"/v2/events/?", api_logs.list_events),
    (("GET",), r"/v2/logs/?", api_logs.list_logs),
    (("GET",), r"/v2/keys/?", api_logs.keys),
]
_COMPILED = [(methods, re.compile(pattern), handler) for methods, pattern, handler in ROUTES]
# Path parameters that are names, not URLs, arrive percent-decoded.
_DECODED = {"message_id", "schedule_id", "name", "dlq_id"}


def dispatch(ctx: Context, req: Request) -> Reply:
    """Authenticate and route one request."""
    expected = f"Bearer {ctx.config.token}"
    if not hmac.compare_digest((req.header("Authorization") or "").encode(), expected.encode()):
        raise ApiError(401, "missing or wrong token: send 'Authorization: Bearer <QSTASH_TOKEN>'")
    allowed: list[str] = []
    for methods, pattern, handler in _COMPILED:
        match = pattern.fullmatch(req.path)
        if not match:
            continue
        if req.method not in methods:
            allowed += methods
            continue
        params = {k: unquote(v) if k in _DECODED else v for k, v in match.groupdict().items()}
        return handler(ctx, req, **params)
    if allowed:
        raise ApiError(405, f"{req.method} is not allowed on {req.path} (use {', '.join(sorted(set(allowed)))})")
    raise ApiError(404, f"no such endpoint: {req.method} {req.path}")


class _ClientGone(Exception):
    """The connection ended in the middle of a request."""


class _Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into `dispatch` calls."""

    protocol_version = "HTTP/1.1"  # keep-alive for the SDKs' pooled clients
    # Headers and body are written separately; with Nagle on, each reply waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True
    timeout = 120  # an idle kept-alive connection releases its thread after two minutes
    server_version = "qstash_dev"
    ctx: Context  # set by make_server

    def _handle(self) -> None:
        """Read, dispatch and answer one request."""
        target, _, raw_query = self.path.partition("?")
        try:
            body = self._read_body()
            request = Request(
                method=self.command, path=target, raw_query=raw_query,
                query=parse_qs(raw_query, keep_blank_values=True), headers=list(self.headers.items()),
                body=body, client_ip=self.client_address[0],
            )
            reply = dispatch(self.ctx, request)
        except ApiError as exc:
            reply = Reply(exc.status, {"error": exc.message})
        except (_ClientGone, ConnectionError, TimeoutError):
            log.info("client %s went away in the middle of %s %s; nothing was stored",
                     self.client_address[0], self.command, target)
            self.close_connection = True
            return
        except Exception:
            log.exception("error handling %s %s", self.command, target)
            reply = Reply(500, {"error": "internal error in qstash_dev; see its log"})
        self._send(reply)

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked, at most MAX_BODY_BYTES."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = self._chunk_size()
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    self.close_connection = True
                    raise ApiError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
                chunks.append(self._read_exactly(size))
                self.rfile.readline()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "Content-Length is not a number") from None
        if length > MAX_BODY_BYTES:
            # Read it away first: closing on a client still writing would reset the
            # connection before it could read the 413.
            self._discard(length)
            raise ApiError(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        return self._read_exactly(length) if length > 0 else b""

    def _chunk_size(self) -> int:
        """The size line of the next chunk of a chunked body."""
        line = self.rfile.readline()
        if not line:
            raise _ClientGone
        try:
            return int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "malformed chunked body: a chunk size is not hexadecimal") from None

    def _read_exactly(self, length: int) -> bytes:
        """`length` bytes of body; a shorter read means the client is gone (never store half a body)."""
        data = self.rfile.read(length)
        if len(data) < length:
            raise _ClientGone
        return data

    def _discard(self, length: int) -> None:
        """Skip a body (up to 10x the limit; past that, just close)."""
        if length > 10 * MAX_BODY_BYTES:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                return  # the client hung up
            length -= len(chunk)

    def _send(self, reply: Reply) -> None:
        """Write a JSON reply (or an empty body)."""
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def log_message(self, format: str, *args: object) -> None:
        """Access logs only at debug level; the SDK's traffic would drown everything else."""
        log.debug("%s - %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    """A threading server with room for bursts of concurrent publishers."""

    daemon_threads = True
    block_on_close = False  # never wait on a slow client when stopping
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """A client that drops its connection (a reset kept-alive socket, a killed app) is routine, not a
        traceback; anything else is still logged in full."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.info("client %s dropped its connection (%s)", client_address[0], type(error).__name__)
            return
        log.exception("error serving %s", client_address[0])


def make_server(ctx: Context, host: str, port: int) -> ThreadingHTTPServer:
    """Bind the API to host:port."""
    handler = type("Handler", (_Handler,), {"ctx": ctx})
    return _Server((host, port), handler)
