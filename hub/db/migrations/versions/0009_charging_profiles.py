"""charging profiles each station holds (from the hub's sends and ReportChargingProfiles)

Revision ID: 0009_charging_profiles
Revises: 0008_redirects
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0009_charging_profiles'
down_revision = '0008_redirects'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('station_charging_profiles',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.Integer(), nullable=False),
    sa.Column('stack_level', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('transaction_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station_charging_profiles')),
    sa.UniqueConstraint('station_id', 'profile_id', name='uq_station_charging_profiles_profile')
    )


def downgrade() -> None:
    op.drop_table('station_charging_profiles')
