"""Signed, expiring tokens for the links Stepwise emails (itsdangerous).

Each purpose has its own salt, so a password-reset token can never be replayed as an approval
token. A token only proves "Stepwise issued this for that object": single use is enforced by
the state it points at (a decided approval, a changed password, a verified address).
"""
from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

APPROVAL = "approval-link"
PASSWORD_RESET = "password-reset"
VERIFY_EMAIL = "verify-notification-email"


class BadLink(Exception):
    """Tampered, unknown or malformed: shown as a 404 page."""


class ExpiredLink(Exception):
    """Genuine but too old."""


def make(secret_key: str, purpose: str, payload: dict[str, Any]) -> str:
    """A URL-safe token carrying `payload`, signed for `purpose`."""
    return URLSafeTimedSerializer(secret_key, salt=purpose).dumps(payload)


def read(secret_key: str, purpose: str, token: str, max_age: float | None = None) -> dict[str, Any]:
    """The payload of a token made for `purpose`; BadLink or ExpiredLink otherwise."""
    serializer = URLSafeTimedSerializer(secret_key, salt=purpose)
    try:
        payload = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise ExpiredLink(purpose) from None
    except BadSignature:
        raise BadLink(purpose) from None
    if not isinstance(payload, dict):
        raise BadLink(purpose)
    return payload
