"""sites_api: the phases each fuse-node connector draws on (set by the operator; null = all three)

Revision ID: 0103_connector_phases
Revises: 0102_station_owner
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0103_connector_phases'
down_revision = '0102_station_owner'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fuse_node_connectors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phases', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fuse_node_connectors', schema=None) as batch_op:
        batch_op.drop_column('phases')
