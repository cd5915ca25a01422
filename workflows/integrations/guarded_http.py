"""The one guarded HTTP client every outbound fetch goes through (SSRF and DNS-rebinding safe)."""
from __future__ import annotations

import ipaddress
import json as jsonlib
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import httpcore
import httpx

from workflows.errors import RetryableToolError, ToolError

DEFAULT_TIMEOUT = 15.0  # seconds, for the whole fetch: every hop and the body
DEFAULT_MAX_BYTES = 5_000_000  # response body, after decompression
MAX_REQUEST_BYTES = 1_000_000
MAX_REDIRECTS = 5
USER_AGENT = "Stepwise/1.0 (+workflow step)"
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
EXCERPT_CHARS = 200

NO_JSON: Any = object()  # `json=None` sends a JSON null
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA_ADDRESSES = {
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
}
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class HttpResponse:
    """A fetched response whose body has been read (up to the size cap)."""

    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    truncated: bool = False

    @property
    def content_type(self) -> str:
        """The media type, lower case, without parameters ("text/html")."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, if any."""
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                return value.strip().strip("\"'") or None
        return None

    def text(self, sniffed_charset: str | None = None) -> str:
        """The body decoded with its charset, else the sniffed one, else (or if unknown) UTF-8."""
        try:
            return self.content.decode(self.charset or sniffed_charset or "utf-8", errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def is_json(self) -> bool:
        """True for application/json and any +json type."""
        return self.content_type == "application/json" or self.content_type.endswith("+json")


def refusal_reason(ip: IPAddress) -> str | None:
    """Why an address may not be fetched ("private", "loopback"...), or None when it is public."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return refusal_reason(embedded)
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    for reason in ("loopback", "link_local", "multicast", "unspecified", "private", "reserved"):
        if getattr(ip, f"is_{reason}"):
            return reason.replace("_", "-")
    if not ip.is_global:  # shared address space 100.64/10 and other special ranges
        return "non-public"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), which is where it leads."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def resolve(host: str, port: int) -> list[IPAddress]:
    """All addresses of a host (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)):
            raise ToolError(f"could not resolve host {host}: no such name") from None
        raise RetryableToolError(f"could not resolve host {host}: {exc.strerror}") from None
    # The scope id of a link-local IPv6 address ("fe80::1%eth0") is not part of the check.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, then connects to exactly the address that was checked."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None, socket_options: Any = None) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        if not self.allow_private:
            for ip in addresses:
                reason = refusal_reason(ip)
                if reason:
                    raise ToolError(_refused_message(host, ip, reason))
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for ip in addresses:
            try:  # httpcore still sends Host and TLS SNI for `host`: only the socket uses the IP
                return self._backend.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        raise ToolError("unix sockets are not allowed")


def _refused_message(host: str, ip: IPAddress, reason: str) -> str:
    what = f"{'an' if reason[0] in 'aeiou' else 'a'} {reason} address"
    if _is_ip_literal(host):
        return f"refused: {host.strip('[]')} is {what}"
    return f"refused: {host} resolves to {what} {ip}"


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport over a connection pool that uses the guarded backend."""

    def __init__(self, allow_private: bool) -> None:
        super().__init__(verify=shared_ssl_context(), trust_env=False)
        # httpx offers no network_backend argument; the pool is the documented httpcore one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=shared_ssl_context(), network_backend=_GuardedBackend(allow_private)
        )


@lru_cache(maxsize=1)
def shared_ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes tens of milliseconds: do it once per process."""
    return httpx.create_ssl_context()


def fetch(url: str, *, method: str = "GET", headers: dict[str, str] | None = None,
          json: Any = NO_JSON, content: bytes | None = None, allow_private: bool = False,
          timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
          truncate: bool = False) -> HttpResponse:
    """Fetch a URL through the guard, following up to 5 redirects, with a deadline and a size cap.

    Over `max_bytes`, raise a ToolError, or with `truncate` keep the first `max_bytes`.
    """
    request_headers = httpx.Headers({"User-Agent": USER_AGENT})
    request_headers.update(headers or {})
    if json is not NO_JSON:
        content = jsonlib.dumps(json, ensure_ascii=False).encode()
        request_headers.setdefault("Content-Type", "application/json")
    if content is not None and len(content) > MAX_REQUEST_BYTES:
        raise ToolError(f"request body larger than {MAX_REQUEST_BYTES} bytes")
    deadline = time.monotonic() + timeout
    current = _parse_url(url)
    # A client per fetch (its transport is cheap: the CA bundle is loaded once per process), so the
    # guard checks every connection of every fetch rather than trusting a pooled one.
    with httpx.Client(transport=_GuardedTransport(allow_private), trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RetryableToolError(f"timed out after {timeout:g} s fetching {url}")
            request = client.build_request(method, current, headers=request_headers,
                                           content=content, timeout=remaining)
            response = _send(client, request, deadline, timeout, max_bytes, truncate)
            location = response.headers.get("location")
            if response.status not in REDIRECT_STATUSES or not location:
                return response
            target = _parse_url(str(current.join(location)))
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, content = ("HEAD" if method == "HEAD" else "GET"), None
                request_headers = _without(request_headers, "content-type", "content-length")
            if target.host != current.host or target.scheme != current.scheme or target.port != current.port:
                request_headers = _without(request_headers, "authorization", "cookie")
            current = target
    raise ToolError(f"too many redirects (more than {MAX_REDIRECTS}) fetching {url}")


def _send(client: httpx.Client, request: httpx.Request, deadline: float, timeout: float,
          max_bytes: int, truncate: bool) -> HttpResponse:
    """Send one hop and read its body under the deadline and the size cap."""
    host = request.url.host
    try:
        resp = client.send(request, stream=True)
        try:
            body, truncated = _read_body(resp, deadline, timeout, max_bytes, truncate)
        finally:
            resp.close()
    except httpx.TimeoutException:
        raise RetryableToolError(f"timed out after {timeout:g} s fetching {request.url}") from None
    except httpx.DecodingError as exc:
        raise ToolError(f"could not decode the response from {host}: {exc}") from None
    except httpx.TransportError as exc:
        raise RetryableToolError(f"network error fetching {request.url}: {exc or type(exc).__name__}") from None
    return HttpResponse(str(request.url), resp.status_code, resp.headers, body, truncated)


def _read_body(resp: httpx.Response, deadline: float, timeout: float, max_bytes: int,
               truncate: bool) -> tuple[bytes, bool]:
    """The decoded body, stopping at the deadline or at `max_bytes`."""
    too_large = ToolError(f"response larger than {max_bytes} bytes from {resp.url.host}")
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes and not truncate:
        raise too_large
    body = bytearray()
    for chunk in resp.iter_bytes():
        if time.monotonic() > deadline:
            raise RetryableToolError(f"timed out after {timeout:g} s fetching {resp.url}")
        body += chunk
        if len(body) > max_bytes:
            if not truncate:
                raise too_large
            return bytes(body[:max_bytes]), True
    return bytes(body), False


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ToolError(f"invalid URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https"):
        raise ToolError(f"refused: only http and https URLs can be fetched, not {parsed.scheme or 'no'} scheme")
    if not parsed.host:
        raise ToolError(f"invalid URL {url!r}: no host")
    return parsed


def _without(headers: httpx.Headers, *names: str) -> httpx.Headers:
    return httpx.Headers([(k, v) for k, v in headers.multi_items() if k.lower() not in names])


def retry_after_seconds(response: HttpResponse) -> float | None:
    """Retry-After as seconds from now (it may be a number or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_for_status(response: HttpResponse) -> ToolError | RetryableToolError | None:
    """The error a non-2xx status means: 408, 429 and 5xx retryable, any other a step failure."""
    status = response.status
    if 200 <= status < 300:
        return None
    host = httpx.URL(response.url).host
    if status in (408, 429) or status >= 500:
        return RetryableToolError(f"HTTP {status} from {host}", retry_after=retry_after_seconds(response))
    excerpt = " ".join(response.text()[:EXCERPT_CHARS].split())
    return ToolError(f"HTTP {status} from {host}" + (f": {excerpt}" if excerpt else ""))


def raise_for_status(response: HttpResponse) -> None:
    """Raise the error `error_for_status` gives, if any."""
    error = error_for_status(response)
    if error is not None:
        raise error
