# ruff: noqa: E501  (generated table definitions read best one constraint per line)
"""oicp: signed meter values (Eichrecht) of transactions, for the CDR; when energy stopped

Revision ID: oicp_0002_signed_meter_values
Revises: oicp_0001
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = 'oicp_0002_signed_meter_values'
down_revision = 'oicp_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oicp_signed_meter_values',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('timestamp', UTCDateTime(), nullable=False),
    sa.Column('context', sa.String(length=32), nullable=True),
    sa.Column('measurand', sa.String(length=48), nullable=True),
    sa.Column('format', sa.String(length=20), nullable=False),
    sa.Column('signed_data', sa.Text(), nullable=False),
    sa.Column('signing_method', sa.String(length=50), nullable=True),
    sa.Column('encoding_method', sa.String(length=50), nullable=True),
    sa.Column('public_key', sa.Text(), nullable=True),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oicp_signed_meter_values'))
    )
    op.create_index('ix_oicp_signed_meter_values_transaction', 'oicp_signed_meter_values', ['transaction_id'], unique=False)
    with op.batch_alter_table('oicp_sessions') as batch:
        batch.add_column(sa.Column('charging_ended_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oicp_sessions') as batch:
        batch.drop_column('charging_ended_at')
    op.drop_index('ix_oicp_signed_meter_values_transaction', table_name='oicp_signed_meter_values')
    op.drop_table('oicp_signed_meter_values')
