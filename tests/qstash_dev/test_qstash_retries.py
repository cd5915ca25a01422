"""Retries: the count, Upstash-Retried, the backoff, Retry-Delay expressions, Retry-After."""

from __future__ import annotations

import math

from qstash import QStash

from tests.support.recorder import Recorder

SCALE = 0.01  # the shared server's --retry-scale


def gaps(times: list[float]) -> list[float]:
    """Seconds between consecutive attempts."""
    return [b - a for a, b in zip(times, times[1:])]


def test_failing_destination_is_retried_the_given_number_of_times(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/down", status=500)
    client.message.publish(url=f"{recorder.url}/down", body="x", retries=2)
    attempts = recorder.wait_for(3, path="/down", timeout=6)
    assert [a.header("Upstash-Retried") for a in attempts] == ["0", "1", "2"]
    assert len({a.header("Upstash-Message-Id") for a in attempts}) == 1
    # Upstash's backoff e^(2.5 n) seconds, times the scale factor: ~0.12 s, then ~1.48 s.
    # Never early; a loaded machine may add a little.
    for measured, expected in zip(gaps([a.time for a in attempts]), [math.exp(2.5) * SCALE, math.exp(5) * SCALE]):
        assert expected - 0.02 <= measured <= expected + 0.4


def test_retries_stop_once_the_destination_succeeds(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/flaky", status=502, times=1)
    client.message.publish(url=f"{recorder.url}/flaky", body="x", retries=3)
    attempts = recorder.wait_for(2, path="/flaky", timeout=5)
    assert [a.header("Upstash-Retried") for a in attempts] == ["0", "1"]


def test_zero_retries_means_one_attempt(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/once", status=500)
    client.message.publish(url=f"{recorder.url}/once", body="x", retries=0, failure_callback=f"{recorder.url}/f")
    recorder.wait_for(1, path="/f", timeout=5)
    assert len(recorder.received("/once")) == 1


def test_retry_delay_expression_sets_the_gaps(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/expr", status=500)
    client.message.publish(url=f"{recorder.url}/expr", body="x", retries=2, retry_delay="300 * (1 + retried)")
    attempts = recorder.wait_for(3, path="/expr", timeout=6)
    for measured, expected in zip(gaps([a.time for a in attempts]), [0.3, 0.6]):
        assert expected - 0.02 <= measured <= expected + 0.25


def test_retry_after_header_is_honoured_as_given(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/busy", status=429, headers={"Retry-After": "1"}, times=1)
    client.message.publish(url=f"{recorder.url}/busy", body="x", retries=1, retry_delay="10")
    first, second = recorder.wait_for(2, path="/busy", timeout=5)
    assert 0.95 <= second.time - first.time < 1.5  # one second, not the 10 ms expression nor scaled


def test_non_2xx_statuses_all_count_as_failures(client: QStash, recorder: Recorder) -> None:
    recorder.respond("/redirect", status=302, headers={"Location": "/elsewhere"}, times=1)
    recorder.respond("/notfound", status=404, times=1)
    client.message.publish(url=f"{recorder.url}/redirect", body="x", retries=1, retry_delay="10")
    client.message.publish(url=f"{recorder.url}/notfound", body="x", retries=1, retry_delay="10")
    assert len(recorder.wait_for(2, path="/redirect")) == 2
    assert len(recorder.wait_for(2, path="/notfound")) == 2
    assert recorder.received("/elsewhere") == []  # redirects are not followed


def test_unreachable_destination_is_retried(client: QStash, recorder: Recorder) -> None:
    from tests.support.qstash_server import free_port

    dead = f"http://127.0.0.1:{free_port()}/gone"
    client.message.publish(url=dead, body="x", retries=1, retry_delay="10",
                           failure_callback=f"{recorder.url}/failed")
    [failure] = recorder.wait_for(1, path="/failed", timeout=5)
    assert b'"status": 0' in failure.body and b'"retried": 1' in failure.body
