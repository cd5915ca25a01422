"""Read-only requests begin deferred and never wait for SQLite's write lock; requests that may write begin IMMEDIATE.

These run on a SQLite database of their own (the rule is SQLite's), on both CI legs.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import flask_migrate
import pytest
from sqlalchemy import event

from blueprints.transaction_mode import READ_ONLY_ENDPOINTS, is_read_only
from extensions import db
from tests.conftest import bearer, create_user_with_token, make_app
from workflows.authoring import editing


class NoQueue:
    """Accepts publishes without a network (this test is about the database)."""

    def publish(self, message):  # type: ignore[no-untyped-def]
        return "msg_test"

    def upsert_schedule(self, *args): ...  # type: ignore[no-untyped-def]


@pytest.fixture
def sqlite_app(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "mode.db"
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        flask_migrate.upgrade()
    app.extensions["stepwise"].queue = NoQueue()
    begins: list[tuple[str, str]] = []  # (thread name, statement)
    with app.app_context():
        @event.listens_for(db.engine, "before_cursor_execute")
        def _record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            if statement.startswith("BEGIN"):
                begins.append((threading.current_thread().name, statement))
    user_id, token = create_user_with_token(app, "mode@example.com")
    with app.app_context():
        workflow_id = editing.create_workflow(app.extensions["stepwise"], user_id, {
            "goal": "modes", "steps": [{"toolName": "compose", "toolInput": {"template": "x"}}]}).id
    yield app, path, token, workflow_id, begins
    with app.app_context():
        db.engine.dispose()


def test_every_read_only_endpoint_is_a_get_route_and_only_its_gets_are_read_only(app):
    routes = {rule.endpoint: rule.methods for rule in app.url_map.iter_rules()}
    for endpoint in READ_ONLY_ENDPOINTS:
        assert endpoint in routes and "GET" in routes[endpoint], f"{endpoint} is listed but has no GET route"
    assert is_read_only("auth.login", "GET") and not is_read_only("auth.login", "POST")
    assert not is_read_only("linkedin.callback", "GET")  # a GET that stores the connection
    assert not is_read_only("dashboard.verify_notification_email", "GET")  # opening the link verifies
    assert not is_read_only("qstash.run_step", "POST") and not is_read_only(None, "GET")


def test_reads_begin_deferred_and_writes_begin_immediate(sqlite_app):
    app, _, token, workflow_id, begins = sqlite_app
    client = app.test_client()
    assert client.get("/api/workflows", headers=bearer(token)).status_code == 200  # records the token's use
    begins.clear()
    for path in ("/api/workflows", f"/api/workflows/{workflow_id}"):
        assert client.get(path, headers=bearer(token)).status_code == 200
    assert begins and {statement for _, statement in begins} == {"BEGIN"}
    begins.clear()
    # /healthz asks for the write lock: a database no step can write to is not healthy.
    assert client.get("/healthz").status_code == 200
    assert begins and {statement for _, statement in begins} == {"BEGIN IMMEDIATE"}
    begins.clear()
    assert client.post(f"/api/workflows/{workflow_id}/runs", headers=bearer(token)).status_code == 202
    assert begins and {statement for _, statement in begins} == {"BEGIN IMMEDIATE"}


def test_a_page_is_served_while_another_writer_holds_the_lock_and_a_write_waits(sqlite_app):
    app, path, token, workflow_id, begins = sqlite_app
    client = app.test_client()
    client.get("/api/workflows", headers=bearer(token))  # the token's use is recorded before the lock
    holder = sqlite3.connect(path, isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # another process's write transaction
    with ThreadPoolExecutor(1, thread_name_prefix="writer") as pool:
        try:
            started = pool.submit(lambda: app.test_client().post(
                f"/api/workflows/{workflow_id}/runs", headers=bearer(token)).status_code)
            deadline = time.monotonic() + 10
            while not any(name.startswith("writer") and s == "BEGIN IMMEDIATE" for name, s in begins):
                assert time.monotonic() < deadline, "the run start never began its transaction"
                time.sleep(0.01)
            page = client.get(f"/api/workflows/{workflow_id}/runs", headers=bearer(token))
            assert page.status_code == 200  # read while the lock is held elsewhere
            assert not started.done(), "the run start did not wait for the write lock"
        finally:
            holder.execute("COMMIT")
            holder.close()
        assert started.result(timeout=30) == 202
