"""OCPP blocks: station report parts, monitors, display messages, network profiles, id-token
erasures, tariffs and transaction costs

Revision ID: 0011_ocpp_blocks
Revises: 0009_charging_profiles
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0011_ocpp_blocks'
down_revision = '0010_console_users'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def _held(name: str, key: str, body: str, unique: str, source: bool = True) -> None:
    columns = [
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('station_id', sa.String(length=48), nullable=False),
        sa.Column(key, sa.Integer(), nullable=False),
        sa.Column(body, sa.JSON(), nullable=False),
    ]
    if source:
        columns.append(sa.Column('source', sa.String(length=16), nullable=False))
    columns.append(sa.Column('updated_at', UTCDateTime(), nullable=False))
    op.create_table(name, *columns,
                    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
                    sa.UniqueConstraint('station_id', key, name=unique))


def upgrade() -> None:
    op.create_table('station_report_parts',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('seq_no', sa.Integer(), nullable=False),
    sa.Column('tbc', sa.Boolean(), nullable=False),
    sa.Column('generated_at', UTCDateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_report_parts')),
    sa.UniqueConstraint('station_id', 'kind', 'request_id', 'seq_no',
                        name='uq_station_report_parts_part')
    )
    _held('station_monitors', 'monitor_id', 'monitor', 'uq_station_monitors_monitor')
    _held('station_display_messages', 'message_id', 'message',
          'uq_station_display_messages_message')
    _held('station_network_profiles', 'configuration_slot', 'connection_data',
          'uq_station_network_profiles_slot', source=False)
    op.create_table('id_token_erasures',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('pseudonym', sa.String(length=36), nullable=False),
    sa.Column('transactions', sa.Integer(), nullable=False),
    sa.Column('erased_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_id_token_erasures')),
    sa.UniqueConstraint('pseudonym', name=op.f('uq_id_token_erasures_pseudonym'))
    )
    op.create_table('tariffs',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('energy_price', sa.Float(), nullable=False),
    sa.Column('time_price', sa.Float(), nullable=False),
    sa.Column('session_fee', sa.Float(), nullable=False),
    sa.Column('tax_percent', sa.Float(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tariffs')),
    sa.UniqueConstraint('station_id', 'connector_id', name='uq_tariffs_station_connector')
    )
    op.create_table('transaction_costs',
    sa.Column('transaction_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('net', sa.Float(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('energy_wh', sa.Float(), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('final', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('transaction_id', name=op.f('pk_transaction_costs'))
    )


def downgrade() -> None:
    for name in ('transaction_costs', 'tariffs', 'id_token_erasures', 'station_network_profiles', 'station_display_messages',
                 'station_monitors', 'station_report_parts'):
        op.drop_table(name)
