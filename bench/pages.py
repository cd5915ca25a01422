"""Every page and list with many rows: latency over HTTP and the SQL each one sends.

Used by bench/engine.py (measure_reads): it seeds the extra workflows here, then reports p50 / p95
of every dashboard page, the fragments pages poll, and every JSON list, from the running gunicorn
app, with the number of SQL statements each sends, counted in an app built in this process on
the same database, once before the rows are seeded and once after (they must not grow with the
rows; tests/dashboard/test_page_statements.py pins them).
"""
from __future__ import annotations

import secrets
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

import httpx
import sqlalchemy as sa

from models import Overlap, User, Workflow, WorkflowStep, new_workflow_id, utcnow

RUNS_EACH = 30  # runs seeded per extra workflow: a full strip of recent runs on the workflows page
SCHEDULES = ["0 9 * * 1", "*/15 * * * *", "0 7 * * 1-5", "30 8 1 * *"]
HTMX = {"HX-Request": "true"}


@dataclass(frozen=True)
class Page:
    """One row of the table: a name, the path, and whether htmx asks for it (a fragment)."""

    name: str
    path: str
    htmx: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return HTMX if self.htmx else {}


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


def timings(client: httpx.Client, path: str, count: int, headers: dict[str, str] | None = None) -> list[float]:
    """Seconds each of `count` sequential GETs took (after one that must succeed)."""
    client.get(path, headers=headers).raise_for_status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(path, headers=headers)
        times.append(time.perf_counter() - started)
    return times


def p50_p95(times: list[float]) -> str:
    """p50 / p95 in milliseconds."""
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return f"{statistics.median(times) * 1000:.1f} / {cuts[18] * 1000:.1f} ms"


def statement_counter(db_url: str, email: str, password: str) -> Callable[[Page], int]:
    """A function page -> SQL statements (BEGIN not counted) a logged-in GET of it sends, in an app built here."""
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

    def count(page: Page) -> int:
        seen.clear()
        response = client.get(page.path, headers=page.headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {page.path} answered {response.status_code}")
        return len([statement for statement in seen if not statement.startswith("BEGIN")])

    return count


def page_list(workflow_id: str, run_id: int, cursor: str) -> list[Page]:
    """Every page, the fragments pages poll, and every JSON list, on a workflow with many runs."""
    return [
        Page("/ (workflows, 30 recent runs each)", "/"), Page("/?q= (search)", "/?q=workflow+5"),
        Page("/workflows/<id>", f"/workflows/{workflow_id}"),
        Page("/workflows/<id>?status=failed", f"/workflows/{workflow_id}?status=failed"),
        Page("/workflows/<id>/edit", f"/workflows/{workflow_id}/edit"), Page("/workflows/new", "/workflows/new"),
        Page("/runs", "/runs"), Page("/runs?status=failed", "/runs?status=failed"),
        Page("/runs/<id>", f"/runs/{run_id}"), Page("/runs/<id> (htmx poll, every 2 s)", f"/runs/{run_id}", True),
        Page("/approvals", "/approvals"), Page("/approvals?tab=history", "/approvals?tab=history"),
        Page("/approvals/badge (htmx poll, every page)", "/approvals/badge", True),
        Page("/settings", "/settings"), Page("/dev/mailbox", "/dev/mailbox"),
        Page("GET /api/workflows", "/api/workflows"), Page("GET /api/workflows/<id>", f"/api/workflows/{workflow_id}"),
        Page("GET /api/workflows/<id>/runs", f"/api/workflows/{workflow_id}/runs"),
        Page("  same, with a cursor ~90% deep", f"/api/workflows/{workflow_id}/runs?cursor={cursor}"),
        Page("GET /api/runs/<id>", f"/api/runs/{run_id}"), Page("GET /api/approvals", "/api/approvals"),
        Page("GET /api/approvals?status=pending", "/api/approvals?status=pending"),
    ]


def measure(session: httpx.Client, api: httpx.Client, pages: list[Page], few: dict[str, int],
            count: Callable[[Page], int], requests: int) -> list[tuple[str, str]]:
    """Rows of the report: p50 / p95 over HTTP (the API through a token, pages through a session)
    and statements (with a few rows -> with all of them)."""
    rows = [(f"every page and list: p50 / p95 over HTTP ({requests} requests each); SQL statements "
             "before seeding -> after (an empty list skips its eager loads)", "")]
    for page in pages:
        client = api if page.path.startswith("/api/") else session
        took = p50_p95(timings(client, page.path, requests, page.headers))
        rows.append((f"  {page.name}", f"{took}; {few[page.name]} -> {count(page)} statements"))
    return rows
