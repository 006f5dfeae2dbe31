"""station secc ids

Revision ID: 0004_station_secc_ids
Revises: 0003_pki_certificates
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0004_station_secc_ids'
down_revision = '0003_pki_certificates'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('station_secc_ids',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('secc_id', sa.String(length=48), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_station_secc_ids_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('station_id', 'secc_id', name=op.f('pk_station_secc_ids'))
    )


def downgrade() -> None:
    op.drop_table('station_secc_ids')
