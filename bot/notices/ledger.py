"""The ledger's words: the column headers and labels of the spreadsheet (in the requester's language), the
export's messages, the `ledger_export` background job kind and the `export` subcommand (which downloads
photos through the bot). The rules and the reading are in bot/services/ledger.py."""

from __future__ import annotations

import argparse
import asyncio
import html
import io
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cli import subcommand
from bot.config import Settings
from bot.i18n import _, __, ngettext, use_locale
from bot.services.access import NotAllowed
from bot.services.background import JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from bot.services.ledger import (
    CHUNK,
    COLUMN_KEYS,
    PART_LIMIT,
    Downloader,
    ExportResult,
    ExportTooBig,
    LedgerError,
    LedgerService,
    Progress,
    RowFacts,
    capped,
    check_range,
    count_rows,
    file_stem,
    hours_between,
    parse_day,
    read_sessions,
    row_facts,
    stream_issues,
    writer_for,
    zip_with_photos,
)
from models import Area, CloseHow, Community, IssueStatus, Member

# (key, header) in the order of the columns; headers are translated for the requester.
COLUMNS: list[tuple[str, Any]] = [
    ("reference", __("Reference")),
    ("community", __("Community")),
    ("area", __("Area")),
    ("building", __("Building")),
    ("category", __("Category")),
    ("urgent", __("Urgent")),
    ("status", __("Status")),
    ("triage", __("Triage")),
    ("description", __("Description")),
    ("reporter", __("Reporter")),
    ("created", __("Reported at")),
    ("accepted", __("Accepted at")),
    ("resolved", __("Resolved at")),
    ("closed", __("Closed at")),
    # Every close-out says who and how (verified on site, confirmed by the reporter, without confirmation,
    # merged, rejected): "closed without verification" must be visible, not hidden in "closed".
    ("closed_by", __("Closed by")),
    ("close_how", __("Closed how")),
    ("deadline", __("Deadline")),
    # The first deadline beside the current one: escalation gives an overdue issue a new deadline, and the
    # office judges the work against the first (and sees when a deadline was missed).
    ("first_deadline", __("First deadline")),
    ("missed_deadline", __("Missed deadline")),
    ("overdue", __("Overdue")),
    ("escalations", __("Escalations")),
    ("hours_to_accept", __("Hours to accept")),
    ("hours_to_resolve", __("Hours to resolve")),
    ("satisfaction", __("Satisfaction (1-5)")),
    ("reopened", __("Times reopened")),
    ("photos", __("Photo file ids")),
    ("last_note", __("Last note")),
    # The steps of the issue in order (status changes with their local time): the ledger row tells the
    # whole story, including a fix the check did not accept.
    ("history", __("History")),
    # The campaigns (专项整治) the issue belongs to, by name.
    ("campaigns", __("Campaigns")),
]

assert tuple(k for k, _h in COLUMNS) == COLUMN_KEYS


class _Labels:
    """Translations looked up once per export, not once per row."""

    def __init__(self, community: Community, locale: str) -> None:
        from bot.notices.cards import status_label
        from bot.notices.triage import triage_label
        from bot.services.reporting import categories

        with use_locale(locale):
            self.categories = {c.key: c.label(locale) for c in categories(community)}
            self.statuses: dict[str, str] = {}
            self.status = status_label
            self.yes, self.no = _("yes"), _("no")
            self.triage = {k: triage_label(k) for k in ("office", "joint", "residents")}
            self.unconfirmed = _("closed without confirmation")
            from bot.notices.triage import close_how_label

            self.how = {k: close_how_label(k) for k in CloseHow.ALL}
            self.the_reporter = _("the reporter")
            self.steps = {k: status_label(k) for k in (*IssueStatus.OPEN, *IssueStatus.DONE)}
            self.steps["not_accepted"] = _("not accepted at the check")
            self.steps["verified"] = _("verified on site")
            self.headers = [str(h) for _k, h in COLUMNS]
        self.locale = locale

    def status_of(self, issue: Any) -> str:
        key = issue.status + (":u" if issue.closed_without_confirmation else "")
        if key not in self.statuses:
            with use_locale(self.locale):
                text = self.status(issue.status)
                if issue.closed_without_confirmation:
                    text = f"{text} ({self.unconfirmed})"
            self.statuses[key] = text
        return self.statuses[key]



def labels_for(community: Community, locale: str) -> _Labels:
    return _Labels(community, locale)


def headers_for(labels: _Labels, *, reporter: bool) -> list[str]:
    return [h for (k, _h), h in zip(COLUMNS, labels.headers, strict=True) if reporter or k != "reporter"]


def format_rows(community: Community, issues: Sequence[Any], facts: RowFacts, labels: _Labels, *,
                reporter: bool, areas: dict[int, str], buildings: dict[int, str]) -> list[list[Any]]:
    """The ledger's rows (in COLUMNS order) for issues loaded with the service's issue columns, in their
    order. One place for the columns: the bot's export and the desk's "Export this view" both write
    these. `reporter` adds the reporter's name (only for people the bot would show it to)."""
    tz = ZoneInfo(community.timezone)

    def tz_text(value: datetime) -> str:
        return value.astimezone(tz).strftime("%m-%d %H:%M")

    def local(value: datetime | None) -> datetime | None:
        # Spreadsheets have no time zones: write the community's wall-clock time.
        return value.astimezone(tz).replace(tzinfo=None) if value is not None else None

    history: dict[int, list[str]] = {}
    for issue_id, steps in facts.history.items():
        for kind, to_status, at in steps:
            step = labels.steps.get(kind) if kind in ("not_accepted", "verified") else None
            step = step or labels.steps.get(to_status, to_status)
            history.setdefault(issue_id, []).append(f"{step} {tz_text(at)}")
    photos, notes, names, closer_names, campaigns = (
        facts.photos, facts.notes, facts.reporters, facts.closers, facts.campaigns)
    rows: list[list[Any]] = []
    for i in issues:
        row = {
            "reference": f"#{i.reference}", "community": community.name, "area": areas.get(i.area_id or 0, ""),
            "building": buildings.get(i.building_id or 0, ""),
            "category": labels.categories.get(i.category, i.category),
            "urgent": labels.yes if i.urgent else labels.no, "status": labels.status_of(i),
            "triage": labels.triage.get(i.triage or "", ""), "description": i.description or "",
            "reporter": names.get(i.reporter_id or 0, "") if reporter else None,
            "created": local(i.created_at), "accepted": local(i.accepted_at),
            "resolved": local(i.resolved_at), "closed": local(i.closed_at), "deadline": local(i.deadline_at),
            "first_deadline": local(i.first_deadline_at), "missed_deadline": local(i.missed_deadline_at),
            "overdue": labels.yes if i.overdue else labels.no, "escalations": i.escalations,
            "hours_to_accept": hours_between(i.created_at, i.accepted_at),
            "hours_to_resolve": hours_between(i.created_at, i.resolved_at),
            "satisfaction": i.satisfaction, "reopened": i.reopen_count,
            "photos": " ".join(p.file_id for p in photos.get(i.id, [])),
            "last_note": notes.get(i.id) or "",
            "closed_by": (labels.the_reporter if i.close_how in (CloseHow.CONFIRMED, CloseHow.WITHDRAWN)
                          else closer_names.get(i.closed_by_id or 0, "")),
            "close_how": labels.how.get(i.close_how or "", ""),
            "history": " → ".join(history.get(i.id, [])),
            "campaigns": "; ".join(campaigns.get(i.id, [])),
        }
        rows.append([row[k] for k, _h in COLUMNS if reporter or k != "reporter"])
    return rows


async def build_rows(session: AsyncSession, community: Community, issues: Sequence[Any], labels: _Labels, *,
                     reporter: bool, areas: dict[int, str], buildings: dict[int, str]
                     ) -> tuple[list[list[Any]], dict[int, list[Any]]]:
    """The rows of some issues (the desk's export) and each issue's photos."""
    facts = await row_facts(session, issues, reporter=reporter)
    return format_rows(community, issues, facts, labels, reporter=reporter, areas=areas,
                       buildings=buildings), facts.photos


async def stream_rows(sessions: async_sessionmaker[AsyncSession], community: Community, area_id: int | None,
                      start: date, end: date, labels: _Labels, *, reporter: bool,
                      chunk: int = CHUNK, campaign_id: int | None = None
                      ) -> AsyncIterator[tuple[list[list[Any]], list[tuple[str, list[Any]]]]]:
    """Chunks of ledger rows (and each issue's photos), oldest first, from a read-only session."""
    async for part, areas, buildings in stream_issues(sessions, community, area_id, start, end, reporter=reporter,
                                                      chunk=chunk, campaign_id=campaign_id):
        rows = format_rows(community, part.issues, part.facts, labels, reporter=reporter, areas=areas,
                           buildings=buildings)
        yield rows, [(i.reference, part.facts.photos.get(i.id, [])) for i in part.issues]


async def export_ledger(sessions: async_sessionmaker[AsyncSession], community: Community, area_id: int | None,
                        start: date, end: date, out: Path, *, fmt: str = "xlsx", locale: str = "en",
                        reporter: bool = False, download: Downloader | None = None,
                        part_limit: int = PART_LIMIT, chunk: int = CHUNK,
                        progress: Progress | None = None, campaign_id: int | None = None) -> ExportResult:
    """Write the ledger to `out` (xlsx or csv); with `download`, also zip it with every photo into
    `out` with a .zip suffix (…_part2.zip and so on when over `part_limit`). `progress(phase, done, total)`
    is awaited after every chunk of rows ("rows") and every photo ("photos")."""
    check_range(start, end)
    total_rows = await count_rows(sessions, community, area_id, start, end, campaign_id) \
        if progress is not None else 0
    labels = _Labels(community, locale)
    headers = [h for (k, _h), h in zip(COLUMNS, labels.headers, strict=True) if reporter or k != "reporter"]
    table = out if download is None else out.with_suffix(f".{fmt}")
    table.parent.mkdir(parents=True, exist_ok=True)
    writer = await asyncio.to_thread(writer_for, fmt, table, headers)
    total = 0
    photo_names: list[tuple[str, str]] = []  # (file name in the zip, file id)
    async for rows, photos in stream_rows(sessions, community, area_id, start, end, labels, reporter=reporter,
                                          chunk=chunk, campaign_id=campaign_id):
        await asyncio.to_thread(writer.append, rows)
        total += len(rows)
        if progress is not None:
            await progress("rows", total, max(total, total_rows))
        if download is not None:
            for reference, items in photos:
                counts: dict[str, int] = {}
                for p in items:
                    counts[p.kind] = counts.get(p.kind, 0) + 1
                    photo_names.append((f"{reference}_{p.kind}_{counts[p.kind]}.jpg", p.file_id))
    await asyncio.to_thread(writer.close)
    if download is None:
        return ExportResult([table], total)
    return await zip_with_photos(table, photo_names, out.with_suffix(".zip"), download, part_limit, total, progress)



def bot_downloader(bot: Any) -> Downloader:
    async def download(file_id: str) -> bytes:
        buffer = io.BytesIO()
        await bot.download(file_id, destination=buffer)
        return buffer.getvalue()

    return download


# ---------------------------------------------------------------------------- the background job


@job_kind("ledger_export")
async def ledger_export_job(run: JobRun) -> JobOutcome:
    """/export in the background: rights re-checked now (the person may have lost the role since), rows
    streamed with progress ("1,200 of 3,400 rows", then "photos 340/900"), files under the size cap."""
    from bot.services.members import MembersService

    p = run.params
    start, end, fmt = date.fromisoformat(p["start"]), date.fromisoformat(p["end"]), str(p["fmt"])
    async with run.sessions() as session:
        member = await session.get(Member, run.member_id)
        if member is None:
            raise JobFailed(_("Sorry, you can't do this here."))
        actor = await MembersService(session, run.clock, run.settings.admin_ids if run.settings else ()).actor(member)
        ledger = LedgerService(session, run.clock)
        try:
            scope = await ledger.scope(actor, str(p["scope"]))
        except NotAllowed:
            raise JobFailed(_("Exporting the ledger is for area heads (their area) and office staff.")) from None
        community = await ledger.community(scope.community_id)
        reporter = ledger.may_see_reporter(actor, scope)
        campaign_id = int(p["campaign"]) if p.get("campaign") else None
        if campaign_id is not None:
            from models import Campaign

            campaign = await session.get(Campaign, campaign_id)
            if campaign is None or campaign.community_id != community.id:
                raise JobFailed(_("Sorry, you can't do this here."))
        reads = read_sessions(session)
    span = f"{start.isoformat()} – {end.isoformat()}"
    rows_done = [0]

    async def progress(phase: str, done: int, total: int) -> None:
        if phase == "rows":
            rows_done[0] = done
            text = ngettext("⏳ Exporting the ledger of {scope}, {span}… {done} of {total} row",
                            "⏳ Exporting the ledger of {scope}, {span}… {done} of {total} rows", total).format(
                scope=esc_text(scope.name), span=span, done=f"{done:,}", total=f"{total:,}")
        else:
            text = ngettext("⏳ Ledger of {scope}, {span}: {rows} row written, photos {done}/{total}",
                            "⏳ Ledger of {scope}, {span}: {rows} rows written, photos {done}/{total}",
                            rows_done[0]).format(
                scope=esc_text(scope.name), span=span, rows=f"{rows_done[0]:,}", done=f"{done:,}",
                total=f"{total:,}")
        await run.report(text)

    download = capped(run.tools["download"], run.max_bytes) if fmt == "zip" else None
    too_big = _("Sorry, this export would be bigger than {mb} MB, more than I can send. Please choose a shorter "
                "period, or the spreadsheet without photos.").format(mb=run.max_bytes // (1024 * 1024))
    stem = file_stem(community, scope, start, end)
    try:
        result = await export_ledger(
            reads, community, scope.area_id, start, end, run.folder / f"{stem}.{'csv' if fmt == 'csv' else 'xlsx'}",
            fmt="csv" if fmt == "csv" else "xlsx", locale=run.locale, reporter=reporter, download=download,
            progress=progress, campaign_id=campaign_id)
    except ExportTooBig:
        raise JobFailed(too_big) from None
    if sum(f.stat().st_size for f in result.files) > run.max_bytes:
        raise JobFailed(too_big)
    caption = ngettext("📊 Ledger of {scope}, {span}: {n} issue.", "📊 Ledger of {scope}, {span}: {n} issues.",
                       result.rows).format(scope=esc_text(scope.name), span=span, n=result.rows)
    if fmt == "zip":
        caption += "\n" + ngettext("{n} photo, named by reference.", "{n} photos, named by reference.",
                                    result.photos).format(n=result.photos)
        if result.missing_photos:
            caption += " " + _("{n} could not be downloaded (see missing_photos.txt).").format(
                n=len(result.missing_photos))
    parts = len(result.files)
    messages = [JobMessage(text=caption if i == 0 else _("Part {n} of {total}").format(n=i + 1, total=parts),
                           document=path) for i, path in enumerate(result.files)]
    summary = ngettext("✅ Ledger of {scope}, {span}: {n} issue. The file follows.",
                       "✅ Ledger of {scope}, {span}: {n} issues. The file follows.", result.rows).format(
        scope=esc_text(scope.name), span=span, n=f"{result.rows:,}")
    return JobOutcome(summary, messages, {"rows": result.rows, "photos": result.photos,
                                          "missing": len(result.missing_photos), "files": len(result.files)})


def esc_text(text: str) -> str:
    """The messages are Telegram HTML: a name is text, never markup."""
    return html.escape(text, quote=False)



# ---------------------------------------------------------------------------- CLI


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--community", required=True, help="community name, key or code")
    p.add_argument("--from", dest="start", required=True, help="first day, YYYY-MM-DD (local, inclusive)")
    p.add_argument("--to", dest="end", required=True, help="last day, YYYY-MM-DD (local, inclusive)")
    p.add_argument("--out", required=True, help="output file: .xlsx or .csv (with --photos: a .zip)")
    p.add_argument("--area", help="only this area (key or name)")
    p.add_argument("--photos", action="store_true", help="also download every photo (needs BOT_TOKEN)")
    p.add_argument("--locale", default="en", help="language of the headers: en or zh_Hans")
    p.add_argument("--no-reporter", action="store_true", help="leave out the reporter column")


@subcommand("export", "export the ledger of a community for a period (XLSX or CSV)", _configure)
def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    # Any range from the command line: the rows are streamed to the file, so a long one costs time only.
    try:
        start, end = parse_day(args.start), parse_day(args.end)
    except LedgerError:
        print("error: --from and --to must be dates like 2026-11-01", file=sys.stderr)
        return 2
    try:
        check_range(start, end)
    except LedgerError:
        print(f"error: --from ({start}) is after --to ({end})", file=sys.stderr)
        return 2
    out = Path(args.out)
    fmt = "csv" if out.suffix.lower() == ".csv" else "xlsx"
    if args.photos and not settings.bot_token:
        print("error: --photos downloads the photos through the bot: set BOT_TOKEN (in .env or the environment)",
              file=sys.stderr)
        return 2
    from bot.locales import normalize_locale
    from bot.migrate import upgrade

    upgrade(settings.database_url)
    return asyncio.run(_cli_export(settings, args, start, end, out, fmt, normalize_locale(args.locale) or "en"))


async def _cli_export(settings: Settings, args: argparse.Namespace, start: date, end: date, out: Path, fmt: str,
                      locale: str) -> int:
    from bot.db import create_engine, read_session_factory
    from bot.services.members import MembersService

    engine = create_engine(settings.database_url)
    bot = None
    try:
        sessions = read_session_factory(engine)
        async with sessions() as session:
            community = await MembersService(session).community_by(args.community)
            if community is None:
                print(f"error: no community called {args.community!r} (use its name, key or code)", file=sys.stderr)
                return 1
            area_id = None
            if args.area:
                area = (await session.execute(select(Area).where(
                    Area.community_id == community.id, (Area.key == args.area) | (Area.name == args.area))
                )).scalar_one_or_none()
                if area is None:
                    print(f"error: {community.name} has no area {args.area!r}", file=sys.stderr)
                    return 1
                area_id = area.id
        download = None
        if args.photos:
            from bot.app import create_bot

            bot = create_bot(settings)
            download = bot_downloader(bot)
        result = await export_ledger(sessions, community, area_id, start, end, out, fmt=fmt, locale=locale,
                                     reporter=not args.no_reporter, download=download)
    finally:
        if bot is not None:
            await bot.session.close()
        await engine.dispose()
    print(f"{result.rows} issues written to " + ", ".join(str(f) for f in result.files))
    if args.photos:
        print(f"{result.photos} photos included" + (f", {len(result.missing_photos)} could not be downloaded "
                                                    "(listed in missing_photos.txt)" if result.missing_photos else ""))
    return 0


__all__ = ["COLUMNS", "build_rows", "export_ledger", "headers_for", "labels_for", "ledger_export_job", "stream_rows"]
