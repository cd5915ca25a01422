"""The guard's address rules and status classification, one function at a time."""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from workflows.errors import RetryableToolError, ToolError
from workflows.integrations import guarded_http
from workflows.integrations.guarded_http import HttpResponse, error_for_status, refusal_reason


@pytest.mark.parametrize("address, reason", [
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("2002:7f00:1::", "loopback"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("fc00::5", "private"),
    ("240.0.0.1", "private"),
    ("100.64.0.1", "non-public"),
    ("8.8.8.8", None),
    ("2606:4700:4700::1111", None),
    ("64:ff9b::808:808", None),
])
def test_refusal_reason(address, reason):
    assert refusal_reason(ipaddress.ip_address(address)) == reason


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(monkeypatch):
    monkeypatch.setattr(guarded_http, "resolve", lambda host, port: [ipaddress.ip_address("10.0.0.1")])
    with pytest.raises(ToolError, match=r"^refused: intranet\.example resolves to a private address 10\.0\.0\.1$"):
        guarded_http.fetch("http://intranet.example/")


def test_one_refused_address_among_public_ones_refuses_the_host(monkeypatch):
    addresses = [ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("169.254.169.254")]
    monkeypatch.setattr(guarded_http, "resolve", lambda host, port: addresses)
    with pytest.raises(ToolError, match="resolves to a cloud metadata address 169.254.169.254"):
        guarded_http.fetch("https://mixed.example/")


@pytest.mark.parametrize("url, message", [
    ("file:///etc/passwd", "refused: only http and https URLs can be fetched, not file scheme"),
    ("gopher://x.example/", "refused: only http and https URLs can be fetched, not gopher scheme"),
    ("http://[::ffff:127.0.0.1]:9/", "refused: ::ffff:127.0.0.1 is a loopback address"),
    ("http://0.0.0.0:9/", "refused: 0.0.0.0 is an unspecified address"),
])
def test_urls_refused_without_a_connection(url, message):
    with pytest.raises(ToolError) as caught:
        guarded_http.fetch(url)
    assert str(caught.value) == message


def _response(status, body=b"", **headers):
    return HttpResponse("https://api.example/x", status, httpx.Headers(headers), body)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_is_no_error(status):
    assert error_for_status(_response(status)) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 304])
def test_other_statuses_fail_the_step_with_an_excerpt(status):
    error = error_for_status(_response(status, b'{"error":  "bad\n token"}' + b"x" * 500))
    assert isinstance(error, ToolError)
    assert str(error).startswith(f'HTTP {status} from api.example: {{"error": "bad token"}}xxx')
    assert len(str(error)) < 260


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_408_429_and_5xx_are_retryable(status):
    error = error_for_status(_response(status))
    assert isinstance(error, RetryableToolError)
    assert str(error) == f"HTTP {status} from api.example"
    assert error.retry_after is None


def test_retry_after_in_seconds_is_passed_on():
    assert error_for_status(_response(429, **{"Retry-After": "120"})).retry_after == 120.0


def test_retry_after_as_a_date_becomes_seconds():
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=90), usegmt=True)
    assert 80 <= error_for_status(_response(503, **{"Retry-After": when})).retry_after <= 90
