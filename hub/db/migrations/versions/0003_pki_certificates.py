"""pki certificates

Revision ID: 0003_pki_certificates
Revises: 0002_ocpp201
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0003_pki_certificates'
down_revision = '0002_ocpp201'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pki_certificates',
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('subject_name_sha256', sa.String(length=64), nullable=False),
    sa.Column('issuer_name_sha256', sa.String(length=64), nullable=False),
    sa.Column('not_before', UTCDateTime(), nullable=False),
    sa.Column('not_after', UTCDateTime(), nullable=False),
    sa.Column('station_id', sa.String(length=48), nullable=True),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.Column('revocation_reason', sa.String(length=32), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('fingerprint', name=op.f('pk_pki_certificates'))
    )
    with op.batch_alter_table('pki_certificates', schema=None) as batch_op:
        batch_op.create_index('ix_pki_certificates_issuer_serial', ['issuer_name_sha256', 'serial'], unique=False)
        batch_op.create_index('ix_pki_certificates_role_not_after', ['role', 'not_after'], unique=False)
        batch_op.create_index('ix_pki_certificates_serial', ['serial'], unique=False)
        batch_op.create_index('ix_pki_certificates_station', ['station_id'], unique=False)
        batch_op.create_index('ix_pki_certificates_subject', ['subject_name_sha256'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pki_certificates', schema=None) as batch_op:
        batch_op.drop_index('ix_pki_certificates_subject')
        batch_op.drop_index('ix_pki_certificates_station')
        batch_op.drop_index('ix_pki_certificates_serial')
        batch_op.drop_index('ix_pki_certificates_role_not_after')
        batch_op.drop_index('ix_pki_certificates_issuer_serial')

    op.drop_table('pki_certificates')
