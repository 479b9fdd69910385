"""The ledger (台账): every issue of a community (or one area) reported in a period, one row each, as
an XLSX workbook or CSV; "with photos" adds every photo, downloaded through the bot and named by
reference, in zip files under Telegram's 50 MB upload limit.

This module holds the rules and the reading: who may export what, the periods, the issues of a period
streamed in chunks with the facts each row needs (`stream_issues`, `row_facts`), the file writers and the
photo zips. The words (column headers, labels, the export's messages), the background job kind and the
`export` subcommand are in bot/notices/ledger.py.

Exports of 100k issues must not stall the bot: rows are streamed from a read-only session (on SQLite
it never takes the write lock) in chunks, and the workbook is written by openpyxl in write-only mode
in a worker thread (asyncio.to_thread), so the event loop keeps serving updates meanwhile.

    python main.py export --community NAME_OR_KEY --from 2026-11-01 --to 2026-11-30 --out ledger.xlsx [--photos]
"""

from __future__ import annotations

import asyncio
import csv
import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.services.access import Actor, Level, NotAllowed, Place, can, require
from models import Area, Building, CloseHow, Community, Issue, IssueEvent, IssuePhoto, Member

CHUNK = 1000
# Telegram bots may upload 50 MB; stay clearly below it (zip headers, multipart overhead).
PART_LIMIT = 45 * 1024 * 1024
# The longest period an export in Telegram may cover (EXPORT_MAX_DAYS overrides it); the command line
# has no limit: it streams any range to a file.
MAX_RANGE_DAYS = 366

# The keys of the columns, in their order (their headers are words: bot/notices/ledger.py COLUMNS).
COLUMN_KEYS: tuple[str, ...] = (
    "reference", "community", "area", "building", "category", "urgent", "status", "triage", "description",
    "reporter", "created", "accepted", "resolved", "closed", "closed_by", "close_how", "deadline",
    "first_deadline", "missed_deadline", "overdue", "escalations", "hours_to_accept", "hours_to_resolve",
    "satisfaction", "reopened", "photos", "last_note", "history", "campaigns")


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



@dataclass
class RowFacts:
    """What the ledger's rows need beyond the issues' own columns, read once per chunk."""

    photos: dict[int, list[Any]]  # issue id -> (issue_id, file_id, kind) rows, before photos first
    notes: dict[int, str | None]  # the last note
    reporters: dict[int, str]  # member id -> name (only when the reporter column is shown)
    closers: dict[int, str]  # member id -> name of whoever closed it (not the reporter's own close-outs)
    campaigns: dict[int, list[str]]
    history: dict[int, list[tuple[str, str, datetime]]]  # (event kind, to status, at) of each status change


@dataclass
class IssueChunk:
    issues: Sequence[Any]  # rows of _ISSUE_COLUMNS, oldest first
    facts: RowFacts


async def stream_issues(sessions: async_sessionmaker[AsyncSession], community: Community, area_id: int | None,
                        start: date, end: date, *, reporter: bool, chunk: int = CHUNK,
                        campaign_id: int | None = None) -> AsyncIterator[tuple[IssueChunk, dict[int, str],
                                                                               dict[int, str]]]:
    """Chunks of a period's issues with their facts (and the community's area and building names), oldest
    first, from a read-only session."""
    lo, hi = utc_bounds(start, end, community.timezone)
    async with sessions() as session:
        areas, buildings = await place_names(session, community)
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
            yield IssueChunk(issues, await row_facts(session, issues, reporter=reporter)), areas, buildings


async def place_names(session: AsyncSession, community: Community) -> tuple[dict[int, str], dict[int, str]]:
    """The community's areas and buildings by id."""
    areas = {a.id: a.name for a in (await session.execute(
        select(Area).where(Area.community_id == community.id))).scalars()}
    buildings = {b.id: b.name for b in (await session.execute(
        select(Building).where(Building.community_id == community.id))).scalars()}
    return areas, buildings


async def row_facts(session: AsyncSession, issues: Sequence[Any], *, reporter: bool) -> RowFacts:
    """The facts of issues loaded with `_ISSUE_COLUMNS`: photos, last notes, names, campaigns, history.
    `reporter` reads the reporters' names (only for people the bot would show them to)."""
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
    history: dict[int, list[tuple[str, str, datetime]]] = {}
    for e in (await session.execute(
            select(IssueEvent.issue_id, IssueEvent.kind, IssueEvent.to_status, IssueEvent.at)
            .where(IssueEvent.issue_id.in_(ids), IssueEvent.to_status.is_not(None))
            .order_by(IssueEvent.issue_id, IssueEvent.id))).all():
        history.setdefault(e.issue_id, []).append((e.kind, e.to_status, e.at))
    return RowFacts(photos, notes, names, closer_names, await _campaign_names(session, ids), history)


def hours_between(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round((b - a).total_seconds() / 3600, 1)


def csv_row(row: list[Any]) -> list[Any]:
    """A row as the CSV export writes it (local times as text, formulas defused)."""
    return [_csv_value(v) for v in row]


def writer_for(fmt: str, path: Path, headers: list[str]) -> _XlsxWriter | _CsvWriter:
    """The file writer of a format (xlsx, else csv); blocking: create it in a worker thread."""
    return _XlsxWriter(path, headers) if fmt == "xlsx" else _CsvWriter(path, headers)


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


async def zip_with_photos(table: Path, photos: Sequence[tuple[str, str]], out: Path, download: Downloader,
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


def read_sessions(session_or_engine: AsyncSession | AsyncEngine) -> async_sessionmaker[AsyncSession]:
    from bot.db import read_session_factory

    engine = session_or_engine.bind if isinstance(session_or_engine, AsyncSession) else session_or_engine
    assert isinstance(engine, AsyncEngine)
    return read_session_factory(engine)


# ---------------------------------------------------------------------------- for the background job


def file_stem(community: Community, scope: Scope, start: date, end: date) -> str:
    return f"ledger-{community.code}{'-' + scope.token if scope.area_id else ''}-{start:%Y%m%d}-{end:%Y%m%d}"


def capped(download: Downloader, max_bytes: int) -> Downloader:
    """A downloader that stops the export once its photos pass the size cap."""
    got = [0]

    async def fetch(file_id: str) -> bytes:
        data = await download(file_id)
        got[0] += len(data)
        if got[0] > max_bytes:
            raise ExportTooBig()
        return data

    return fetch


__all__ = ["COLUMN_KEYS", "ExportResult", "ExportTooBig", "IssueChunk", "LedgerError", "LedgerService", "RowFacts",
           "Scope", "check_range", "parse_range", "period", "read_sessions", "require", "row_facts", "stream_issues",
           "utc_bounds"]
