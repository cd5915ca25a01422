"""Upstash-Signature: an HS256 JWT made fresh for every delivery attempt."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

import jwt

__all__ = ["SIGNATURE_LIFETIME_SECONDS", "body_hash", "sign"]

SIGNATURE_LIFETIME_SECONDS = 300


def body_hash(body: bytes) -> str:
    """Base64url SHA-256 of the raw body, as the `body` claim carries it."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode("ascii")


def sign(key: str, url: str, body: bytes, now: float | None = None) -> str:
    """A signature for one attempt to `url`, valid from now for five minutes."""
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": "Upstash",
        "sub": url,
        "iat": issued,
        "nbf": issued,
        "exp": issued + SIGNATURE_LIFETIME_SECONDS,
        "jti": "jwt_" + secrets.token_hex(12),
        "body": body_hash(body),
    }
    return jwt.encode(claims, key, algorithm="HS256")
