"""Fixtures of the security suite; its figures join the reliability summary."""
from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from extensions import db


def row_counts(app: Any) -> dict[str, int]:
    """Rows in every table (a rejected request must leave these unchanged)."""
    with app.app_context():
        counts = {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t))
                  for t in db.metadata.sorted_tables}
        db.session.rollback()
    return counts


@pytest.fixture
def unchanged(app):  # type: ignore[no-untyped-def]
    """Call `unchanged()` to assert that no table gained or lost a row since the test began,
    apart from the API token bookkeeping of the Bearer user (last_used_at is an UPDATE)."""
    before = row_counts(app)

    def check() -> None:
        assert row_counts(app) == before

    return check


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    from tests.reliability import figures

    figures.terminal_summary(terminalreporter)



def table_rows(app: Any) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: "nothing changed" means this is equal."""
    with app.app_context():
        rows = {t.name: [tuple(r) for r in db.session.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in db.metadata.sorted_tables}
        db.session.rollback()
    return rows
