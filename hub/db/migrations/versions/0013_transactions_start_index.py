"""transactions: index (station_id, connector_id, start_timestamp) replaces (station_id, connector_id)

A repeated StartTransaction is recognised by station, connector and start time: with the old
index that check read every transaction the connector ever had, a cost that grew with its
history. The new index still serves every query by station and connector (its prefix).

Revision ID: 0013_transactions_start_index
Revises: 0012_console_sessions
Create Date: 2026-12-06
"""
from alembic import op

revision = '0013_transactions_start_index'
down_revision = '0012_console_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_transactions_station_connector_start', 'transactions',
                    ['station_id', 'connector_id', 'start_timestamp'], unique=False)
    op.drop_index('ix_transactions_station_connector', table_name='transactions')


def downgrade() -> None:
    op.create_index('ix_transactions_station_connector', 'transactions',
                    ['station_id', 'connector_id'], unique=False)
    op.drop_index('ix_transactions_station_connector_start', table_name='transactions')
