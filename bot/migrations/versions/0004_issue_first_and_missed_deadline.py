"""issues: first deadline and first missed deadline

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_deadline_at', models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('missed_deadline_at', models.base.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_issues_missed', ['community_id', 'missed_deadline_at'], unique=False)
    # Existing issues: the current deadline is the best first deadline known (the timeline keeps earlier
    # ones only as local-time text); an issue escalated for being overdue missed its deadline when the
    # tick first escalated it.
    op.execute("UPDATE issues SET first_deadline_at = deadline_at")
    op.execute(
        "UPDATE issues SET missed_deadline_at = ("
        " SELECT MIN(e.at) FROM issue_events e WHERE e.issue_id = issues.id AND e.kind = 'escalated'"
        " AND e.note LIKE 'overdue:%')"
        " WHERE EXISTS (SELECT 1 FROM issue_events e WHERE e.issue_id = issues.id AND e.kind = 'escalated'"
        " AND e.note LIKE 'overdue:%')")


def downgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_index('ix_issues_missed')
        batch_op.drop_column('missed_deadline_at')
        batch_op.drop_column('first_deadline_at')
