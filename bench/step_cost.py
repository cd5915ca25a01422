"""What one step delivery and one run start cost inside the app: SQL statements, transactions, CPU.

Called by bench/engine.py on the benchmark's own database, in this process, with the domain
called directly (no HTTP) and an in-memory queue, so it measures exactly the engine's share.
Counts are deterministic (tests/engine/test_engine_statement_counts.py pins them); CPU is not.
"""
from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

from sqlalchemy import event


class MemoryQueue:
    """Accepts publishes and keeps them, so the bench can deliver them itself."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self._ids = itertools.count()

    def publish(self, message: Any) -> str:
        self.sent.append(message)
        return f"msg_bench_{next(self._ids)}"

    def upsert_schedule(self, *args: Any) -> None: ...


def measure(database_url: str, runs: int = 40, steps: int = 5) -> list[tuple[str, str]]:
    """Deliver `runs` runs of `steps` compose steps in-process; per-delivery and per-start averages."""
    from app import create_app
    from extensions import db
    from models import Trigger
    from workflows.authoring import editing, owned
    from workflows.engine import delivery, runs as run_engine
    from workflows.integrations import accounts

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "bench-" + "k" * 40})
    seen: Counter[str] = Counter()
    with app.app_context():
        services = app.extensions["stepwise"]
        services.queue = queue = MemoryQueue()
        engine = db.engine
        user_id = accounts.create_user("step-cost@example.com", "bench-password-123").id
        templates = ["first"] + [f"{{{{ steps[{i - 1}].output.text }}}} > {i}" for i in range(1, steps)]
        workflow_id = editing.create_workflow(services, user_id, {
            "goal": "bench: step cost", "steps": [{"toolName": "compose", "toolInput": {"template": t}}
                                                  for t in templates]}).id

        def statement(conn, cursor, sql, *args):  # type: ignore[no-untyped-def]
            if not sql.startswith("BEGIN"):
                seen["statements"] += 1

        def transaction(conn):  # type: ignore[no-untyped-def]
            seen["transactions"] += 1

        def start_all() -> float:
            started = time.process_time()
            for _ in range(runs):
                run_engine.start_now(services, owned.get_workflow(user_id, workflow_id), Trigger.API)
                db.session.remove()
            return time.process_time() - started

        def deliver_all() -> float:
            started = time.process_time()
            while queue.sent:
                delivery.handle_step(services, queue.sent.pop(0).body)
                db.session.remove()
            return time.process_time() - started

        start_all(), deliver_all()  # warm-up: caches, compiled statements
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "begin", transaction)
        seen.clear()
        start_cpu = start_all()
        started = dict(seen)
        seen.clear()
        deliver_cpu = deliver_all()
        delivered = dict(seen)
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "begin", transaction)
    deliveries = runs * steps
    return [
        (f"in-process cost ({runs} runs x {steps} compose steps; domain only, in-memory queue)", ""),
        ("  per step delivery: SQL statements, transactions, CPU",
         f"{delivered.get('statements', 0) / deliveries:.1f}, {delivered.get('transactions', 0) / deliveries:.1f}, "
         f"{deliver_cpu / deliveries * 1000:.2f} ms"),
        ("  per run start: SQL statements, transactions, CPU",
         f"{started.get('statements', 0) / runs:.1f}, {started.get('transactions', 0) / runs:.1f}, "
         f"{start_cpu / runs * 1000:.2f} ms"),
    ]
