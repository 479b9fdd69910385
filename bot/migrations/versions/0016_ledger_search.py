"""the desk's ledger: free-text search index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL), building index

Revision ID: 0016
Revises: 0018
Create Date: 2026-12-03 13:50:00

The statements live in models/search.py (create_all uses the same ones); Alembic's comparison ignores these
objects (bot/migrate.py: include_object).
"""
from collections.abc import Sequence

from alembic import op

from models.search import FTS_TABLE, TRIGRAM_INDEX, postgresql_statements, sqlite_rebuild, sqlite_statements

revision: str = '0016'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.create_index('ix_issues_building_created', ['building_id', 'created_at'], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in sqlite_statements():
            op.execute(statement)
        op.execute(sqlite_rebuild())  # the issues already there
    elif dialect == "postgresql":
        for statement in postgresql_statements():
            op.execute(statement)


def downgrade() -> None:
    with op.batch_alter_table('issues', schema=None) as batch_op:
        batch_op.drop_index('ix_issues_building_created')
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif dialect == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {TRIGRAM_INDEX}")
