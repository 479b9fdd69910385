#!/usr/bin/env python3
"""Command line: run the bot, apply migrations, import the community structure, and more.

    python main.py                 run the bot (migrations first; polling, or webhook if WEBHOOK_URL)
    python main.py migrate         apply database migrations only
    python main.py import FILE     create or update the community structure from a YAML file
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from bot.config import ConfigError, Settings, load_settings


def setup_logging(settings: Settings) -> None:
    # Structured logs (LOG_JSON=true: one JSON object per line) with the update id of each record.
    from bot.logging import setup_logging as setup

    setup(settings.log_level, json_lines=settings.log_json)


def cmd_run(_args: argparse.Namespace, settings: Settings) -> int:
    settings.require_token()
    from bot.app import build_app, run
    from bot.migrate import upgrade

    upgrade(settings.database_url)
    logging.getLogger("bot").info("database schema is up to date")
    app = build_app(settings)
    asyncio.run(run(app))
    return 0


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrate import upgrade

    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.migrate import upgrade
    from bot.services.structure import StructureError

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        print(f"error: {path} is not a UTF-8 text file; nothing was imported", file=sys.stderr)
        return 1
    upgrade(settings.database_url)
    try:
        report = asyncio.run(_import(settings, text))
    except StructureError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        # The import is one transaction, so a database refusal (a constraint the checks above did
        # not foresee) leaves everything as it was; say so in one line rather than a traceback.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(f"error: {path}: the database refused the import ({reason})", file=sys.stderr)
        print("nothing was imported", file=sys.stderr)
        return 1
    if not report.changed:
        print(f"{path}: nothing changed")
    else:
        print(f"{path}: imported {report.community.name if report.community else ''} — "
              f"{len(report.created)} created, {len(report.updated)} updated, {len(report.removed)} removed")
    return 0


async def _import(settings: Settings, text: str) -> Any:
    from bot.db import create_engine, session_factory
    from bot.services.structure import StructureService

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            report = await StructureService(session).import_text(text)
            await session.commit()
            return report
    finally:
        await engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    from bot.cli import load

    subcommands = load()
    parser = argparse.ArgumentParser(prog="main.py", description="Neighbourhood bot: run it, or manage its data.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (the default)")
    sub.add_parser("migrate", help="apply database migrations only")
    p = sub.add_parser("import", help="create or update the community structure from a YAML file")
    p.add_argument("file", help="structure file (see README: Structure file)")
    for name, (help_text, configure, _fn) in subcommands.items():
        configure(sub.add_parser(name, help=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] == "run":
        # Running the bot without a usable token or with bad settings fails at once, before the
        # capabilities (and SQLAlchemy, aiogram ...) are imported to build the full parser.
        try:
            load_settings().require_token()
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings)
        command = args.command or "run"
        if command == "run":
            return cmd_run(args, settings)
        if command == "migrate":
            return cmd_migrate(args, settings)
        if command == "import":
            return cmd_import(args, settings)
        from bot.cli import SUBCOMMANDS

        return SUBCOMMANDS[command][2](args, settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
