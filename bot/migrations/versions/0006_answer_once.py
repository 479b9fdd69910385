"""an answer to a question of the team names the question (answered once)

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 10:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer_to_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_issue_events_answer_to_id'), ['answer_to_id'])
        batch_op.create_foreign_key(batch_op.f('fk_issue_events_answer_to_id_issue_events'), 'issue_events',
                                    ['answer_to_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_issue_events_answer_to_id_issue_events'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_issue_events_answer_to_id'), type_='unique')
        batch_op.drop_column('answer_to_id')
