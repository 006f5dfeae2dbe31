"""core tables

Revision ID: 0001_core
Revises: 
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=255), nullable=False),
    sa.Column('organisation_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('id_tags',
    sa.Column('id_tag', sa.String(length=36), nullable=False),
    sa.Column('parent_id_tag', sa.String(length=36), nullable=True),
    sa.Column('expiry_date', UTCDateTime(), nullable=True),
    sa.Column('blocked', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id_tag', name=op.f('pk_id_tags'))
    )
    op.create_table('latest_readings',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('measurand', sa.String(length=48), nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=False),
    sa.Column('location', sa.String(length=8), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('numeric_value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('timestamp', UTCDateTime(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('station_id', 'connector_id', 'measurand', 'phase', 'location', name=op.f('pk_latest_readings'))
    )
    op.create_table('meter_values',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('timestamp', UTCDateTime(), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('numeric_value', sa.Float(), nullable=True),
    sa.Column('context', sa.String(length=32), nullable=True),
    sa.Column('format', sa.String(length=16), nullable=True),
    sa.Column('measurand', sa.String(length=48), nullable=False),
    sa.Column('phase', sa.String(length=8), nullable=True),
    sa.Column('location', sa.String(length=8), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meter_values'))
    )
    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.create_index('ix_meter_values_station_connector_ts', ['station_id', 'connector_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_meter_values_transaction', ['transaction_id'], unique=False)

    op.create_table('ocpp_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('message_type', sa.SmallInteger(), nullable=False),
    sa.Column('unique_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('timestamp', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocpp_messages'))
    )
    with op.batch_alter_table('ocpp_messages', schema=None) as batch_op:
        batch_op.create_index('ix_ocpp_messages_station_ts', ['station_id', 'timestamp'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('ordering_key', sa.String(length=128), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=True),
    sa.Column('delivered_at', UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['topic', 'delivered_at', 'id'], unique=False)

    op.create_table('station_notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=50), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('timestamp', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_notifications'))
    )
    with op.batch_alter_table('station_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_station_notifications_station_kind', ['station_id', 'kind'], unique=False)

    op.create_table('stations',
    sa.Column('id', sa.String(length=48), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('registration_status', sa.String(length=16), nullable=False),
    sa.Column('ocpp_version', sa.String(length=8), nullable=True),
    sa.Column('vendor', sa.String(length=50), nullable=True),
    sa.Column('model', sa.String(length=50), nullable=True),
    sa.Column('serial_number', sa.String(length=50), nullable=True),
    sa.Column('charge_box_serial_number', sa.String(length=50), nullable=True),
    sa.Column('firmware_version', sa.String(length=50), nullable=True),
    sa.Column('iccid', sa.String(length=20), nullable=True),
    sa.Column('imsi', sa.String(length=20), nullable=True),
    sa.Column('meter_type', sa.String(length=25), nullable=True),
    sa.Column('meter_serial_number', sa.String(length=25), nullable=True),
    sa.Column('boot_status', sa.String(length=16), nullable=True),
    sa.Column('last_boot_at', UTCDateTime(), nullable=True),
    sa.Column('last_seen_at', UTCDateTime(), nullable=True),
    sa.Column('connected', sa.Boolean(), nullable=False),
    sa.Column('connected_at', UTCDateTime(), nullable=True),
    sa.Column('disconnected_at', UTCDateTime(), nullable=True),
    sa.Column('local_list_version', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stations'))
    )
    op.create_table('connectors',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('error_code', sa.String(length=30), nullable=True),
    sa.Column('info', sa.String(length=50), nullable=True),
    sa.Column('vendor_id', sa.String(length=255), nullable=True),
    sa.Column('vendor_error_code', sa.String(length=50), nullable=True),
    sa.Column('status_timestamp', UTCDateTime(), nullable=True),
    sa.Column('availability', sa.String(length=12), nullable=False),
    sa.Column('current_transaction_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_connectors_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'connector_id', name=op.f('pk_connectors'))
    )
    op.create_table('reservations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('id_tag', sa.String(length=36), nullable=False),
    sa.Column('parent_id_tag', sa.String(length=36), nullable=True),
    sa.Column('expiry_date', UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_reservations_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations'))
    )
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index('ix_reservations_station', ['station_id'], unique=False)

    op.create_table('station_configuration',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('readonly', sa.Boolean(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_configuration_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'key', name=op.f('pk_station_configuration'))
    )
    op.create_table('transactions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('ocpp_transaction_id', sa.String(length=36), nullable=True),
    sa.Column('id_tag', sa.String(length=36), nullable=True),
    sa.Column('id_tag_status', sa.String(length=16), nullable=True),
    sa.Column('meter_start', sa.BigInteger(), nullable=True),
    sa.Column('start_timestamp', UTCDateTime(), nullable=False),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.Column('meter_stop', sa.BigInteger(), nullable=True),
    sa.Column('stop_timestamp', UTCDateTime(), nullable=True),
    sa.Column('stop_reason', sa.String(length=32), nullable=True),
    sa.Column('stop_id_tag', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_transactions_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions')),
    sa.UniqueConstraint('station_id', 'ocpp_transaction_id', name='uq_transactions_ocpp_id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_station_connector', ['station_id', 'connector_id'], unique=False)
        batch_op.create_index('ix_transactions_status', ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_status')
        batch_op.drop_index('ix_transactions_station_connector')

    op.drop_table('transactions')
    op.drop_table('station_configuration')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_reservations_station')

    op.drop_table('reservations')
    op.drop_table('connectors')
    op.drop_table('stations')
    with op.batch_alter_table('station_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_station_notifications_station_kind')

    op.drop_table('station_notifications')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    with op.batch_alter_table('ocpp_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_ocpp_messages_station_ts')

    op.drop_table('ocpp_messages')
    with op.batch_alter_table('meter_values', schema=None) as batch_op:
        batch_op.drop_index('ix_meter_values_transaction')
        batch_op.drop_index('ix_meter_values_station_connector_ts')

    op.drop_table('meter_values')
    op.drop_table('latest_readings')
    op.drop_table('id_tags')
    op.drop_table('api_tokens')
