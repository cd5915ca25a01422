"""one repair for a QStash schedule that may disagree with the database

Revision ID: 0011_one_schedule_repair
Revises: 0006_reliability
Create Date: 2026-12-10 10:00:00

The cost guard's pause now marks the workflow with `schedule_changing_since`, as a schedule
change does, so its own flag `schedule_out_of_sync` goes. A workflow still flagged when this runs
gets a mark long past, which the next sweep repairs (it pushes the database's state to QStash).

Plain ALTER TABLE (DROP COLUMN needs SQLite 3.35+, as 0009 does), not a batch rebuild: nothing
copies `workflows`, and a rebuild could not delete its children anyway (env.py turns SQLite's
foreign keys off while migrating). The index goes first: SQLite refuses to drop an indexed column.
"""
from datetime import datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_one_schedule_repair'
down_revision = '0006_reliability'
branch_labels = None
depends_on = None

_workflows = sa.table('workflows', sa.column('schedule_out_of_sync', sa.Boolean()),
                      sa.column('schedule_changing_since', sa.DateTime()))
# Naive UTC, as every timestamp column stores it; any mark older than a minute is due.
_LONG_PAST = datetime(2000, 1, 1)


def upgrade():
    op.execute(_workflows.update()
               .where(_workflows.c.schedule_out_of_sync == sa.true(), _workflows.c.schedule_changing_since.is_(None))
               .values(schedule_changing_since=_LONG_PAST))
    op.drop_index('ix_workflows_schedule_out_of_sync', table_name='workflows')
    op.drop_column('workflows', 'schedule_out_of_sync')


def downgrade():
    # The marks stay: the older code's sweep repairs every mark it finds, including the cost guard's.
    op.add_column('workflows', sa.Column('schedule_out_of_sync', sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    op.create_index('ix_workflows_schedule_out_of_sync', 'workflows', ['schedule_out_of_sync'])
