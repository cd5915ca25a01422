"""SQLite storage: the schema and a small pool of connections.

WAL mode with synchronous=NORMAL: a committed transaction survives the process
being killed (SIGKILL), which is the durability qstash_dev promises; only a power
loss could drop the last commits. Every write runs in `BEGIN IMMEDIATE`, so two
writers never deadlock on a lock upgrade, and waits up to busy_timeout.
"""

from __future__ import annotations

import queue
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import SplitResult, urlsplit

__all__ = ["Database"]

BUSY_TIMEOUT_MS = 15000

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,      -- FIFO order within a queue
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'message',      -- message | callback | failure_callback
    url TEXT NOT NULL,
    method TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,                     -- JSON [[name, value]] sent to the destination
    max_retries INTEGER NOT NULL,
    retry_delay TEXT,
    timeout REAL,                              -- seconds; NULL = the server default
    callback TEXT,
    failure_callback TEXT,
    callback_config TEXT NOT NULL DEFAULT '[]',
    failure_callback_config TEXT NOT NULL DEFAULT '[]',
    queue TEXT,
    schedule_id TEXT,
    label TEXT,                                -- comma-separated labels, as Upstash-Label gives them
    caller_ip TEXT,
    created_at INTEGER NOT NULL,               -- unix ms
    not_before INTEGER NOT NULL,               -- unix ms of the first attempt
    state TEXT NOT NULL,                       -- pending | active | delivered | failed | canceled
    retried INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,             -- unix seconds
    attempt_token TEXT,                        -- guards the outcome of the attempt in flight
    last_status INTEGER,
    last_headers TEXT,
    last_body BLOB,
    last_error TEXT,
    finished_at REAL,
    topic_name TEXT,                           -- the URL group it was published to
    endpoint_name TEXT,                        -- and the name of its endpoint there
    flow_key TEXT,                             -- its flow-control key, and the limits it came with
    flow_parallelism INTEGER,
    flow_rate INTEGER,
    flow_period INTEGER,
    redact TEXT                                -- Upstash-Redact-Fields, normalized
);
CREATE INDEX IF NOT EXISTS messages_due ON messages(state, next_attempt_at);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages(queue, state, retried, seq);
CREATE INDEX IF NOT EXISTS messages_finished ON messages(finished_at);
CREATE INDEX IF NOT EXISTS messages_by_schedule ON messages(schedule_id, created_at);

CREATE TABLE IF NOT EXISTS dedup (
    key TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS dlq (
    dlq_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    response_status INTEGER NOT NULL,
    response_headers TEXT NOT NULL,
    response_body BLOB NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,      -- the list cursor
    time INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    next_delivery_time INTEGER,
    response_status INTEGER,
    response_headers TEXT,
    response_body BLOB
);
CREATE INDEX IF NOT EXISTS events_message ON events(message_id);

CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    cron TEXT NOT NULL,                        -- as given, CRON_TZ prefix included
    destination TEXT NOT NULL,
    options TEXT NOT NULL,                     -- JSON [[name, value]]: the publish headers
    body BLOB NOT NULL,
    caller_ip TEXT,
    created_at INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    next_fire_at REAL NOT NULL,                -- unix seconds
    last_fire_at REAL,
    last_message_id TEXT
);

CREATE TABLE IF NOT EXISTS topics (             -- URL groups
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS endpoints (
    topic TEXT NOT NULL,
    url TEXT NOT NULL,
    name TEXT,
    PRIMARY KEY (topic, url)
);

CREATE TABLE IF NOT EXISTS flow_keys (
    key TEXT PRIMARY KEY,
    parallelism INTEGER,                       -- NULL: no limit
    rate INTEGER,                              -- NULL: no limit
    period INTEGER NOT NULL DEFAULT 1,         -- seconds
    paused INTEGER NOT NULL DEFAULT 0,
    pinned_parallelism INTEGER NOT NULL DEFAULT 0,
    pinned_rate INTEGER NOT NULL DEFAULT 0,
    rate_reset_at REAL NOT NULL DEFAULT 0,     -- starts before this do not count
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS flow_starts (       -- attempt starts, for sliding rate windows
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS flow_starts_by_key ON flow_starts(key, at);

CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    parallelism INTEGER NOT NULL DEFAULT 1,
    paused INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"""


# Columns added after the first release: (table, column, declaration). A database file
# made by an older qstash_dev gets them on start; CREATE TABLE above has them already.
ADDED_COLUMNS = [
    ("messages", "topic_name", "TEXT"),
    ("messages", "flow_key", "TEXT"),
    ("messages", "endpoint_name", "TEXT"),
    ("messages", "flow_parallelism", "INTEGER"),
    ("messages", "flow_rate", "INTEGER"),
    ("messages", "flow_period", "INTEGER"),
    ("messages", "redact", "TEXT"),
]

# Indexes over added columns, created once those columns exist.
LATE_INDEXES = """
CREATE INDEX IF NOT EXISTS messages_by_flow ON messages(flow_key, state, next_attempt_at);
"""


def _split(url: str | None) -> SplitResult | None:
    """urlsplit that never raises (a stored URL was validated, but be safe in SQL)."""
    try:
        return urlsplit(url or "")
    except ValueError:
        return None


def url_host(url: str | None) -> str | None:
    """SQL function: the destination's host name, lower case, without the port."""
    parts = _split(url)
    return parts.hostname if parts else None


def url_hostport(url: str | None) -> str | None:
    """SQL function: host:port when the URL names a port, else the host."""
    parts = _split(url)
    if not parts or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.hostname}:{port}" if port else parts.hostname


def url_path(url: str | None) -> str | None:
    """SQL function: the destination's path without the query ('/' when empty)."""
    parts = _split(url)
    return (parts.path or "/") if parts else None


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns and indexes a database file from an older version lacks."""
    for table, column, declaration in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    conn.executescript(LATE_INDEXES)


class Database:
    """A pool of SQLite connections to one file."""

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        with self._connection() as conn:
            conn.executescript(SCHEMA)
            _migrate(conn)

    def _connect(self) -> sqlite3.Connection:
        """A new connection in autocommit mode; transactions are begun explicitly."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        # Filters by host and path (bulk cancel, logs) are SQL over the stored URL.
        conn.create_function("url_host", 1, url_host, deterministic=True)
        conn.create_function("url_hostport", 1, url_hostport, deterministic=True)
        conn.create_function("url_path", 1, url_path, deterministic=True)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a pooled connection."""
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE), committed on success."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read-only snapshot (deferred transaction)."""
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def close(self) -> None:
        """Close every idle connection."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return
