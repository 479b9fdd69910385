"""python main.py digest --community X --date D [--kind] [--out DIR] [--lang] [--area]: a digest rendered into
files (a printable HTML page, the chart or the table), nothing sent. The words come from the presenter."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bot.cli import subcommand
from bot.services.digests.delivery import DigestService, presenter
from bot.services.digests.periods import KINDS


def run_cli(args: Any, settings: Any) -> int:
    """python main.py digest --community X --date D [--kind] [--out DIR]: files, nothing sent."""
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        print(f"error: --date {args.date!r} is not a date like 2026-11-20", file=sys.stderr)
        return 2
    result = asyncio.run(_cli(args, settings, day))
    if isinstance(result, str):
        print(f"error: {result}", file=sys.stderr)
        return 1
    title, name, texts, files = result
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{name}.html"]
    for filename, content in files:
        (out / filename).write_bytes(content)
        written.append(out / filename)
    images = [f for f, _c in files if f.endswith(".png")]
    written[0].write_text(presenter().html_page(title, texts, images), encoding="utf-8")
    for path in written:
        print(path)
    return 0


async def _cli(args: Any, settings: Any, day: date) -> str | tuple[str, str, list[str], list[tuple[str, bytes]]]:
    from bot.db import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            service = DigestService(session)
            community = await service.members.community_by(args.community)
            if community is None:
                return f"no community {args.community!r} (give its key, code or name)"
            locale = args.lang or community.locale
            area_id = None
            if getattr(args, "area", None):
                areas = [a for a in await service.members.areas(community.id) if args.area in (a.key, a.name)]
                if not areas:
                    return f"no area {args.area!r} in {community.name}"
                area_id = areas[0].id
            if args.kind == "daily":
                digest = await service.daily(community, day, area_id=area_id)
                name = f"digest-{community.code}-daily-{day.isoformat()}"
                chart = await service.chart_png(digest, locale)
                return (f"{community.name} · {day.isoformat()}", name, service.render_daily(digest, locale),
                        [(f"{name}.png", chart)])
            report = await service.period(community, args.kind, day)
            name = f"digest-{community.code}-{args.kind}-{report.start.isoformat()}"
            return (f"{community.name} · {report.start.isoformat()} – {report.end.isoformat()}", name,
                    service.render_period(report, locale), [(f"{name}.xlsx", service.xlsx(report, locale))])
    finally:
        await engine.dispose()


def _configure(parser: Any) -> None:
    parser.add_argument("--community", required=True, help="community key, code or name")
    parser.add_argument("--date", required=True, help="YYYY-MM-DD (a weekly/monthly picks its period)")
    parser.add_argument("--kind", choices=KINDS, default="daily")
    parser.add_argument("--out", default=".", help="folder for the HTML file and the chart (default: .)")
    parser.add_argument("--lang", choices=("en", "zh_Hans"), default=None,
                        help="language (default: the community's)")
    parser.add_argument("--area", default=None, help="area key or name: a daily digest of one area")


@subcommand("digest", "render a digest into files without sending it", configure=_configure)
def cmd_digest(args: Any, settings: Any) -> int:
    return run_cli(args, settings)
