"""operator console users and their one-time login links

Revision ID: 0010_console_users
Revises: 0009_charging_profiles
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

from hub.db.base import UTCDateTime

revision = '0010_console_users'
down_revision = '0009_charging_profiles'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('organisation_key', sa.String(length=64), nullable=True),
    sa.Column('disabled_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('last_login_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_users')),
    sa.UniqueConstraint('username', name=op.f('uq_console_users_username'))
    )
    op.create_table('console_login_links',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('used_at', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['console_users.id'], name=op.f('fk_console_login_links_user_id_console_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_console_login_links'))
    )
    op.create_index(op.f('ix_console_login_links_user_id'), 'console_login_links', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_console_login_links_user_id'), table_name='console_login_links')
    op.drop_table('console_login_links')
    op.drop_table('console_users')
