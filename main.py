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
    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def cmd_run(_args: argparse.Namespace, settings: Settings) -> int:
    settings.require_token()
    from bot.app import build_app, run
    from bot.migrate import upgrade

    upgrade(settings.database_url)
    app = build_app(settings)
    asyncio.run(run(app))
    return 0


def cmd_migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrate import upgrade

    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from bot.migrate import upgrade
    from bot.services.structure import StructureError

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} does not exist", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    try:
        report = asyncio.run(_import(settings, path.read_text(encoding="utf-8")))
    except StructureError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
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
