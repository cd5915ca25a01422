"""Upstash-Signature: what the real Receiver accepts and refuses."""

from __future__ import annotations

import time
from typing import Callable

import jwt
import pytest
from qstash import QStash, Receiver
from qstash.errors import SignatureError

from tests.support.qstash_server import QStashDevProcess
from tests.support.recorder import RecordedRequest, Recorder
from tests.support.signing import body_hash


def test_receiver_accepts_the_signature_for_the_destination_url(
        client: QStash, receiver: Receiver, recorder: Recorder) -> None:
    url = f"{recorder.url}/api/workflows/step?x=1"
    client.message.publish_json(url=url, body={"stepIndex": 0})
    [delivery] = recorder.wait_for(1)
    receiver.verify(signature=delivery.header("Upstash-Signature"), body=delivery.text(), url=url)


def test_receiver_refuses_a_changed_body_or_another_url(
        client: QStash, receiver: Receiver, recorder: Recorder) -> None:
    url = f"{recorder.url}/api/step"
    client.message.publish_json(url=url, body={"runId": 1})
    [delivery] = recorder.wait_for(1)
    signature = delivery.header("Upstash-Signature")
    # (The Receiver retries with the next key, so its final message is about that key.)
    with pytest.raises(SignatureError):
        receiver.verify(signature=signature, body='{"runId": 2}', url=url)
    with pytest.raises(SignatureError):
        receiver.verify(signature=signature, body=delivery.text(), url=f"{recorder.url}/api/other")
    with pytest.raises(SignatureError):
        Receiver("sig_" + "w" * 28, "sig_" + "v" * 28).verify(signature=signature, body=delivery.text(), url=url)


def test_signature_claims_are_upstashs(client: QStash, qstash: QStashDevProcess, recorder: Recorder) -> None:
    url = f"{recorder.url}/claims"
    client.message.publish(url=url, body="payload")
    [delivery] = recorder.wait_for(1)
    claims = jwt.decode(delivery.header("Upstash-Signature"), qstash.current_key, algorithms=["HS256"],
                        issuer="Upstash")
    assert claims["sub"] == url
    assert claims["nbf"] == claims["iat"] and claims["exp"] == claims["iat"] + 300
    assert abs(claims["iat"] - delivery.time) <= 1
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert claims["body"].rstrip("=") == body_hash(b"payload")


def test_each_attempt_is_signed_when_it_is_sent(
        client: QStash, receiver: Receiver, recorder: Recorder,
        claims: Callable[[RecordedRequest], dict]) -> None:
    url = f"{recorder.url}/resigned"
    recorder.respond("/resigned", status=503, times=2)
    published = time.time()
    client.message.publish(url=url, body="b", delay="1s", retries=2, retry_delay="1000")
    attempts = recorder.wait_for(3, path="/resigned", timeout=8)
    tokens = [claims(a) for a in attempts]
    # A fresh token per attempt, issued when that attempt left, not when the message was published.
    assert len({t["jti"] for t in tokens}) == 3
    assert tokens[0]["iat"] >= int(published + 1)
    for attempt, token in zip(attempts, tokens):
        assert abs(token["iat"] - attempt.time) <= 1
        assert token["exp"] == token["iat"] + 300
        receiver.verify(signature=attempt.header("Upstash-Signature"), body=attempt.text(), url=url)
    assert tokens[2]["iat"] >= tokens[0]["iat"] + 2
