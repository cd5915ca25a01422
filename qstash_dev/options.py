"""Publish options: the `Upstash-*` request headers, parsed and validated once.

A bad value raises OptionError with a message naming the header, which the API
turns into a 400 `{"error": ...}` before anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import unquote, urlsplit

from .redact import Redaction, RedactionError
from .retry_delay import validate_expression

__all__ = ["OptionError", "FlowControl", "MessageOptions", "parse_options", "callback_options",
           "parse_duration", "normalize_destination", "validate_url", "canonical_header", "split_labels", "NAME",
           "MAX_FLOW_LIMIT", "MAX_FLOW_PERIOD_SECONDS"]

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
MAX_RETRIES = 100
MAX_FLOW_PERIOD_SECONDS = 7 * 86400  # QStash's limit on a rate period
MAX_FLOW_LIMIT = 1_000_000
DEFAULT_RETRIES = 3
# Queue names, schedule ids, URL group and endpoint names, flow-control keys.
NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,200}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# `Upstash-Callback-<name>` headers that configure the callback message itself;
# any other suffix is a header forwarded to the callback (the SDKs send both forms).
_CALLBACK_SETTINGS = frozenset({"retries", "retry-delay", "delay", "timeout", "method", "label"})


class OptionError(ValueError):
    """A publish header (or path) that cannot be accepted."""


Pairs = list[tuple[str, str]]


@dataclass(frozen=True)
class FlowControl:
    """`Upstash-Flow-Control-Key` and `-Value`: the limits one message was published with."""

    key: str
    parallelism: int | None = None
    rate: int | None = None
    period: int = 1  # seconds; QStash reports 1 when only parallelism is given

    def header_value(self) -> str:
        """The `Upstash-Flow-Control-Value` that gives these settings."""
        parts = [f"parallelism={self.parallelism}"] if self.parallelism else []
        parts += [f"rate={self.rate}"] if self.rate else []
        return ", ".join(parts + [f"period={self.period}s"])


@dataclass(frozen=True)
class MessageOptions:
    """How one message is delivered."""

    url: str
    method: str = "POST"
    headers: Pairs = field(default_factory=list)  # forwarded to the destination, Content-Type included
    retries: int = DEFAULT_RETRIES
    retry_delay: str | None = None
    timeout: float | None = None
    delay: float = 0.0
    not_before: float | None = None  # unix seconds; wins over delay
    callback: str | None = None
    failure_callback: str | None = None
    callback_config: Pairs = field(default_factory=list)  # `Upstash-Callback-*`, prefix removed
    failure_callback_config: Pairs = field(default_factory=list)
    dedup_id: str | None = None
    content_dedup: bool = False
    label: str | None = None  # comma-separated labels
    queue: str | None = None
    topic: str | None = None  # the URL group; `url` is then one endpoint's (or "" before the fan-out)
    endpoint_name: str | None = None
    flow: FlowControl | None = None
    redact: Redaction | None = None

    def first_attempt_at(self, now: float) -> float:
        """When the first attempt is due."""
        if self.not_before is not None:
            return max(now, self.not_before)
        return now + self.delay


def canonical_header(name: str) -> str:
    """`x-reason` -> `X-Reason`, as Go's http.Header (and so Upstash) spells header names."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _labels(text: str | None) -> str | None:
    """`Upstash-Label: a, b` stored as `a,b`: labels never hold a comma, so it splits back exactly."""
    labels = [part.strip() for part in (text or "").split(",") if part.strip()]
    return ",".join(labels) or None


def split_labels(stored: str | None) -> list[str]:
    """The labels of a stored `a,b` value."""
    return stored.split(",") if stored else []


def parse_duration(text: str, header: str) -> float:
    """Seconds from `50s`, `1d10h30m`, `500ms` or a bare number of seconds."""
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    if not value or _DURATION.sub("", value) != "":
        raise OptionError(f"{header}: {text!r} is not a duration like '50s', '10m' or '1d10h30m'")
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION.findall(value))


def normalize_destination(raw: str) -> str:
    """The destination URL from a request path, repaired the way clients mangle it."""
    dest = raw
    if re.match(r"https?%3A", dest, re.IGNORECASE):  # a client that percent-encoded the whole URL
        dest = unquote(dest)
    # Some proxies and routers merge `//` in paths: `http:/host` -> `http://host`.
    dest = re.sub(r"^(https?):/(?!/)", r"\1://", dest, flags=re.IGNORECASE)
    return dest


def _is_url(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def validate_url(url: str, header: str) -> str:
    """Return the URL if it is an absolute http(s) URL, else raise OptionError."""
    if not _is_url(url):
        raise OptionError(f"{header}: {url!r} is not an absolute http(s) URL")
    return url


def _destination(destination: str) -> tuple[str, str | None]:
    """(url, None) for a URL, ("", name) for a URL group name, else OptionError."""
    if _is_url(destination):
        return destination, None
    if NAME.fullmatch(destination) and "://" not in destination:
        return "", destination
    raise OptionError(f"destination: {destination!r} is neither an absolute http(s) URL nor a URL group name "
                      "(API destinations are not supported by qstash_dev)")


def _int(text: str, header: str, low: int, high: int) -> int:
    """An integer header within bounds."""
    try:
        value = int(text.strip())
    except ValueError:
        raise OptionError(f"{header}: {text!r} is not an integer") from None
    if not low <= value <= high:
        raise OptionError(f"{header}: {value} is out of range ({low}..{high})")
    return value


def _flow_setting(name: str, text: str) -> int:
    """One `name=value` of Upstash-Flow-Control-Value, as an integer (period: a duration in seconds)."""
    header = f"Upstash-Flow-Control-Value: {name}"
    if name != "period":
        return _int(text, header, 1, MAX_FLOW_LIMIT)
    seconds = parse_duration(text, header)
    if seconds != int(seconds) or not 1 <= seconds <= MAX_FLOW_PERIOD_SECONDS:
        raise OptionError(f"{header}: {text!r} must be whole seconds from 1s to 7d")
    return int(seconds)


def _flow_control(key: str | None, value: str | None) -> FlowControl | None:
    """The flow-control settings of a message, validated; None without the headers."""
    if key is None and value is None:
        return None
    key = (key or "").strip()
    if not NAME.fullmatch(key):
        raise OptionError(f"Upstash-Flow-Control-Key: {key!r} is not a key of 1-200 letters, digits, '_', '-', "
                          "'.' or ':' (it is required with Upstash-Flow-Control-Value)")
    settings: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in (value or "").split(","))):
        name, sep, text = (x.strip() for x in part.partition("="))
        if not sep or name.lower() not in ("parallelism", "rate", "period") or name.lower() in settings:
            raise OptionError(f"Upstash-Flow-Control-Value: {part!r} is not one of parallelism=N, rate=N, "
                              "period=DURATION (each at most once)")
        settings[name.lower()] = _flow_setting(name.lower(), text)
    if "parallelism" not in settings and "rate" not in settings:
        raise OptionError("Upstash-Flow-Control-Value: give parallelism=N and/or rate=N (period=DURATION optional)")
    return FlowControl(key, settings.get("parallelism"), settings.get("rate"), settings.get("period", 1))


def parse_options(destination: str, headers: Iterable[tuple[str, str]], *,
                  queue: str | None = None) -> MessageOptions:
    """Validate a destination (a URL or a URL group name) and its `Upstash-*` headers into MessageOptions."""
    pairs = list(headers)
    plain: dict[str, str] = {name.lower(): value for name, value in pairs}
    forward: Pairs = []
    callback_config: Pairs = []
    failure_config: Pairs = []
    for name, value in pairs:
        lower = name.lower()
        if lower == "content-type":
            forward.append(("Content-Type", value))
        elif lower.startswith("upstash-forward-"):
            forward.append((canonical_header(name[len("upstash-forward-"):]), value))
        elif lower.startswith("upstash-callback-"):
            callback_config.append((name[len("upstash-callback-"):], value))
        elif lower.startswith("upstash-failure-callback-"):
            failure_config.append((name[len("upstash-failure-callback-"):], value))

    method = plain.get("upstash-method", "POST").strip().upper()
    if method not in METHODS:
        raise OptionError(f"Upstash-Method: {method!r} is not one of {', '.join(sorted(METHODS))}")
    retry_delay = plain.get("upstash-retry-delay")
    if retry_delay is not None:
        try:
            validate_expression(retry_delay)
        except ValueError as exc:
            raise OptionError(f"Upstash-Retry-Delay: {exc}") from None
    callback = plain.get("upstash-callback")
    failure_callback = plain.get("upstash-failure-callback")
    retries = plain.get("upstash-retries")
    timeout = plain.get("upstash-timeout")
    delay = plain.get("upstash-delay")
    not_before = plain.get("upstash-not-before")
    url, topic = _destination(destination)
    try:
        redact = Redaction.parse(plain.get("upstash-redact-fields"))
    except RedactionError as exc:
        raise OptionError(str(exc)) from None
    return MessageOptions(
        url=url,
        topic=topic,
        method=method,
        headers=forward,
        retries=DEFAULT_RETRIES if retries is None else _int(retries, "Upstash-Retries", 0, MAX_RETRIES),
        retry_delay=retry_delay,
        timeout=None if timeout is None else (parse_duration(timeout, "Upstash-Timeout") or None),
        delay=0.0 if delay is None else parse_duration(delay, "Upstash-Delay"),
        not_before=None if not_before is None else float(_int(not_before, "Upstash-Not-Before", 0, 2**40)),
        callback=validate_url(callback, "Upstash-Callback") if callback else None,
        failure_callback=validate_url(failure_callback, "Upstash-Failure-Callback") if failure_callback else None,
        callback_config=callback_config,
        failure_callback_config=failure_config,
        dedup_id=plain.get("upstash-deduplication-id") or None,
        # The Python SDK sends `True`, the JS SDK `true`.
        content_dedup=plain.get("upstash-content-based-deduplication", "").strip().lower() == "true",
        label=_labels(plain.get("upstash-label")),
        queue=queue or plain.get("upstash-queue-name") or None,
        flow=_flow_control(plain.get("upstash-flow-control-key"), plain.get("upstash-flow-control-value")),
        redact=redact,
    )


def callback_options(url: str, config: Pairs) -> MessageOptions:
    """Options of a callback message, from the `Upstash-Callback-*` headers of its source."""
    headers: Pairs = [("Content-Type", "application/json")]
    for name, value in config:
        lower = name.lower()
        if lower in _CALLBACK_SETTINGS:
            headers.append((f"Upstash-{name}", value))
        elif lower.startswith("forward-"):
            headers.append((f"Upstash-Forward-{name[len('forward-'):]}", value))
        else:
            headers.append((f"Upstash-Forward-{name}", value))
    return parse_options(url, headers)
