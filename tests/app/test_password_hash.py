"""Password hashes: memory-light scrypt for new passwords, old hashes still accepted."""
from __future__ import annotations

import subprocess
import sys

import pytest
from werkzeug.security import generate_password_hash

from models import PASSWORD_HASH, User

# Checks one password in a fresh interpreter and prints how much its peak memory grew, in MiB.
PEAK_GROWTH = """
import re, sys
from werkzeug.security import check_password_hash
def peak():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1])
before = peak()
assert check_password_hash(sys.argv[1], "correct-horse-1")
print((peak() - before) / 1024)
"""


def test_new_passwords_use_the_light_scrypt_and_old_hashes_still_verify():
    user = User(email="ada@example.com")
    user.set_password("correct-horse-1")
    assert user.password_hash.startswith(PASSWORD_HASH + "$")
    assert user.check_password("correct-horse-1") and not user.check_password("correct-horse-2")
    user.password_hash = generate_password_hash("correct-horse-1")  # werkzeug's default scrypt
    assert user.check_password("correct-horse-1")


@pytest.mark.stack  # a fresh interpreter, so its peak is this check's alone
def test_checking_a_password_raises_peak_memory_by_less_than_16_mib():
    """Werkzeug's default scrypt holds 32 MiB per check: each login raised the app's peak by that."""
    user = User(email="ada@example.com")
    user.set_password("correct-horse-1")
    done = subprocess.run([sys.executable, "-c", PEAK_GROWTH, user.password_hash],
                          capture_output=True, text=True, check=True)
    assert float(done.stdout) < 16
