"""Migrations: upgrade from empty, downgrade to base, upgrade again (SQLite and PostgreSQL)."""
from datetime import datetime

import flask_migrate
import sqlalchemy as sa
from alembic.migration import MigrationContext

from extensions import db
from models import Trigger, Workflow, utcnow
from tests.conftest import add_user, make_app
from tests.support.memory_queue import MemoryQueue
from workflows.authoring import editing
from workflows.engine import runs, schedules

TABLES = {
    "users", "api_tokens", "login_attempts", "workflows", "workflow_steps", "runs", "run_steps",
    "messages", "assets", "approvals", "outbox", "pending_publishes", "credentials", "user_sessions",
}


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_downgrade_upgrade(app):
    with app.app_context():
        assert TABLES <= _tables()
        flask_migrate.downgrade(revision="base")
        assert not (TABLES & _tables())
        flask_migrate.upgrade()
        assert TABLES <= _tables()
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("run_steps")}
        assert {"tool_name", "tool_input", "instruction", "needs_approval", "claim_token",
                "lease_expires_at", "effect_started_at"} <= columns


# A workflow's rows and its children's, by table; every revision must keep them all.
KEPT = ("users", "workflows", "workflow_steps", "runs", "run_steps", "pending_publishes")
FIRST = "0001_initial"


def _counts() -> dict[str, int]:
    counts = {table: db.session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() for table in KEPT}
    db.session.commit()
    return counts


def _revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_no_migration_deletes_a_workflows_steps_or_runs(app):
    """Down to the first revision and back up, one at a time, with rows in the tables and foreign
    keys on: a table rebuilt by a batch operation (dropped, then its copy renamed) must not take
    its children with it through ON DELETE CASCADE, as rebuilding `workflows` once did."""
    services = app.extensions["stepwise"]
    services.queue = MemoryQueue()
    with app.app_context():
        owner = add_user("owner@example.com").id
        workflow = editing.create_workflow(services, owner, {"goal": "g", "schedule": "0 9 * * *", "steps": [
            {"toolName": "compose", "toolInput": {"template": "x"}}]})
        runs.start_now(services, workflow, Trigger.API)
        kept, head = _counts(), _revision()
        assert min(kept.values()) >= 1, kept
        walked = []
        try:
            while _revision() != FIRST:
                flask_migrate.downgrade(revision="-1")
                walked.append((_revision(), _counts()))
            while _revision() != head:
                flask_migrate.upgrade(revision="+1")
                walked.append((_revision(), _counts()))
        finally:
            flask_migrate.upgrade()  # the other tests need the head, whatever happened
        assert walked and [counts for _, counts in walked] == [kept] * len(walked), walked


def test_a_schedule_the_cost_guard_left_out_of_sync_is_due_for_the_sweep_after_0011(app):
    """0011 drops `schedule_out_of_sync`; a workflow it still flagged gets a mark the next sweep repairs."""
    with app.app_context():
        flask_migrate.downgrade(revision="0006_reliability")
        try:
            owner = add_user("owner@example.com").id
            for workflow_id, flagged in (("flagged", True), ("in_sync", False)):
                db.session.execute(sa.text(
                    "INSERT INTO workflows (id, owner_id, goal, schedule, timezone, paused, overlap, created_at, "
                    "updated_at, schedule_out_of_sync) VALUES (:id, :owner, 'g', '0 9 * * *', 'UTC', :paused, "
                    "'skip', :now, :now, :flagged)"),
                    {"id": workflow_id, "owner": owner, "paused": flagged, "now": datetime(2026, 1, 1),
                     "flagged": flagged})
            db.session.commit()
        finally:
            flask_migrate.upgrade()
        marks = {w.id: w.schedule_changing_since for w in db.session.scalars(sa.select(Workflow))}
        db.session.commit()
        assert marks["in_sync"] is None
        assert marks["flagged"] <= schedules.due(utcnow())
        assert "schedule_out_of_sync" not in {c["name"] for c in sa.inspect(db.engine).get_columns("workflows")}


def test_migrations_match_the_models(app):
    """Autogenerate finds nothing to do: the models and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with app.app_context(), db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diff == []


def test_sqlite_pragmas(tmp_path):
    """WAL, foreign keys, a busy timeout and a small page cache on every SQLite connection.

    On an app of its own over a SQLite file, so that it checks them on PostgreSQL legs too
    (it used to return early there, passing without asserting anything).
    """
    app = make_app(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with app.app_context():
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 15000
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -512  # KiB, per connection
        db.engine.dispose()
