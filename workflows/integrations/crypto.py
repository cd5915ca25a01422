"""Encryption at rest for tool credentials: Fernet, keyed from the app's SECRET_KEY by HKDF."""
from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# A distinct `info` keeps this key apart from anything else ever derived from SECRET_KEY
# (Flask signs sessions with the raw secret; this key never signs, it only encrypts).
HKDF_INFO = b"stepwise credentials"


class DecryptionError(Exception):
    """A stored secret cannot be read with this SECRET_KEY (it changed, or the data was altered)."""


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    if not secret_key:
        raise ValueError("SECRET_KEY is empty: cannot encrypt or decrypt credentials")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_json(secret_key: str, data: dict[str, Any]) -> str:
    """Encrypt a JSON object; the result is an ASCII Fernet token (authenticated, timestamped)."""
    return _fernet(secret_key).encrypt(json.dumps(data, separators=(",", ":")).encode()).decode("ascii")


def decrypt_json(secret_key: str, token: str) -> dict[str, Any]:
    """Decrypt what `encrypt_json` made with the same key; DecryptionError otherwise."""
    try:
        plain = _fernet(secret_key).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise DecryptionError(
            "the stored credential cannot be decrypted: SECRET_KEY has changed since it was saved, "
            "or the stored value was altered"
        ) from None
    data = json.loads(plain)
    if not isinstance(data, dict):
        raise DecryptionError("the stored credential is not a JSON object")
    return data
