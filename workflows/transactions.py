"""How SQLite transactions begin (docs/architecture.md, *Transactions on SQLite and PostgreSQL*).

Code that may write begins every transaction `BEGIN IMMEDIATE`: it takes SQLite's write lock
up front and queues behind other writers (busy_timeout). A deferred transaction that reads
first and writes later cannot wait for the lock: SQLite fails it at once ("database is
locked") when another writer got there first. So only code that never writes runs deferred:
the app marks such requests read-only (`blueprints/transaction_mode.py` names them), and
everything else, the CLI and the domain called directly included, begins IMMEDIATE. A
read-only request that must write after all (recording an API token's use) does it inside
`writing()`, in a transaction of its own.

The mode is a context variable, read by the engine's `begin` hook (app.py). PostgreSQL needs
none of this: its row locks make a later write wait.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from extensions import db

_read_only: ContextVar[bool] = ContextVar("stepwise_read_only", default=False)


def begin_statement() -> str:
    """The statement that begins the next SQLite transaction in this context."""
    return "BEGIN" if _read_only.get() else "BEGIN IMMEDIATE"


def set_read_only(read_only: bool) -> object:
    """Set this context's mode (the app does at the start of every request); returns a reset token."""
    return _read_only.set(read_only)


def reset(token: object) -> None:
    """Restore the mode `set_read_only` replaced (at the end of the request)."""
    _read_only.reset(token)  # type: ignore[arg-type]


@contextmanager
def writing() -> Iterator[None]:
    """Write from a read-only request: end its read transaction, then write in an IMMEDIATE one."""
    if not _read_only.get():
        yield
        return
    db.session.commit()  # a deferred read transaction cannot safely turn into a write
    token = _read_only.set(False)
    try:
        yield
    finally:
        _read_only.reset(token)
