"""URL groups (QStash's "topics") in SQLite: a name and its endpoints.

A publish, enqueue, batch item or schedule tick to a group makes one ordinary
message per endpoint, each with its own id, retries, dedup and callbacks; the
message remembers the group and endpoint names for its JSON and log entries.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["Endpoint", "UnknownGroup", "upsert_endpoints", "remove_endpoints", "endpoints", "groups", "delete"]


class UnknownGroup(LookupError):
    """No URL group of that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"URL group {name!r} not found")
        self.name = name


@dataclass(frozen=True)
class Endpoint:
    """One destination of a group."""

    url: str
    name: str | None = None


def upsert_endpoints(conn: sqlite3.Connection, group: str, new: list[Endpoint], now: float) -> None:
    """Create the group if needed and add the endpoints (an existing URL gets the new name)."""
    stamp = int(now * 1000)
    conn.execute("INSERT INTO topics (name, created_at, updated_at) VALUES (?, ?, ?)"
                 " ON CONFLICT(name) DO UPDATE SET updated_at = excluded.updated_at", (group, stamp, stamp))
    for endpoint in new:
        if endpoint.name:
            taken = conn.execute("SELECT url FROM endpoints WHERE topic = ? AND name = ? AND url != ?",
                                 (group, endpoint.name, endpoint.url)).fetchone()
            if taken:
                raise ValueError(f"endpoint name {endpoint.name!r} is already used by {taken['url']} in {group!r}")
        conn.execute("INSERT INTO endpoints (topic, url, name) VALUES (?, ?, ?)"
                     " ON CONFLICT(topic, url) DO UPDATE SET name = excluded.name",
                     (group, endpoint.url, endpoint.name))


def remove_endpoints(conn: sqlite3.Connection, group: str, gone: list[Endpoint], now: float) -> None:
    """Remove endpoints by URL or name; a group left without endpoints is deleted, as in QStash."""
    endpoints(conn, group)  # 404 for an unknown group
    for endpoint in gone:
        if endpoint.url:
            conn.execute("DELETE FROM endpoints WHERE topic = ? AND url = ?", (group, endpoint.url))
        else:
            conn.execute("DELETE FROM endpoints WHERE topic = ? AND name = ?", (group, endpoint.name))
    if endpoints(conn, group):
        conn.execute("UPDATE topics SET updated_at = ? WHERE name = ?", (int(now * 1000), group))
    else:
        delete(conn, group)


def endpoints(conn: sqlite3.Connection, group: str) -> list[Endpoint]:
    """The group's endpoints in the order they were added; UnknownGroup if there is no such group."""
    if conn.execute("SELECT 1 FROM topics WHERE name = ?", (group,)).fetchone() is None:
        raise UnknownGroup(group)
    rows = conn.execute("SELECT url, name FROM endpoints WHERE topic = ? ORDER BY rowid", (group,)).fetchall()
    return [Endpoint(row["url"], row["name"]) for row in rows]


def groups(conn: sqlite3.Connection, name: str | None = None) -> list[sqlite3.Row]:
    """Every group (or the one named), by name."""
    if name is None:
        return conn.execute("SELECT * FROM topics ORDER BY name").fetchall()
    return conn.execute("SELECT * FROM topics WHERE name = ?", (name,)).fetchall()


def delete(conn: sqlite3.Connection, group: str) -> bool:
    """Delete a group and its endpoints; messages already published stay. False if there was none."""
    conn.execute("DELETE FROM endpoints WHERE topic = ?", (group,))
    return conn.execute("DELETE FROM topics WHERE name = ?", (group,)).rowcount > 0
