# ruff: noqa: E501  (generated table definitions read best one constraint per line)
"""pnc: lifecycle jobs, installed certificates per station, inventory reports, OCSP answers

Revision ID: pnc_0001_plug_and_charge
Revises: 0004_station_secc_ids
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = 'pnc_0001_plug_and_charge'
down_revision = '0004_station_secc_ids'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pnc_installed_certificates',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('certificate_type', sa.String(length=32), nullable=False),
    sa.Column('hash_algorithm', sa.String(length=8), nullable=False),
    sa.Column('issuer_name_hash', sa.String(length=128), nullable=False),
    sa.Column('issuer_key_hash', sa.String(length=128), nullable=False),
    sa.Column('serial_number', sa.String(length=64), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=12), nullable=False),
    sa.Column('seen_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pnc_installed_certificates')),
    sa.UniqueConstraint('station_id', 'certificate_type', 'hash_algorithm', 'issuer_name_hash', 'issuer_key_hash', 'serial_number', name='uq_pnc_installed_certificates_hash')
    )
    op.create_index(op.f('ix_pnc_installed_certificates_station_id'), 'pnc_installed_certificates', ['station_id'], unique=False)
    op.create_table('pnc_inventory_reports',
    sa.Column('station_id', sa.String(length=48), nullable=False),
    sa.Column('certificate_type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reported_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('station_id', 'certificate_type', name=op.f('pk_pnc_inventory_reports'))
    )
    op.create_table('pnc_jobs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('step', sa.String(length=24), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_run_at', UTCDateTime(), nullable=True),
    sa.Column('lease_until', UTCDateTime(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('finished_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pnc_jobs')),
    sa.UniqueConstraint('key', name=op.f('uq_pnc_jobs_key'))
    )
    op.create_index('ix_pnc_jobs_due', 'pnc_jobs', ['state', 'next_run_at'], unique=False)
    op.create_index('ix_pnc_jobs_station', 'pnc_jobs', ['station_id', 'state'], unique=False)
    op.create_table('pnc_ocsp_responses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('hash_algorithm', sa.String(length=8), nullable=False),
    sa.Column('issuer_name_hash', sa.String(length=128), nullable=False),
    sa.Column('issuer_key_hash', sa.String(length=128), nullable=False),
    sa.Column('serial_number', sa.String(length=64), nullable=False),
    sa.Column('responder_url', sa.String(length=512), nullable=False),
    sa.Column('cert_status', sa.String(length=8), nullable=True),
    sa.Column('der', sa.LargeBinary(), nullable=True),
    sa.Column('this_update', UTCDateTime(), nullable=True),
    sa.Column('next_update', UTCDateTime(), nullable=True),
    sa.Column('fetched_at', UTCDateTime(), nullable=True),
    sa.Column('requested_at', UTCDateTime(), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pnc_ocsp_responses')),
    sa.UniqueConstraint('hash_algorithm', 'issuer_name_hash', 'issuer_key_hash', 'serial_number', name='uq_pnc_ocsp_responses_cert_id')
    )
    op.create_index('ix_pnc_ocsp_responses_next_update', 'pnc_ocsp_responses', ['next_update'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_pnc_ocsp_responses_next_update', table_name='pnc_ocsp_responses')
    op.drop_table('pnc_ocsp_responses')
    op.drop_index('ix_pnc_jobs_station', table_name='pnc_jobs')
    op.drop_index('ix_pnc_jobs_due', table_name='pnc_jobs')
    op.drop_table('pnc_jobs')
    op.drop_table('pnc_inventory_reports')
    op.drop_index(op.f('ix_pnc_installed_certificates_station_id'), table_name='pnc_installed_certificates')
    op.drop_table('pnc_installed_certificates')
