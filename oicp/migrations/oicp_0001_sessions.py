# ruff: noqa: E501  (generated table definitions read best one constraint per line)
"""oicp: Hubject sessions linked to OCPP transactions

Revision ID: oicp_0001
Revises: 0001_core
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = 'oicp_0001'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oicp_sessions',
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('provider_id', sa.String(length=16), nullable=True),
    sa.Column('evse_id', sa.String(length=48), nullable=True),
    sa.Column('station_id', sa.String(length=48), nullable=True),
    sa.Column('connector_id', sa.Integer(), nullable=True),
    sa.Column('id_tag', sa.String(length=36), nullable=True),
    sa.Column('identification', sa.JSON(), nullable=True),
    sa.Column('stop_identifications', sa.JSON(), nullable=True),
    sa.Column('emp_partner_session_id', sa.String(length=250), nullable=True),
    sa.Column('cpo_partner_session_id', sa.String(length=250), nullable=True),
    sa.Column('partner_product_id', sa.String(length=50), nullable=True),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('reservation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=True),
    sa.Column('ended_at', UTCDateTime(), nullable=True),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('last_progress_at', UTCDateTime(), nullable=True),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('session_id', name=op.f('pk_oicp_sessions'))
    )
    op.create_index('ix_oicp_sessions_station_state', 'oicp_sessions', ['station_id', 'state'], unique=False)
    op.create_index('ix_oicp_sessions_transaction', 'oicp_sessions', ['station_id', 'transaction_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_oicp_sessions_transaction', table_name='oicp_sessions')
    op.drop_index('ix_oicp_sessions_station_state', table_name='oicp_sessions')
    op.drop_table('oicp_sessions')
