"""sites_api: stations on an organisation's charger become that organisation's; RFID cards are
unique per organisation (one organisation no longer learns which id tags another one named)

Revision ID: 0102_station_owner
Revises: 0101_sites
Depends on: 0006_station_owner (stations.organisation_key)
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0102_station_owner'
down_revision = '0101_sites'
branch_labels = None
depends_on = '0006_station_owner'


def upgrade() -> None:
    # A station has at most one charger (chargers.station_id is unique), so at most one owner.
    op.execute(sa.text(
        "UPDATE stations SET organisation_key = ("
        " SELECT organisations.key FROM chargers"
        " JOIN sites ON sites.id = chargers.site_id"
        " JOIN organisations ON organisations.id = sites.organisation_id"
        " WHERE chargers.station_id = stations.id)"
        " WHERE organisation_key IS NULL"
        " AND EXISTS (SELECT 1 FROM chargers WHERE chargers.station_id = stations.id)"))
    with op.batch_alter_table('rfid_cards', schema=None) as batch_op:
        batch_op.drop_constraint('uq_rfid_cards_id_tag', type_='unique')
        batch_op.create_unique_constraint('uq_rfid_cards_organisation_id_id_tag',
                                          ['organisation_id', 'id_tag'])


def downgrade() -> None:
    # Going back to one card per id tag across the hub: keep the oldest card of each tag.
    op.execute(sa.text(
        "DELETE FROM rfid_cards WHERE id NOT IN ("
        " SELECT min(id) FROM rfid_cards GROUP BY id_tag)"))
    with op.batch_alter_table('rfid_cards', schema=None) as batch_op:
        batch_op.drop_constraint('uq_rfid_cards_organisation_id_id_tag', type_='unique')
        batch_op.create_unique_constraint('uq_rfid_cards_id_tag', ['id_tag'])
    # Ownership stays: it is the core's column (0006_station_owner) and an admin's decision.
