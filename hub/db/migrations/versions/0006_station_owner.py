"""stations.organisation_key: the organisation that owns a station, set by an admin

Stations already on an organisation's charger become that organisation's in the Sites
feature's own migration (sites_api 0102_station_owner): the core knows no sites tables.

Revision ID: 0006_station_owner
Revises: 0005_diagnostics
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0006_station_owner'
down_revision = '0005_diagnostics'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation_key', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_stations_organisation_key'), ['organisation_key'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stations_organisation_key'))
        batch_op.drop_column('organisation_key')
