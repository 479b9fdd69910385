"""close-out (验收销号): who closed an issue, how, and when the office's check was asked for;
a captain's proposed way (三事分流) waiting for staff

Revision ID: 0008
Revises: 0010
Create Date: 2026-12-03 11:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0008'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('departments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('name_zh', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_departments_community_id_communities'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_departments')),
    sa.UniqueConstraint('community_id', 'key', name=op.f('uq_departments_community_id_key'))
    )
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_departments_community_id'), ['community_id'], unique=False)
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.add_column(sa.Column('close_how', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('verify_requested_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('triage_proposed', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('department_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.add_column(sa.Column('referred_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('refusals', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=False, server_default='0'))
        batch_op.create_foreign_key(batch_op.f('fk_issues_department_id_departments'), 'departments',
                                    ['department_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_issues_closed_by_id_members'), 'members', ['closed_by_id'],
                                    ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_issues_department_id_departments'), type_='foreignkey')
        batch_op.drop_column('refusals')
        batch_op.drop_column('referred_at')
        batch_op.drop_column('department_id')
        batch_op.drop_constraint(batch_op.f('fk_issues_closed_by_id_members'), type_='foreignkey')
        batch_op.drop_column('triage_proposed')
        batch_op.drop_column('verify_requested_at')
        batch_op.drop_column('close_how')
        batch_op.drop_column('closed_by_id')
    with op.batch_alter_table('departments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_departments_community_id'))
    op.drop_table('departments')
