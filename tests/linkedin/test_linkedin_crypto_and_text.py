"""Credentials encrypted with a key derived from SECRET_KEY; LinkedIn's reserved characters escaped."""
from __future__ import annotations

import pytest

from tests.support.linkedin_standin import unescape
from workflows.integrations.crypto import DecryptionError, decrypt_json, encrypt_json
from workflows.integrations.linkedin import escape_commentary

SECRET = "app-secret-key"
RESERVED = "|{}@[]()<>#\\*_~"


def test_encrypted_json_round_trips_and_hides_the_plaintext():
    data = {"access_token": "AQV-token-ünïcode", "member_id": "782bbtaQ"}
    token = encrypt_json(SECRET, data)
    assert "AQV-token" not in token and "782bbtaQ" not in token
    assert token != encrypt_json(SECRET, data)  # a fresh IV every time
    assert decrypt_json(SECRET, token) == data


def test_a_wrong_key_is_a_clear_error():
    token = encrypt_json(SECRET, {"access_token": "t"})
    with pytest.raises(DecryptionError, match="SECRET_KEY has changed"):
        decrypt_json("another-secret-key", token)


def test_an_altered_token_is_refused():
    token = encrypt_json(SECRET, {"access_token": "t"})
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(DecryptionError):
        decrypt_json(SECRET, altered)


@pytest.mark.parametrize("char", list(RESERVED))
def test_every_reserved_character_is_backslash_escaped(char):
    assert escape_commentary(f"a{char}b") == f"a\\{char}b"


def test_plain_text_is_unchanged_and_escaped_text_shows_as_written():
    assert escape_commentary("Hello, world! 50% off: 'quotes' & \"more\" ✓\nline two") == \
        "Hello, world! 50% off: 'quotes' & \"more\" ✓\nline two"
    text = f"#AI @ada [link](x) {{tmpl|#|y}} <b> *bold* _it_ ~s~ C:\\path {RESERVED}"
    assert unescape(escape_commentary(text)) == text  # the stand-in parses it as LinkedIn does
