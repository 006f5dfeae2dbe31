"""diagnostics and firmware: stored files, request cycles and their history (hub/files)

Revision ID: 0005_diagnostics
Revises: 0004_station_secc_ids
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0005_diagnostics'
down_revision = '0004_station_secc_ids'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('diagnostics_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('ocpp_version', sa.String(length=8), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('log_type', sa.String(length=24), nullable=True),
    sa.Column('transport', sa.String(length=8), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('token_used_at', UTCDateTime(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('station_status', sa.String(length=32), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('parameters', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('deadline', UTCDateTime(), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_diagnostics_requests')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_diagnostics_requests_token_hash'))
    )
    with op.batch_alter_table('diagnostics_requests', schema=None) as batch_op:
        batch_op.create_index('ix_diagnostics_requests_station', ['station_id', 'id'], unique=False)

    op.create_table('file_request_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('request_type', sa.String(length=12), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('station_status', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_file_request_events'))
    )
    with op.batch_alter_table('file_request_events', schema=None) as batch_op:
        batch_op.create_index('ix_file_request_events_request', ['request_type', 'request_id'], unique=False)

    op.create_table('firmware_requests',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('ocpp_version', sa.String(length=8), nullable=False),
    sa.Column('action', sa.String(length=24), nullable=False),
    sa.Column('signed', sa.Boolean(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=200), nullable=True),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('station_status', sa.String(length=32), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('retrieve_date', UTCDateTime(), nullable=False),
    sa.Column('install_date', UTCDateTime(), nullable=True),
    sa.Column('parameters', sa.Text(), nullable=True),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.Column('last_download_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('deadline', UTCDateTime(), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_firmware_requests')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_firmware_requests_token_hash'))
    )
    with op.batch_alter_table('firmware_requests', schema=None) as batch_op:
        batch_op.create_index('ix_firmware_requests_station', ['station_id', 'id'], unique=False)

    op.create_table('stored_files',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=True),
    sa.Column('relpath', sa.String(length=400), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stored_files')),
    sa.UniqueConstraint('kind', 'name', name='uq_stored_files_kind_name'),
    sa.UniqueConstraint('relpath', name=op.f('uq_stored_files_relpath'))
    )
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.create_index('ix_stored_files_station', ['station_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.drop_index('ix_stored_files_station')

    op.drop_table('stored_files')
    with op.batch_alter_table('firmware_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_firmware_requests_station')

    op.drop_table('firmware_requests')
    with op.batch_alter_table('file_request_events', schema=None) as batch_op:
        batch_op.drop_index('ix_file_request_events_request')

    op.drop_table('file_request_events')
    with op.batch_alter_table('diagnostics_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_diagnostics_requests_station')

    op.drop_table('diagnostics_requests')
