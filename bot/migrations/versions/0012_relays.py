"""relays (private matters and /contacts) and office hours

Revision ID: 0012
Revises: 0017
Create Date: 2026-12-03 13:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0012'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    for table in ('communities', 'areas', 'buildings'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('hours', sa.String(length=200), nullable=True))

    op.create_table('relays',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('issue_id', ID, nullable=True),
    sa.Column('a_member_id', ID, nullable=True),
    sa.Column('b_household_id', ID, nullable=True),
    sa.Column('b_member_id', ID, nullable=True),
    sa.Column('b_role', sa.String(length=16), nullable=True),
    sa.Column('building_id', ID, nullable=True),
    sa.Column('area_id', ID, nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('a_settled', sa.Boolean(), nullable=False),
    sa.Column('b_settled', sa.Boolean(), nullable=False),
    sa.Column('started_by', ID, nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('closed_at', models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['a_member_id'], ['members.id'], name=op.f('fk_relays_a_member_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_relays_area_id_areas'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['b_household_id'], ['households.id'], name=op.f('fk_relays_b_household_id_households'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['b_member_id'], ['members.id'], name=op.f('fk_relays_b_member_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_relays_building_id_buildings'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_relays_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['issues.id'], name=op.f('fk_relays_issue_id_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['started_by'], ['members.id'], name=op.f('fk_relays_started_by_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relays'))
    )
    with op.batch_alter_table('relays', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relays_a_member_id'), ['a_member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_relays_b_member_id'), ['b_member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_relays_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_relays_issue_id'), ['issue_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_relays_status'), ['status'], unique=False)

    op.create_table('relay_messages',
    sa.Column('id', ID, nullable=False),
    sa.Column('relay_id', ID, nullable=False),
    sa.Column('side', sa.String(length=1), nullable=False),
    sa.Column('sender_id', ID, nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('photo', sa.String(length=255), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['relay_id'], ['relays.id'], name=op.f('fk_relay_messages_relay_id_relays'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['members.id'], name=op.f('fk_relay_messages_sender_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_relay_messages'))
    )
    with op.batch_alter_table('relay_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_relay_messages_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_relay_messages_relay_id'), ['relay_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_relay_messages_sender_id'), ['sender_id'], unique=False)


def downgrade() -> None:
    op.drop_table('relay_messages')
    op.drop_table('relays')
    for table in ('buildings', 'areas', 'communities'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('hours')
