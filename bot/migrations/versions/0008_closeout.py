"""close-out (验收销号): who closed an issue, how, and when the office's check was asked for;
a captain's proposed way (三事分流) waiting for staff

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 11:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.add_column(sa.Column('close_how', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('verify_requested_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('triage_proposed', sa.String(length=16), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_issues_closed_by_id_members'), 'members', ['closed_by_id'],
                                    ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_issues_closed_by_id_members'), type_='foreignkey')
        batch_op.drop_column('triage_proposed')
        batch_op.drop_column('verify_requested_at')
        batch_op.drop_column('close_how')
        batch_op.drop_column('closed_by_id')
