"""OCPP 2.0.1 core tables

TransactionEvent stream and transaction details, EVSE connectors, device model, charging
reports (hub/db/models201.py).

Revision ID: 0002_ocpp201
Revises: 0001_core
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0002_ocpp201'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('charging_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charging_reports'))
    )
    with op.batch_alter_table('charging_reports', schema=None) as batch_op:
        batch_op.create_index('ix_charging_reports_station_kind', ['station_id', 'kind'], unique=False)

    op.create_table('transaction_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('ocpp_transaction_id', sa.String(length=36), nullable=False),
    sa.Column('seq_no', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=8), nullable=False),
    sa.Column('trigger_reason', sa.String(length=32), nullable=False),
    sa.Column('timestamp', UTCDateTime(), nullable=False),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('charging_state', sa.String(length=16), nullable=True),
    sa.Column('evse_id', sa.Integer(), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('id_token', sa.String(length=36), nullable=True),
    sa.Column('id_token_type', sa.String(length=20), nullable=True),
    sa.Column('stopped_reason', sa.String(length=32), nullable=True),
    sa.Column('meter_values', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transaction_events')),
    sa.UniqueConstraint('station_id', 'ocpp_transaction_id', 'seq_no', name='uq_transaction_events_seq')
    )
    with op.batch_alter_table('transaction_events', schema=None) as batch_op:
        batch_op.create_index('ix_transaction_events_transaction', ['transaction_id'], unique=False)

    op.create_table('device_reports',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('generated_at', UTCDateTime(), nullable=True),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('last_seq_no', sa.Integer(), nullable=True),
    sa.Column('variables', sa.Integer(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_device_reports_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'request_id', name=op.f('pk_device_reports'))
    )
    op.create_table('device_variables',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('component', sa.String(length=50), nullable=False),
    sa.Column('component_instance', sa.String(length=50), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('variable', sa.String(length=50), nullable=False),
    sa.Column('variable_instance', sa.String(length=50), nullable=False),
    sa.Column('attribute_type', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=2500), nullable=True),
    sa.Column('mutability', sa.String(length=10), nullable=True),
    sa.Column('persistent', sa.Boolean(), nullable=True),
    sa.Column('constant', sa.Boolean(), nullable=True),
    sa.Column('data_type', sa.String(length=20), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('min_limit', sa.Float(), nullable=True),
    sa.Column('max_limit', sa.Float(), nullable=True),
    sa.Column('values_list', sa.String(length=1000), nullable=True),
    sa.Column('supports_monitoring', sa.Boolean(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_device_variables_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'component', 'component_instance', 'evse_id', 'connector_id', 'variable', 'variable_instance', 'attribute_type', name=op.f('pk_device_variables'))
    )
    op.create_table('evse_connectors',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_timestamp', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_evse_connectors_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'evse_id', 'connector_id', name=op.f('pk_evse_connectors'))
    )
    op.create_table('transactions_201',
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('ocpp_transaction_id', sa.String(length=36), nullable=False),
    sa.Column('evse_id', sa.Integer(), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('charging_state', sa.String(length=16), nullable=True),
    sa.Column('id_token_type', sa.String(length=20), nullable=True),
    sa.Column('remote_start_id', sa.Integer(), nullable=True),
    sa.Column('offline', sa.Boolean(), nullable=False),
    sa.Column('started_seen', sa.Boolean(), nullable=False),
    sa.Column('ended_seen', sa.Boolean(), nullable=False),
    sa.Column('last_seq_no', sa.Integer(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('meter_start_at', UTCDateTime(), nullable=True),
    sa.Column('meter_start_begin', sa.Boolean(), nullable=False),
    sa.Column('last_energy_wh', sa.BigInteger(), nullable=True),
    sa.Column('last_energy_at', UTCDateTime(), nullable=True),
    sa.Column('last_energy_end', sa.Boolean(), nullable=False),
    sa.Column('time_spent_charging', sa.Integer(), nullable=True),
    sa.Column('stopped_reason', sa.String(length=32), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['transactions.id'], name=op.f('fk_transactions_201_transaction_id_transactions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_transactions_201')),
    sa.UniqueConstraint('station_id', 'ocpp_transaction_id', name='uq_transactions_201_ocpp_id')
    )


def downgrade() -> None:
    op.drop_table('transactions_201')
    op.drop_table('evse_connectors')
    op.drop_table('device_variables')
    op.drop_table('device_reports')
    with op.batch_alter_table('transaction_events', schema=None) as batch_op:
        batch_op.drop_index('ix_transaction_events_transaction')

    op.drop_table('transaction_events')
    with op.batch_alter_table('charging_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_charging_reports_station_kind')

    op.drop_table('charging_reports')
