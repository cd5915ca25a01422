"""The guarded client over real loopback sockets: address checks, redirects, caps, timeouts."""
from __future__ import annotations

import gzip
import ipaddress

import pytest

from tests.support.loopback import free_port
from tests.support.recorder import Recorder
from workflows.errors import RetryableToolError, ToolError
from workflows.integrations import guarded_http
from workflows.integrations.guarded_http import fetch


def test_loopback_is_refused_and_nothing_is_sent(recorder):
    with pytest.raises(ToolError, match=r"^refused: 127\.0\.0\.1 is a loopback address$"):
        fetch(recorder.url + "/x")
    assert recorder.requests == []


def test_localhost_by_name_is_refused(recorder):
    with pytest.raises(ToolError, match=r"^refused: localhost resolves to a loopback address"):
        fetch(f"http://localhost:{recorder.port}{recorder.path('/x')}")
    assert recorder.requests == []


def test_allow_private_lifts_the_address_check(recorder):
    recorder.respond("/ok", body="hello", headers={"Content-Type": "text/plain; charset=utf-8"})
    response = fetch(recorder.url + "/ok", allow_private=True)
    assert (response.status, response.text(), response.content_type) == (200, "hello", "text/plain")


def test_connects_to_the_checked_address_and_keeps_the_host_name(recorder, public_loopback, monkeypatch):
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(guarded_http, "resolve", resolve)
    fetch(f"http://rebind.example:{recorder.port}{recorder.path('/a')}")
    [request] = recorder.requests
    assert request.header("host") == f"rebind.example:{recorder.port}"
    assert lookups == ["rebind.example"]  # one lookup: the socket used its answer


def test_redirects_are_followed_and_every_hop_rechecked(recorder, public_loopback):
    recorder.respond("/old", status=301, headers={"Location": "new"})  # relative to /tN/old
    recorder.respond("/new", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(ToolError, match=r"^refused: 169\.254\.169\.254 is a cloud metadata address$"):
        fetch(recorder.url + "/old")
    assert [r.path for r in recorder.requests] == [recorder.path("/old"), recorder.path("/new")]


def test_a_redirect_to_a_name_resolving_to_a_private_address_is_refused(recorder, public_loopback, monkeypatch):
    real = guarded_http.resolve
    monkeypatch.setattr(guarded_http, "resolve", lambda host, port: (
        [ipaddress.ip_address("10.1.2.3")] if host == "intranet.example" else real(host, port)))
    recorder.respond("/go", status=307, headers={"Location": "http://intranet.example/admin"})
    with pytest.raises(ToolError, match=r"^refused: intranet\.example resolves to a private address 10\.1\.2\.3$"):
        fetch(recorder.url + "/go")


def test_a_redirect_to_another_scheme_is_refused(recorder):
    recorder.respond("/go", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(ToolError, match="only http and https"):
        fetch(recorder.url + "/go", allow_private=True)


def test_more_than_five_redirects_fail(recorder):
    recorder.respond("/loop", status=302, headers={"Location": recorder.path("/loop")})
    with pytest.raises(ToolError, match=r"too many redirects \(more than 5\)"):
        fetch(recorder.url + "/loop", allow_private=True)
    assert len(recorder.requests) == 6


def test_303_after_a_post_becomes_a_get_without_the_body(recorder):
    recorder.respond("/submit", status=303, headers={"Location": recorder.path("/done")})
    recorder.respond("/done", body="thanks")
    response = fetch(recorder.url + "/submit", method="POST", json={"a": 1}, allow_private=True)
    first, second = recorder.requests
    assert (first.method, first.body) == ("POST", b'{"a": 1}')
    assert (second.method, second.body, second.header("content-type")) == ("GET", b"", None)
    assert response.text() == "thanks"


def test_307_keeps_method_and_body_and_a_new_origin_gets_no_credentials(recorder):
    with Recorder() as other:
        recorder.respond("/hook", status=307, headers={"Location": other.url + "/moved"})
        fetch(recorder.url + "/hook", method="POST", json=[1], allow_private=True,
              headers={"Authorization": "Bearer s3cret", "X-Trace": "t1"})
        [moved] = other.requests
    assert (moved.method, moved.body, moved.header("x-trace")) == ("POST", b"[1]", "t1")
    assert moved.header("authorization") is None
    assert recorder.requests[0].header("authorization") == "Bearer s3cret"


def test_a_response_declared_over_the_cap_is_refused(recorder):
    recorder.respond("/big", body=b"x" * 5_000)
    with pytest.raises(ToolError, match=r"^response larger than 1000 bytes from 127\.0\.0\.1$"):
        fetch(recorder.url + "/big", allow_private=True, max_bytes=1_000)


def test_a_compressed_response_is_capped_by_its_decoded_size(recorder):
    bomb = gzip.compress(b"0" * 200_000)
    recorder.respond("/bomb", body=bomb, headers={"Content-Encoding": "gzip"})
    assert len(bomb) < 10_000
    with pytest.raises(ToolError, match="response larger than 10000 bytes"):
        fetch(recorder.url + "/bomb", allow_private=True, max_bytes=10_000)


def test_truncate_keeps_the_first_bytes(recorder):
    recorder.respond("/big", body=b"abcdefghij" * 100)
    response = fetch(recorder.url + "/big", allow_private=True, max_bytes=25, truncate=True)
    assert (response.content, response.truncated) == (b"abcdefghij" * 2 + b"abcde", True)


def test_a_request_body_over_1_mb_is_refused_before_sending(recorder):
    with pytest.raises(ToolError, match="request body larger than 1000000 bytes"):
        fetch(recorder.url + "/hook", method="POST", json="x" * 1_000_001, allow_private=True)
    assert recorder.requests == []


def test_a_slow_server_times_out_as_retryable(recorder):
    recorder.respond("/slow", delay=1.0)  # no body: nothing to write to the closed socket
    with pytest.raises(RetryableToolError, match=r"timed out after 0\.3 s"):
        fetch(recorder.url + "/slow", allow_private=True, timeout=0.3)


def test_a_closed_port_is_a_retryable_network_error():
    with pytest.raises(RetryableToolError, match="network error"):
        fetch(f"http://127.0.0.1:{free_port()}/gone", allow_private=True)
