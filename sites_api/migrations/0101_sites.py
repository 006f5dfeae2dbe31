# ruff: noqa: E501  (generated table definitions read best one constraint per line)
"""sites_api: organisations, sites, local controllers, fuse trees, chargers, ports, rfid cards

Revision ID: 0101_sites
Revises: 0001_core
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0101_sites'
down_revision = '0001_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('organisations',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('key', name=op.f('uq_organisations_key'))
    )
    op.create_table('sites',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('reference_id', sa.String(length=100), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('street', sa.String(length=100), nullable=True),
    sa.Column('house_number', sa.String(length=10), nullable=True),
    sa.Column('postal_code', sa.String(length=10), nullable=True),
    sa.Column('city', sa.String(length=50), nullable=True),
    sa.Column('region', sa.String(length=50), nullable=True),
    sa.Column('country', sa.String(length=3), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_sites_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites'))
    )
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.create_index('ix_sites_organisation_id', ['organisation_id', 'id'], unique=False)
        batch_op.create_index('ix_sites_reference_id', ['reference_id'], unique=False)

    op.create_table('vehicles',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('make', sa.String(length=50), nullable=True),
    sa.Column('model', sa.String(length=50), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('vin', sa.String(length=17), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_vehicles_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vehicles'))
    )
    op.create_table('chargers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=True),
    sa.Column('manufacturer', sa.String(length=50), nullable=True),
    sa.Column('model', sa.String(length=50), nullable=True),
    sa.Column('serial_number', sa.String(length=50), nullable=True),
    sa.Column('firmware_version', sa.String(length=50), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_chargers_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_chargers_station_id_stations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chargers')),
    sa.UniqueConstraint('station_id', name=op.f('uq_chargers_station_id'))
    )
    with op.batch_alter_table('chargers', schema=None) as batch_op:
        batch_op.create_index('ix_chargers_site_id', ['site_id'], unique=False)

    op.create_table('fuse_nodes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('limit', sa.Float(), nullable=True),
    sa.Column('inbound_limit', sa.Float(), nullable=True),
    sa.Column('outbound_limit', sa.Float(), nullable=True),
    sa.Column('fallback', sa.Float(), nullable=True),
    sa.Column('pending_fallback_value', sa.Float(), nullable=True),
    sa.Column('fallback_status', sa.String(length=40), nullable=True),
    sa.Column('order', sa.Integer(), nullable=False),
    sa.Column('fuse_id', sa.String(length=64), nullable=True),
    sa.Column('firmware_version', sa.String(length=50), nullable=True),
    sa.Column('additional_comments', sa.Text(), nullable=True),
    sa.Column('meter', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['fuse_nodes.id'], name=op.f('fk_fuse_nodes_parent_id_fuse_nodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_fuse_nodes_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fuse_nodes'))
    )
    with op.batch_alter_table('fuse_nodes', schema=None) as batch_op:
        batch_op.create_index('ix_fuse_nodes_site_id', ['site_id'], unique=False)

    op.create_table('local_controllers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('serial_no', sa.String(length=100), nullable=True),
    sa.Column('device_id', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_local_controllers_site_id_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_controllers')),
    sa.UniqueConstraint('site_id', name=op.f('uq_local_controllers_site_id'))
    )
    op.create_table('rfid_cards',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('id_tag', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('customer_name', sa.String(length=200), nullable=True),
    sa.Column('vehicle_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_rfid_cards_organisation_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vehicle_id'], ['vehicles.id'], name=op.f('fk_rfid_cards_vehicle_id_vehicles'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rfid_cards')),
    sa.UniqueConstraint('id_tag', name=op.f('uq_rfid_cards_id_tag'))
    )
    op.create_table('fuse_node_connectors',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('connector_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=True),
    sa.Column('charging_capability', sa.JSON(), nullable=False),
    sa.Column('discharge_capability', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['fuse_nodes.id'], name=op.f('fk_fuse_node_connectors_node_id_fuse_nodes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_fuse_node_connectors_site_id_sites'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_fuse_node_connectors_station_id_stations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fuse_node_connectors'))
    )
    with op.batch_alter_table('fuse_node_connectors', schema=None) as batch_op:
        batch_op.create_index('ix_fuse_node_connectors_node_id', ['node_id'], unique=False)
        batch_op.create_index('ix_fuse_node_connectors_site_id', ['site_id'], unique=False)

    op.create_table('ports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('charger_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('port_number', sa.Integer(), nullable=False),
    sa.Column('maximum_power_kw', sa.Float(), nullable=True),
    sa.Column('connector_type', sa.String(length=16), nullable=False),
    sa.Column('power_type', sa.String(length=12), nullable=True),
    sa.Column('evse_id', sa.String(length=48), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['charger_id'], ['chargers.id'], name=op.f('fk_ports_charger_id_chargers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ports')),
    sa.UniqueConstraint('charger_id', 'port_number', name='uq_ports_charger_port_number'),
    sa.UniqueConstraint('evse_id', name=op.f('uq_ports_evse_id'))
    )


def downgrade() -> None:
    op.drop_table('ports')
    with op.batch_alter_table('fuse_node_connectors', schema=None) as batch_op:
        batch_op.drop_index('ix_fuse_node_connectors_site_id')
        batch_op.drop_index('ix_fuse_node_connectors_node_id')

    op.drop_table('fuse_node_connectors')
    op.drop_table('rfid_cards')
    op.drop_table('local_controllers')
    with op.batch_alter_table('fuse_nodes', schema=None) as batch_op:
        batch_op.drop_index('ix_fuse_nodes_site_id')

    op.drop_table('fuse_nodes')
    with op.batch_alter_table('chargers', schema=None) as batch_op:
        batch_op.drop_index('ix_chargers_site_id')

    op.drop_table('chargers')
    op.drop_table('vehicles')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_index('ix_sites_reference_id')
        batch_op.drop_index('ix_sites_organisation_id')

    op.drop_table('sites')
    op.drop_table('organisations')
