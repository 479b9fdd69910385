"""consultations: the live tally's post per residents' chat

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('consultation_posts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consultation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('shown', sa.Text(), nullable=True),
    sa.Column('edited_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id'], name=op.f('fk_consultation_posts_consultation_id_consultations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consultation_posts')),
    sa.UniqueConstraint('consultation_id', 'chat_id', name=op.f('uq_consultation_posts_consultation_id_chat_id'))
    )
    with op.batch_alter_table('consultation_posts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consultation_posts_consultation_id'), ['consultation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('consultation_posts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_posts_consultation_id'))
    op.drop_table('consultation_posts')
