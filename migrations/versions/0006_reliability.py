"""reliability: mark a workflow whose schedule change is on its way to QStash

Revision ID: 0006_reliability
Revises: 0009_page_indexes
Create Date: 2026-12-01 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_reliability'
down_revision = '0009_page_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_changing_since', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_workflows_schedule_changing_since'), ['schedule_changing_since'], unique=False)


def downgrade():
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workflows_schedule_changing_since'))
        batch_op.drop_column('schedule_changing_since')
