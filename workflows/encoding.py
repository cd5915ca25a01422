"""Base64 as it arrives with or without its `=` padding (QStash's callback bodies, our cursors)."""
from __future__ import annotations

import base64


def b64decode(text: str, *, urlsafe: bool = False) -> bytes:
    """Decode base64 whether or not its padding was stripped; ValueError when it is not base64."""
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded)
