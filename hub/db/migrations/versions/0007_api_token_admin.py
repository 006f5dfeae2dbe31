"""API tokens: optional expiry and last-used time (pnc-hub token list|revoke, /api/api-tokens)

Revision ID: 0007_api_token_admin
Revises: 0006_station_owner
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0007_api_token_admin'
down_revision = '0006_station_owner'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('expires_at', UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('last_used_at', UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch:
        batch.drop_column('last_used_at')
        batch.drop_column('expires_at')
