"""The dashboard's workflow pages with many rows: latency over HTTP and the SQL each page issues.

Used by bench/engine.py (measure_reads): it seeds the extra workflows here, then reports p50 / p95
of `/`, `/workflows/<id>`, `/runs` and `/runs/<id>` from the running gunicorn app, and the number of
SQL statements each page sends, counted in an app built in this process on the same database,
once before the rows are seeded and once after (they must not grow with the rows).
"""
from __future__ import annotations

import secrets
import statistics
import time
from datetime import timedelta
from typing import Any, Callable

import httpx
import sqlalchemy as sa

from models import Overlap, User, Workflow, WorkflowStep, new_workflow_id, utcnow

RUNS_EACH = 30  # runs seeded per extra workflow: a full strip of recent runs on the workflows page
SCHEDULES = ["0 9 * * 1", "*/15 * * * *", "0 7 * * 1-5", "30 8 1 * *"]


def seed_workflows(engine: sa.Engine, email: str, count: int, steps: list[dict[str, Any]]) -> list[str]:
    """Bulk-insert `count` scheduled workflows (no QStash schedule) owned by `email`; their ids."""
    now = utcnow()
    with engine.begin() as conn:
        owner = conn.scalar(sa.select(User.__table__.c.id).where(User.__table__.c.email == email))
        ids = [new_workflow_id() for _ in range(count)]
        conn.execute(sa.insert(Workflow.__table__), [
            {"id": wid, "owner_id": owner, "goal": f"bench: workflow {i} of the dashboard", "schedule": SCHEDULES[i % 4],
             "timezone": "Europe/Berlin", "paused": i % 10 == 0, "overlap": Overlap.SKIP,
             "created_at": now + timedelta(seconds=i), "updated_at": now} for i, wid in enumerate(ids)])
        conn.execute(sa.insert(WorkflowStep.__table__), [
            {"workflow_id": wid, "index": i, "tool_name": step["toolName"], "tool_input": step["toolInput"],
             "instruction": None, "needs_approval": step.get("needsApproval", False)}
            for wid in ids for i, step in enumerate(steps)])
    return ids


def timings(client: httpx.Client, path: str, count: int) -> list[float]:
    """Seconds each of `count` sequential GETs took (after one that must succeed)."""
    client.get(path).raise_for_status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(path)
        times.append(time.perf_counter() - started)
    return times


def p50_p95(client: httpx.Client, path: str, count: int) -> str:
    """p50 / p95 of `count` sequential GETs, in milliseconds."""
    times = timings(client, path, count)
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return f"{statistics.median(times) * 1000:.1f} / {cuts[18] * 1000:.1f} ms"


def statement_counter(db_url: str, email: str, password: str) -> Callable[[str], int]:
    """A function path -> SQL statements a logged-in GET of it sends, in an app built here."""
    from app import create_app
    from extensions import db

    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": secrets.token_hex(16), "WTF_CSRF_ENABLED": False})
    with app.app_context():
        engine = db.engine
    client = app.test_client()
    if client.post("/auth/login", data={"email": email, "password": password}).status_code != 302:
        raise RuntimeError("the statement counter could not log in")
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))

    def count(path: str) -> int:
        seen.clear()
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
        return len(seen)

    return count


def page_paths(workflow_id: str, run_id: int) -> list[tuple[str, str]]:
    """(name, path) of the four workflow-side pages."""
    return [("workflows page /", "/"), ("a workflow page /workflows/<id>", f"/workflows/{workflow_id}"),
            ("runs page /runs", "/runs"), ("a run page /runs/<id>", f"/runs/{run_id}")]


def measure(session: httpx.Client, before: dict[str, int], count: Callable[[str], int], workflow_id: str,
            run_id: int, requests: int) -> list[tuple[str, str]]:
    """Rows of the report: p50 / p95 and statements (before the rows were seeded -> after)."""
    rows = [(f"dashboard pages p50 / p95 ({requests} requests each); SQL statements per page", "")]
    for (name, path), small in zip(page_paths(workflow_id, run_id), before.values()):
        rows.append((f"  {name}", f"{p50_p95(session, path, requests)}; {small} -> {count(path)} statements"))
    return rows
