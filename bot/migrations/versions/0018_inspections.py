"""inspections and weekly spot checks

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-03 13:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0018'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('spot_checks',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('week_start', sa.Date(), nullable=False),
    sa.Column('building_id', ID, nullable=False),
    sa.Column('inspector_id', ID, nullable=True),
    sa.Column('drawn_by', ID, nullable=True),
    sa.Column('done_at', models.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_spot_checks_building_id_buildings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_spot_checks_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['drawn_by'], ['members.id'], name=op.f('fk_spot_checks_drawn_by_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inspector_id'], ['members.id'], name=op.f('fk_spot_checks_inspector_id_members'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_spot_checks')),
    sa.UniqueConstraint('community_id', 'week_start', 'building_id', name=op.f('uq_spot_checks_community_id_week_start_building_id'))
    )
    with op.batch_alter_table('spot_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spot_checks_community_id'), ['community_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_spot_checks_inspector_id'), ['inspector_id'], unique=False)

    op.create_table('inspections',
    sa.Column('id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('area_id', ID, nullable=True),
    sa.Column('building_id', ID, nullable=False),
    sa.Column('inspector_id', ID, nullable=True),
    sa.Column('checklist_key', sa.String(length=64), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('results', sa.JSON(), nullable=False),
    sa.Column('position', ID, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('passed', ID, nullable=False),
    sa.Column('failed', ID, nullable=False),
    sa.Column('spot_check_id', ID, nullable=True),
    sa.Column('started_at', models.base.UTCDateTime(), nullable=False),
    sa.Column('finished_at', models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_inspections_area_id_areas'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['building_id'], ['buildings.id'], name=op.f('fk_inspections_building_id_buildings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_inspections_community_id_communities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['inspector_id'], ['members.id'], name=op.f('fk_inspections_inspector_id_members'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['spot_check_id'], ['spot_checks.id'], name=op.f('fk_inspections_spot_check_id_spot_checks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspections'))
    )
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.create_index('ix_inspections_done', ['community_id', 'status', 'finished_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspections_building_id'), ['building_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspections_inspector_id'), ['inspector_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inspections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inspections_inspector_id'))
        batch_op.drop_index(batch_op.f('ix_inspections_building_id'))
        batch_op.drop_index('ix_inspections_done')
    op.drop_table('inspections')
    with op.batch_alter_table('spot_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spot_checks_inspector_id'))
        batch_op.drop_index(batch_op.f('ix_spot_checks_community_id'))
    op.drop_table('spot_checks')
