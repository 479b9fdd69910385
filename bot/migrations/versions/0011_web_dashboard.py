"""the dashboard: one-time sign-in links and browser sessions (hashed secrets), settings audit list

Revision ID: 0011
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0011'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('web_login_tokens',
    sa.Column('id', ID, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('used_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_web_login_tokens_member_id_members'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_login_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_login_tokens_token_hash'))
    )
    with op.batch_alter_table('web_login_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_login_tokens_member_id'), ['member_id'], unique=False)
    op.create_table('web_sessions',
    sa.Column('id', ID, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('member_id', ID, nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_web_sessions_member_id_members'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_member_id'), ['member_id'], unique=False)

    op.create_table('setting_changes',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('member_id', ID, nullable=True),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('before', sa.String(length=2000), nullable=True),
    sa.Column('after', sa.String(length=2000), nullable=True),
    sa.Column('at', models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                            name=op.f('fk_setting_changes_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_setting_changes_member_id_members'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_setting_changes'))
    )
    with op.batch_alter_table('setting_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_setting_changes_community_id'), ['community_id'], unique=False)

    # The desk's ledger filters and sorts at 1M issues (tests/benchmarks/bench_dashboard.py).
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.create_index('ix_issues_triage', ['community_id', 'triage', 'created_at'], unique=False)
        batch_op.create_index('ix_issues_overdue', ['community_id', 'overdue', 'created_at'], unique=False)
        batch_op.create_index('ix_issues_deadline', ['community_id', 'deadline_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_index('ix_issues_deadline')
        batch_op.drop_index('ix_issues_overdue')
        batch_op.drop_index('ix_issues_triage')
    with op.batch_alter_table('setting_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_setting_changes_community_id'))
    op.drop_table('setting_changes')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_member_id'))
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))
    op.drop_table('web_sessions')
    with op.batch_alter_table('web_login_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_login_tokens_member_id'))
    op.drop_table('web_login_tokens')
