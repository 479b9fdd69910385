"""The ledger (台账): every issue of a community (or one area) reported in a period, one row each, as
an XLSX workbook or CSV; "with photos" adds every photo, downloaded through the bot and named by
reference, in zip files under Telegram's 50 MB upload limit.

Exports of 100k issues must not stall the bot: rows are streamed from a read-only session (on SQLite
it never takes the write lock) in chunks, and the workbook is written by openpyxl in write-only mode
in a worker thread (asyncio.to_thread), so the event loop keeps serving updates meanwhile.

    python main.py export --community NAME_OR_KEY --from 2026-11-01 --to 2026-11-30 --out ledger.xlsx [--photos]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import html
import io
import re
import sys
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.cli import subcommand
from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.i18n import _, __, ngettext, use_locale
from bot.services.access import Actor, Level, NotAllowed, Place, can, require
from bot.services.background import JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from models import Area, Building, CloseHow, Community, Issue, IssueEvent, IssuePhoto, IssueStatus, Member

CHUNK = 1000
# Telegram bots may upload 50 MB; stay clearly below it (zip headers, multipart overhead).
PART_LIMIT = 45 * 1024 * 1024
# The longest period an export in Telegram may cover (EXPORT_MAX_DAYS overrides it); the command line
# has no limit: it streams any range to a file.
MAX_RANGE_DAYS = 366

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


class LedgerError(ValueError):
    """A request that cannot be exported: reason is dates (unreadable) | order (first day after the last)
    | range (longer than `limit` days; `days` is how long it was) | scope."""

    def __init__(self, reason: str, *, days: int = 0, limit: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.days = days
        self.limit = limit


class ExportTooBig(Exception):
    """The export's files would be bigger than its size cap (raised by a capped downloader)."""


@dataclass(frozen=True)
class Scope:
    """What is exported: a community, or one area of it."""

    community_id: int
    area_id: int | None
    name: str

    @property
    def token(self) -> str:
        return f"a{self.area_id}" if self.area_id is not None else f"c{self.community_id}"


@dataclass
class ExportResult:
    files: list[Path]
    rows: int
    photos: int = 0
    missing_photos: list[str] = field(default_factory=list)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip().replace("/", "-"))
    except ValueError:
        raise LedgerError("dates") from None


def parse_range(text: str, max_days: int | None = MAX_RANGE_DAYS) -> tuple[date, date]:
    """"2026-11-01 2026-11-30", "2026-11-01..2026-11-30" or one day."""
    parts = [p for p in text.replace("..", " ").replace("—", " ").replace("~", " ").replace(",", " ").split() if p]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise LedgerError("dates")
    start, end = parse_day(parts[0]), parse_day(parts[1])
    check_range(start, end, max_days)
    return start, end


def check_range(start: date, end: date, max_days: int | None = None) -> None:
    """The first day not after the last; with `max_days`, at most that many days (both included)."""
    if end < start:
        raise LedgerError("order")
    days = (end - start).days + 1
    if max_days is not None and days > max_days:
        raise LedgerError("range", days=days, limit=max_days)


def period(kind: str, now: datetime, tz: str) -> tuple[date, date]:
    """Named periods in the community's local calendar: tm this month, lm last month, 30 the last 30
    days, ty this year."""
    today = now.astimezone(ZoneInfo(tz)).date()
    if kind == "lm":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if kind == "30":
        return today - timedelta(days=29), today
    if kind == "ty":
        return today.replace(month=1, day=1), today
    return today.replace(day=1), today


def utc_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """Inclusive local dates → [start 00:00 local, the day after end 00:00 local) in UTC."""
    zone = ZoneInfo(tz)
    return (datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC),
            datetime.combine(end + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC))


def _hours(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((b - a).total_seconds() / 3600, 1)


class _Labels:
    """Translations looked up once per export, not once per row."""

    def __init__(self, community: Community, locale: str) -> None:
        from bot.notices.triage import triage_label
        from bot.services.cards import status_label
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


class LedgerService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def scopes(self, actor: Actor) -> list[Scope]:
        """Where the actor may export: whole communities (staff, admins), else their areas."""
        out: list[Scope] = []
        communities = (await self.session.execute(select(Community).order_by(Community.id))).scalars().all()
        for community in communities:
            if can(actor, "export", Place(community.id)):
                out.append(Scope(community.id, None, community.name))
                continue
            for grant in actor.roles("area_head"):
                if grant.community_id == community.id and grant.area_id is not None:
                    area = await self.session.get(Area, grant.area_id)
                    if area is not None and can(actor, "export", Place(community.id, area.id)):
                        out.append(Scope(community.id, area.id, f"{community.name} · {area.name}"))
        return out

    async def scope(self, actor: Actor, token: str) -> Scope:
        for s in await self.scopes(actor):
            if s.token == token:
                return s
        raise NotAllowed("export", None, Level.AREA_HEAD)

    async def community(self, community_id: int) -> Community:
        community = await self.session.get(Community, community_id)
        if community is None:
            raise LookupError("community")
        return community

    def may_see_reporter(self, actor: Actor, scope: Scope) -> bool:
        return can(actor, "export_reporter", Place(scope.community_id))


async def stream_rows(sessions: async_sessionmaker[AsyncSession], community: Community, area_id: int | None,
                      start: date, end: date, labels: _Labels, *, reporter: bool,
                      chunk: int = CHUNK, campaign_id: int | None = None
                      ) -> AsyncIterator[tuple[list[list[Any]], list[tuple[str, list[Any]]]]]:
    """Chunks of ledger rows (and each issue's photos), oldest first, from a read-only session."""
    lo, hi = utc_bounds(start, end, community.timezone)
    async with sessions() as session:
        areas = {a.id: a.name for a in (await session.execute(
            select(Area).where(Area.community_id == community.id))).scalars()}
        buildings = {b.id: b.name for b in (await session.execute(
            select(Building).where(Building.community_id == community.id))).scalars()}
        conds = [Issue.community_id == community.id, Issue.created_at >= lo, Issue.created_at < hi]
        if area_id is not None:
            conds.append(Issue.area_id == area_id)
        if campaign_id is not None:
            conds.append(_in_campaign(campaign_id))
        last_id = 0
        while True:
            # Keyset pagination by id: each chunk is one short query, so no cursor stays open.
            # Plain rows, not ORM objects: a fraction of the cost per issue, and nothing to expire.
            issues = (await session.execute(
                select(*_ISSUE_COLUMNS).where(*conds, Issue.id > last_id).order_by(Issue.id).limit(chunk))).all()
            if not issues:
                break
            last_id = issues[-1].id
            rows, photos = await build_rows(session, community, issues, labels, reporter=reporter, areas=areas,
                                            buildings=buildings)
            yield rows, [(i.reference, photos.get(i.id, [])) for i in issues]


async def build_rows(session: AsyncSession, community: Community, issues: Sequence[Any], labels: _Labels, *,
                     reporter: bool, areas: dict[int, str], buildings: dict[int, str]
                     ) -> tuple[list[list[Any]], dict[int, list[Any]]]:
    """The ledger's rows (in COLUMNS order) for issues loaded with `_ISSUE_COLUMNS`, in their order, and
    each issue's photos. One place for the columns: the bot's export and the desk's "Export this view"
    both write what this returns. `reporter` adds the reporter's name (only for people the bot would
    show it to)."""
    tz = ZoneInfo(community.timezone)

    def tz_text(value: datetime) -> str:
        return value.astimezone(tz).strftime("%m-%d %H:%M")

    def local(value: datetime | None) -> datetime | None:
        # Spreadsheets have no time zones: write the community's wall-clock time.
        return value.astimezone(tz).replace(tzinfo=None) if value is not None else None

    ids = [i.id for i in issues]
    photos: dict[int, list[Any]] = {}
    for p in (await session.execute(
            select(IssuePhoto.issue_id, IssuePhoto.file_id, IssuePhoto.kind)
            .where(IssuePhoto.issue_id.in_(ids))
            .order_by(IssuePhoto.issue_id, IssuePhoto.kind.desc(), IssuePhoto.position))).all():
        photos.setdefault(p.issue_id, []).append(p)
    last_note_ids = select(func.max(IssueEvent.id)).where(
        IssueEvent.issue_id.in_(ids), IssueEvent.kind == "note").group_by(IssueEvent.issue_id)
    notes = dict((await session.execute(
        select(IssueEvent.issue_id, IssueEvent.note).where(IssueEvent.id.in_(last_note_ids)))).all())
    names: dict[int, str] = {}
    if reporter:
        rids = {i.reporter_id for i in issues if i.reporter_id}
        if rids:
            names = {m.id: m.display_name for m in (await session.execute(
                select(Member).where(Member.id.in_(rids)))).scalars()}
    closers = {i.closed_by_id for i in issues if i.closed_by_id and i.close_how not in (
        CloseHow.CONFIRMED, CloseHow.WITHDRAWN)}
    closer_names = {m.id: m.display_name for m in (await session.execute(
        select(Member).where(Member.id.in_(closers)))).scalars()} if closers else {}
    campaigns = await _campaign_names(session, ids)
    history: dict[int, list[str]] = {}
    for e in (await session.execute(
            select(IssueEvent.issue_id, IssueEvent.kind, IssueEvent.to_status, IssueEvent.at)
            .where(IssueEvent.issue_id.in_(ids), IssueEvent.to_status.is_not(None))
            .order_by(IssueEvent.issue_id, IssueEvent.id))).all():
        step = labels.steps.get(e.kind) if e.kind in ("not_accepted", "verified") else None
        step = step or labels.steps.get(e.to_status, e.to_status)
        history.setdefault(e.issue_id, []).append(f"{step} {tz_text(e.at)}")
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
            "hours_to_accept": _hours(i.created_at, i.accepted_at),
            "hours_to_resolve": _hours(i.created_at, i.resolved_at),
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
    return rows, photos


def labels_for(community: Community, locale: str) -> _Labels:
    return _Labels(community, locale)


def headers_for(labels: _Labels, *, reporter: bool) -> list[str]:
    return [h for (k, _h), h in zip(COLUMNS, labels.headers, strict=True) if reporter or k != "reporter"]


def csv_row(row: list[Any]) -> list[Any]:
    """A row as the CSV export writes it (local times as text, formulas defused)."""
    return [_csv_value(v) for v in row]


def xlsx_writer(path: Path, headers: list[str]) -> Any:
    """openpyxl's write-only workbook (constant memory); `append(rows)`, then `close()` saves it."""
    return _XlsxWriter(path, headers)


async def issue_columns(session: AsyncSession, ids: Sequence[int]) -> list[Any]:
    """The columns build_rows needs, for these issues, in the order of `ids`."""
    found = {r.id: r for r in (await session.execute(select(*_ISSUE_COLUMNS).where(Issue.id.in_(ids)))).all()}
    return [found[i] for i in ids if i in found]


_ISSUE_COLUMNS = (Issue.id, Issue.reference, Issue.area_id, Issue.building_id, Issue.category, Issue.urgent,
                  Issue.status, Issue.triage, Issue.description, Issue.reporter_id, Issue.created_at,
                  Issue.accepted_at, Issue.resolved_at, Issue.closed_at, Issue.deadline_at, Issue.overdue,
                  Issue.escalations, Issue.satisfaction, Issue.reopen_count, Issue.closed_without_confirmation,
                  Issue.first_deadline_at, Issue.missed_deadline_at, Issue.closed_by_id, Issue.close_how)


def _in_campaign(campaign_id: int) -> Any:
    from bot.services.campaigns import in_campaign

    return in_campaign(campaign_id)


async def _campaign_names(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    from bot.services.campaigns import campaign_names

    return await campaign_names(session, ids)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


def _clean(value: Any) -> Any:
    """openpyxl refuses control characters; a text starting with = would be run as a formula."""
    if isinstance(value, str):
        value = _CONTROL.sub("", value)
        if value[:1] in ("=", "+", "-", "@"):
            value = "'" + value
    return value


class _XlsxWriter:
    def __init__(self, path: Path, headers: list[str]) -> None:
        from openpyxl import Workbook

        self.path = path
        self.wb = Workbook(write_only=True)
        self.ws = self.wb.create_sheet("Ledger")
        self.ws.freeze_panes = "A2"
        self.ws.append(headers)

    def append(self, rows: list[list[Any]]) -> None:
        for row in rows:
            self.ws.append([_clean(v) for v in row])

    def close(self) -> None:
        self.wb.save(self.path)


class _CsvWriter:
    def __init__(self, path: Path, headers: list[str]) -> None:
        self.path = path
        # UTF-8 with a byte-order mark so that Excel shows Chinese correctly.
        self.fh = path.open("w", encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(headers)

    def append(self, rows: list[list[Any]]) -> None:
        self.writer.writerows([[_csv_value(v) for v in row] for row in rows])

    def close(self) -> None:
        self.fh.close()


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if value is None:
        return ""
    return _clean(value)


Downloader = Callable[[str], Awaitable[bytes]]
Progress = Callable[[str, int, int], Awaitable[None]]


async def count_rows(sessions: async_sessionmaker[AsyncSession], community: Community, area_id: int | None,
                     start: date, end: date, campaign_id: int | None = None) -> int:
    """How many issues an export will write (for its progress: "1,200 of 3,400 rows")."""
    lo, hi = utc_bounds(start, end, community.timezone)
    conds = [Issue.community_id == community.id, Issue.created_at >= lo, Issue.created_at < hi]
    if area_id is not None:
        conds.append(Issue.area_id == area_id)
    if campaign_id is not None:
        conds.append(_in_campaign(campaign_id))
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(Issue).where(*conds))).scalar_one())


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
    writer: _XlsxWriter | _CsvWriter = await asyncio.to_thread(
        _XlsxWriter if fmt == "xlsx" else _CsvWriter, table, headers)
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
    return await _zip_with_photos(table, photo_names, out.with_suffix(".zip"), download, part_limit, total, progress)


class _Zipper:
    """Zip parts under a size limit: out.zip, out_part2.zip, ... (blocking; run in a worker thread)."""

    def __init__(self, out: Path, limit: int) -> None:
        self.out, self.limit = out, limit
        self.files: list[Path] = []
        self.part = 0
        self.size = 0
        self.zf: zipfile.ZipFile | None = None
        self._next()

    def _next(self) -> None:
        if self.zf is not None:
            self.zf.close()
        self.part += 1
        path = self.out if self.part == 1 else self.out.with_name(f"{self.out.stem}_part{self.part}{self.out.suffix}")
        self.files.append(path)
        # Photos are JPEGs, compressed already: store them.
        self.zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED)
        self.size = 0

    def add_file(self, path: Path) -> None:
        assert self.zf is not None
        self.zf.write(path, path.name)
        self.size += path.stat().st_size + 200
        path.unlink()

    def add(self, name: str, data: bytes) -> None:
        if self.size and self.size + len(data) + 200 > self.limit:
            self._next()
        assert self.zf is not None
        self.zf.writestr(name, data)
        self.size += len(data) + 200

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()


async def _zip_with_photos(table: Path, photos: Sequence[tuple[str, str]], out: Path, download: Downloader,
                           part_limit: int, rows: int, progress: Progress | None = None) -> ExportResult:
    zipper = await asyncio.to_thread(_Zipper, out, part_limit)
    await asyncio.to_thread(zipper.add_file, table)
    missing: list[str] = []
    got = 0
    try:
        for name, file_id in photos:
            try:
                data = await download(file_id)
            except ExportTooBig:
                raise
            except Exception:  # too big for getFile (20 MB), deleted, network: listed, not fatal
                missing.append(name)
            else:
                await asyncio.to_thread(zipper.add, name, data)
                got += 1
            if progress is not None:
                await progress("photos", got + len(missing), len(photos))
    except BaseException:
        await asyncio.to_thread(zipper.close)
        raise
    if missing:
        await asyncio.to_thread(zipper.add, "missing_photos.txt", ("\n".join(missing) + "\n").encode())
    await asyncio.to_thread(zipper.close)
    return ExportResult(zipper.files, rows, got, missing)


def bot_downloader(bot: Any) -> Downloader:
    async def download(file_id: str) -> bytes:
        buffer = io.BytesIO()
        await bot.download(file_id, destination=buffer)
        return buffer.getvalue()

    return download


def read_sessions(session_or_engine: AsyncSession | AsyncEngine) -> async_sessionmaker[AsyncSession]:
    from bot.db import read_session_factory

    engine = session_or_engine.bind if isinstance(session_or_engine, AsyncSession) else session_or_engine
    assert isinstance(engine, AsyncEngine)
    return read_session_factory(engine)


# ---------------------------------------------------------------------------- the background job


def file_stem(community: Community, scope: Scope, start: date, end: date) -> str:
    return f"ledger-{community.code}{'-' + scope.token if scope.area_id else ''}-{start:%Y%m%d}-{end:%Y%m%d}"


def _capped(download: Downloader, max_bytes: int) -> Downloader:
    """A downloader that stops the export once its photos pass the size cap."""
    got = [0]

    async def fetch(file_id: str) -> bytes:
        data = await download(file_id)
        got[0] += len(data)
        if got[0] > max_bytes:
            raise ExportTooBig()
        return data

    return fetch


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

    download = _capped(run.tools["download"], run.max_bytes) if fmt == "zip" else None
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
    caption = _("📊 Ledger of {scope}, {span}: {n} issues.").format(scope=esc_text(scope.name), span=span,
                                                                   n=result.rows)
    if fmt == "zip":
        caption += "\n" + _("{n} photos, named by reference.").format(n=result.photos)
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


__all__ = ["COLUMNS", "ExportResult", "ExportTooBig", "LedgerError", "LedgerService", "Scope", "check_range",
           "export_ledger", "parse_range", "period", "read_sessions", "require", "utc_bounds"]
