"""Free-text search of issue descriptions (the desk's ledger search) at a million issues: an index the
database keeps up to date by itself, written in each database's own DDL because neither fits the models'
metadata.

- SQLite: an FTS5 table with the trigram tokenizer (SQLite ≥ 3.34) over issues.description, kept in step
  by three triggers. Trigrams find any substring of three characters or more — Chinese included, which
  has no spaces for a word tokenizer to split on — and are case-insensitive like LIKE.
- PostgreSQL: a GIN index with pg_trgm's operator class on issues.description, which LIKE/ILIKE use. The
  extension is created when the database user may; otherwise the search works without it (a scan).

Created by migration 0016 in real databases and by the `after_create` events below when tests and
benchmarks build the schema with create_all. `SEARCH_OBJECTS` tells Alembic's comparison to leave them
alone (bot/migrate.py: include_object). Note for later migrations: a SQLite batch ("move and copy")
rebuild of `issues` drops its triggers — re-create them with `sqlite_statements()` after such a step."""

from __future__ import annotations

from typing import Any

from sqlalchemy import DDL, event

FTS_TABLE = "issues_fts"
TRIGRAM_INDEX = "ix_issues_description_trgm"
# Everything the statements below create (FTS5 keeps its data in four shadow tables).
SEARCH_OBJECTS = frozenset({FTS_TABLE, f"{FTS_TABLE}_data", f"{FTS_TABLE}_idx", f"{FTS_TABLE}_docsize",
                            f"{FTS_TABLE}_config", TRIGRAM_INDEX})


def sqlite_statements() -> list[str]:
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(description, content='issues', "
        "content_rowid='id', tokenize='trigram')",
        f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON issues BEGIN "
        f"INSERT INTO {FTS_TABLE}(rowid, description) VALUES (new.id, new.description); END",
        f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON issues BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, description) VALUES ('delete', old.id, old.description); END",
        # Only when the text changes (erasure scrubs it): status changes do not touch the index.
        f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF description ON issues BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, description) VALUES ('delete', old.id, old.description); "
        f"INSERT INTO {FTS_TABLE}(rowid, description) VALUES (new.id, new.description); END",
    ]


def sqlite_rebuild() -> str:
    """Index the rows that exist already (after creating the table in a filled database)."""
    return f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"


def postgresql_statements() -> list[str]:
    return [
        # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it. Without the
        # right, or without the contrib package, carry on: the search then scans.
        "DO $$ BEGIN CREATE EXTENSION IF NOT EXISTS pg_trgm; "
        "EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN "
        "RAISE NOTICE 'pg_trgm is not available: the ledger search scans'; END $$",
        # The operator class is looked up in whatever schema the extension lives in.
        "DO $$ DECLARE s text; BEGIN "
        "SELECT n.nspname INTO s FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'; "
        f"IF s IS NOT NULL THEN EXECUTE format('CREATE INDEX IF NOT EXISTS {TRIGRAM_INDEX} ON issues "
        "USING gin (description %I.gin_trgm_ops)', s); END IF; END $$",
    ]


def install(table: Any) -> None:
    """Attach the statements to the issues table's creation (create_all: tests, benchmarks)."""
    for statement in sqlite_statements():
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="sqlite"))
    for statement in postgresql_statements():
        # DDL() formats its text with %: the literal % of format('%I') is doubled.
        event.listen(table, "after_create", DDL(statement.replace("%", "%%")).execute_if(dialect="postgresql"))
