"""fresh approvals: the run that superseded a run

Revision ID: 0007_fresh_approvals
Revises: 0005_perf_indexes
Create Date: 2026-12-08 10:00:00

Overlap `supersede` (issue 13) ends a run still awaiting approval when the next tick comes and
records which run took its place, so its approval can say "superseded by the run of <time>".
The new statuses (`superseded` for runs and approvals, `supersede` for overlap) are plain
strings (`native_enum=False`, no CHECK constraint) and need no change here.

A plain column, no foreign key: on SQLite a foreign key would mean rebuilding `runs`, and
dropping the old table would cascade into every run's steps and approvals.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_fresh_approvals'
down_revision = '0005_perf_indexes'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('runs', sa.Column('superseded_by_id', sa.Integer(), nullable=True))


def downgrade():
    # Not in batch mode: SQLite (3.35+) drops a column in place; a batch would rebuild `runs`.
    op.drop_column('runs', 'superseded_by_id')
