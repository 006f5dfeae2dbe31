"""broker redirects: a redirect per station, its history, and relayed rows in the message log

Revision ID: 0008_redirects
Revises: 0007_api_token_admin
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0008_redirects'
down_revision = '0007_api_token_admin'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('station_redirects',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('target_url', sa.String(length=500), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('upstream_password', sa.String(length=255), nullable=True),
    sa.Column('client_cert', sa.String(length=500), nullable=True),
    sa.Column('client_key', sa.String(length=500), nullable=True),
    sa.Column('ca_bundle', sa.String(length=500), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('station_id', name=op.f('pk_station_redirects'))
    )
    op.create_table('station_redirect_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('target_url', sa.String(length=500), nullable=True),
    sa.Column('mode', sa.String(length=8), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_redirect_history'))
    )
    with op.batch_alter_table('station_redirect_history', schema=None) as batch_op:
        batch_op.create_index('ix_station_redirect_history_station', ['station_id', 'id'], unique=False)
    with op.batch_alter_table('ocpp_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('via', sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ocpp_messages', schema=None) as batch_op:
        batch_op.drop_column('via')
    with op.batch_alter_table('station_redirect_history', schema=None) as batch_op:
        batch_op.drop_index('ix_station_redirect_history_station')
    op.drop_table('station_redirect_history')
    op.drop_table('station_redirects')
