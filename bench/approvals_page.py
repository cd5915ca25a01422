"""The approvals page under load, for bench/engine.py: p50 / p95 over HTTP and the SQL
statements one request issues (counted in-process on the same database), which must not grow
with the number of approvals stored."""
from __future__ import annotations

import re
import time
from typing import Any

import httpx
from sqlalchemy import event

CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PATHS = ("/approvals", "/approvals?tab=history")


def p50_p95(values: list[float]) -> str:
    """'12.3 / 45.6 ms' (nearest rank)."""
    ordered = sorted(values)
    pick = lambda f: ordered[min(len(ordered) - 1, max(0, round(f * len(ordered)) - 1))]  # noqa: E731
    return f"{pick(0.50) * 1000:.1f} / {pick(0.95) * 1000:.1f} ms"


def timed(client: httpx.Client, path: str, count: int) -> str:
    """p50 / p95 of `count` sequential GETs (after one that must succeed)."""
    client.get(path).raise_for_status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append(time.perf_counter() - started)
    return p50_p95(times)


def statements(db_url: str, secret: str, email: str, password: str) -> dict[str, int]:
    """SQL statements of one GET of each page, through the Flask test client on `db_url`."""
    from app import create_app
    from extensions import db

    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": secret, "STEPWISE_ENV": "development"})
    client = app.test_client()
    token = CSRF_INPUT.search(client.get("/auth/login").get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    client.post("/auth/login", data={"email": email, "password": password, "csrf_token": token})
    counts: dict[str, int] = {}
    seen: list[Any] = []
    with app.app_context():
        listener = lambda *args: seen.append(args[2])  # noqa: E731  (before_cursor_execute: statement)
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            for path in PATHS:
                seen.clear()
                assert client.get(path).status_code == 200, path
                counts[path] = len([s for s in seen if not s.startswith(("PRAGMA", "BEGIN"))])
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        db.engine.dispose()
    return counts


def rows(session: httpx.Client, db_url: str, secret: str, email: str, password: str,
         requests: int) -> list[tuple[str, str]]:
    """Table rows: p50 / p95 and statements per request of each approvals page."""
    counts = statements(db_url, secret, email, password)
    return [(f"  dashboard {path} p50 / p95, SQL statements", f"{timed(session, path, requests)}, {counts[path]}")
            for path in PATHS]
