"""Migrations: upgrade from empty, downgrade to base, upgrade again (SQLite and PostgreSQL)."""
import flask_migrate
import sqlalchemy as sa

from extensions import db
from tests.conftest import make_app

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
