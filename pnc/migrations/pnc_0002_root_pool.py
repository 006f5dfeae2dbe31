# ruff: noqa: E501  (generated table definitions read best one constraint per line)
"""pnc: roots taken from the OPCP root certificate pool, OPCP webhook events received

Revision ID: pnc_0002_root_pool
Revises: pnc_0001_plug_and_charge
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = 'pnc_0002_root_pool'
down_revision = 'pnc_0001_plug_and_charge'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pnc_rcp_roots',
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('root_certificate_id', sa.String(length=64), nullable=True),
    sa.Column('root_type', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('first_seen_at', UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', UTCDateTime(), nullable=False),
    sa.Column('withdrawn_at', UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_pnc_rcp_roots'))
    )
    op.create_table('pnc_webhook_events',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('event_timestamp', UTCDateTime(), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_pnc_webhook_events'))
    )


def downgrade() -> None:
    op.drop_table('pnc_webhook_events')
    op.drop_table('pnc_rcp_roots')
