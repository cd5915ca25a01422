"""Upstash-Signature JWTs by hand: made as QStash makes them, and read without checking.

    signature = sign(raw_body, app_url + "/api/workflows/step")          # what QStash would send
    forged = sign(raw_body, url, key="sig_not_the_real_key")             # a claim or key changed
    claims = unverified_claims(request.header("Upstash-Signature"))     # what a delivery carried
"""
from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import jwt

from qstash_dev.config import DEV_CURRENT_SIGNING_KEY

__all__ = ["body_hash", "sign", "unverified_claims"]


def body_hash(body: str | bytes) -> str:
    """The `body` claim: base64url SHA-256 of the raw body, without padding."""
    raw = body.encode() if isinstance(body, str) else body
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def sign(body: str | bytes, url: str, key: str = DEV_CURRENT_SIGNING_KEY, **claims: Any) -> str:
    """A signature as QStash makes it for a delivery of `body` to `url` (claims may be overridden)."""
    now = int(time.time())
    payload = {"iss": "Upstash", "sub": url, "iat": now, "nbf": now, "exp": now + 300,
               "jti": uuid.uuid4().hex, "body": body_hash(body), **claims}
    return jwt.encode(payload, key, algorithm="HS256")


def unverified_claims(signature: str) -> dict[str, Any]:
    """The claims of a signature, its key not checked (the tests that check it use the SDK)."""
    return jwt.decode(signature, options={"verify_signature": False})
