"""console login sessions in the database (shared by every node of a cluster)

Revision ID: 0012_console_sessions
Revises: 0011_ocpp_blocks
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0012_console_sessions'
down_revision = '0011_ocpp_blocks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('opened_at', UTCDateTime(), nullable=False),
    sa.Column('last_used', UTCDateTime(), nullable=False),
    sa.Column('flash', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name=op.f('fk_console_sessions_user_id_console_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_console_sessions'))
    )
    op.create_index(op.f('ix_console_sessions_user_id'), 'console_sessions', ['user_id'], unique=False)
    op.create_index(op.f('ix_console_sessions_last_used'), 'console_sessions', ['last_used'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_console_sessions_last_used'), table_name='console_sessions')
    op.drop_index(op.f('ix_console_sessions_user_id'), table_name='console_sessions')
    op.drop_table('console_sessions')
