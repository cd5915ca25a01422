"""the cost guard and retry from the failed step

Revision ID: 0008_cost_guard_and_retry
Revises: 0007_fresh_approvals
Create Date: 2026-12-08 10:00:00

A workflow's monthly budget and the flag that asks the sweep to bring QStash's schedule in line
with a pause the cost guard made; a run's retry and resume counters (the n of their step
messages' dedup ids); an index that answers a workflow's spend since a date from the index alone.
Run status `paused_budget` needs no change: statuses are stored as strings.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_cost_guard_and_retry'
down_revision = '0007_fresh_approvals'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workflows') as batch:
        batch.add_column(sa.Column('budget_usd', sa.Float(), nullable=True))
        batch.add_column(sa.Column('schedule_out_of_sync', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_index('ix_workflows_schedule_out_of_sync', ['schedule_out_of_sync'])
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('retry_count', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('resume_count', sa.Integer(), nullable=False, server_default='0'))
        batch.create_index('ix_runs_workflow_created_cost', ['workflow_id', 'created_at', 'cost_usd'])


def downgrade():
    with op.batch_alter_table('runs') as batch:
        batch.drop_index('ix_runs_workflow_created_cost')
        batch.drop_column('resume_count')
        batch.drop_column('retry_count')
    with op.batch_alter_table('workflows') as batch:
        batch.drop_index('ix_workflows_schedule_out_of_sync')
        batch.drop_column('schedule_out_of_sync')
        batch.drop_column('budget_usd')
