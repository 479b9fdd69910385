"""Daily digests and weekly/monthly reports for the community office.

The office starts its day with the daily digest: exceptions first (what needs attention now), then the
previous local day in figures, patrols, cleaning days and hotspots, with a chart. Weekly and monthly
reports compare a period with the one before, per area and per building, with an XLSX table.

Reliability: the `digests` job turns due periods into outbox rows. A `DigestRun` row with recipient
"*" is the decision for one (community, kind, period, scope): it is inserted with ON CONFLICT DO
NOTHING, and only the inserter enqueues, so a restart, a double tick or a second instance never
doubles a digest. After downtime the last `CATCH_UP` missed periods are sent (marked late); older
ones are recorded as skipped and named in the newest digest.

Every query reads a bounded window through an index that starts with community_id (created_at,
accepted_at, resolved_at, closed_at, status) or the (kind, at) index of events, so the cost depends on
recent activity, not on the size of the history (tests/benchmarks/bench_digest.py).
"""

from __future__ import annotations

import asyncio
import base64
import html
import inspect
import io
import logging
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _, use_locale
from bot.rendering import render, split_blocks
from bot.services.access import Actor, Level, NotAllowed, Place, require
from bot.services.base import CommunityService
from bot.services.ledger import export_ledger, read_sessions
from models import Area, CloseHow, Community, Department, DigestRun, Issue, IssueEvent, IssueStatus, Member, Role

log = logging.getLogger(__name__)

KINDS = ("daily", "weekly", "monthly")
DEFAULT_DIGEST_TIME = "08:00"
DEFAULT_WEEKLY = (4, "12:00")  # Friday 12:00 (每周五中午12:00前报送)
DEFAULT_MONTHLY_TIME = "09:00"
# pg_try_advisory_xact_lock(DIGEST_LOCK_SPACE, community id): who builds a community's digests right now.
DIGEST_LOCK_SPACE = 1708
CATCH_UP = {"daily": 3, "weekly": 1, "monthly": 1}  # missed periods still worth sending
LATE_AFTER = timedelta(minutes=15)  # enqueued this long after its time: marked late
TOP = 3  # entries shown per list before "and N more"
HOTSPOT_DAYS = 30
HOTSPOT_MIN = 3
CHART_DAYS = 14
CLEANING_AHEAD = timedelta(days=3)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Sections other capabilities add to the weekly/monthly reports (scores, volunteer points), appended
# by them at import: async fn(session, community, kind, first, last, locale) -> list[str], whole
# messages in Telegram HTML ([] when they have nothing for that kind of report).
REPORT_SECTIONS: list[Callable[..., Any]] = []


# ---------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class IssueRow:
    id: int
    reference: str
    category: str
    building_id: int | None
    area_id: int | None
    urgent: bool
    status: str
    deadline_at: datetime | None
    created_at: datetime
    escalation_level: int = 0
    missed_deadline_at: datetime | None = None
    first_deadline_at: datetime | None = None
    done_at: datetime | None = None  # resolved or closed, for an issue finished within a report's period

    @property
    def hashtag(self) -> str:
        return f"#{self.reference}"

    @property
    def overdue_since(self) -> datetime | None:
        """When it became overdue: the first deadline it missed (kept when escalation sets a new one),
        else its current deadline (which may still be ahead)."""
        return self.missed_deadline_at or self.deadline_at

    def overdue_at(self, at: datetime) -> bool:
        """It had missed a deadline by `at` (or by the time it was done, if that was earlier)."""
        since = self.overdue_since
        until = min(self.done_at, at) if self.done_at is not None else at
        return since is not None and since < until

    def new_deadline(self, at: datetime) -> datetime | None:
        """The deadline it was given after missing one (escalation, a captain), if still ahead."""
        if self.missed_deadline_at is not None and self.deadline_at is not None and self.deadline_at > at:
            return self.deadline_at
        return None


@dataclass
class Listing:
    """A list shown as its top entries and "and N more"."""

    total: int
    top: list[Any]

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.top))


@dataclass
class Shift:
    name: str
    starts_at: datetime | None
    ends_at: datetime | None


@dataclass
class PatrolFigures:
    planned: int = 0
    staffed: int = 0
    checked_in: int = 0
    findings: int = 0
    no_checkin: list[Shift] = field(default_factory=list)

    @property
    def coverage(self) -> int | None:
        """Checked-in shifts as a share of planned ones, in percent."""
        return round(100 * self.checked_in / self.planned) if self.planned else None


@dataclass
class CleaningDay:
    starts_at: datetime | None
    place: str
    signed_up: int | None
    attended: int | None
    held: bool

    @property
    def attended_or_zero(self) -> int:
        return self.attended if self.attended is not None else (self.signed_up or 0)


@dataclass
class Hotspot:
    building: str
    category: str
    count: int


@dataclass
class DailyDigest:
    community: Community
    area: Area | None
    day: date  # the digest's date (sent that morning)
    covered: date  # the local calendar day it reports on (the day before)
    as_of: datetime
    places: dict[str, dict[int, str]]
    urgent: Listing
    overdue: Listing
    escalated: Listing
    reopened: Listing
    open_total: int
    new_total: int
    new_by_category: list[tuple[str, int]]
    new_by_building: list[tuple[str, int]]
    accepted: int
    resolved: int
    closed: int
    median_accept: float | None  # seconds
    median_resolve: float | None
    satisfaction: float | None
    ratings: int
    patrols: PatrolFigures | None
    cleaning: list[CleaningDay] | None
    hotspots: list[Hotspot]
    chart_days: list[date]
    chart_new: list[int]
    chart_resolved: list[int]
    open_by_category: list[tuple[str, int]]
    late: bool = False
    skipped: list[date] = field(default_factory=list)
    missed: int = 0  # issues whose deadline passed during the covered day before they were done
    # Running satisfaction surveys with a building behind schedule: (survey, [BuildingProgress]).
    surveys_behind: list[Any] = field(default_factory=list)
    # Fixed and confirmed, waiting for the office's or area head's check (验收) before they are closed out.
    verifying: Listing = field(default_factory=lambda: Listing(0, []))
    # Closed out during the covered day: checked on site, and closed without anybody checking.
    closed_verified: int = 0
    closed_unverified: int = 0

    @property
    def attention(self) -> bool:
        return bool(self.urgent.total or self.overdue.total or self.escalated.total or self.reopened.total
                    or self.verifying.total or (self.patrols and self.patrols.no_checkin))

    @property
    def quiet(self) -> bool:
        return not (self.new_total or self.accepted or self.resolved or self.closed or self.missed
                    or self.attention or self.surveys_behind)

    def attention_issues(self) -> list[IssueRow]:
        seen: dict[int, IssueRow] = {}
        for row in [*self.urgent.top, *self.overdue.top, *self.escalated.top,
                    *self.reopened.top, *self.verifying.top]:
            seen.setdefault(row.id, row)
        return list(seen.values())


@dataclass
class PeriodTotals:
    new: int = 0
    accepted: int = 0
    resolved: int = 0
    closed: int = 0
    overdue: int = 0  # overdue at some moment of the period (a missed deadline, not yet done by then)
    open: int = 0
    median_accept: float | None = None
    median_resolve: float | None = None
    satisfaction: float | None = None
    ratings: int = 0
    verified: int = 0  # closed out after a check on site
    unverified: int = 0  # closed out without a check (the reporter's word, or nobody's)


@dataclass
class PlaceRow:
    name: str
    area: str
    new: int
    resolved: int
    open: int
    overdue: int


@dataclass
class PeriodReport:
    community: Community
    kind: str  # weekly | monthly
    start: date  # first local day
    end: date  # last local day (inclusive)
    as_of: datetime
    places: dict[str, dict[int, str]]
    current: PeriodTotals
    previous: PeriodTotals
    areas: list[PlaceRow]
    buildings: list[PlaceRow]
    overdue: Listing
    overdue_all: list[IssueRow]
    top_categories: list[tuple[str, int]]
    patrols: PatrolFigures | None
    cleaning: list[CleaningDay] | None
    volunteer_hours: list[tuple[str, float]] | None
    late: bool = False
    skipped: list[date] = field(default_factory=list)
    # Satisfaction surveys that ended in the period (bot.services.surveys.SurveyResults).
    surveys: list[Any] = field(default_factory=list)
    # 三事分流: issues reported in the period by way (office / joint / residents / not decided).
    ways: list[tuple[str, int]] = field(default_factory=list)
    # "Refused to comply" recorded in the period: (hashtag, department name, department name in Chinese).
    refusals: list[tuple[str, str, str]] = field(default_factory=list)
    # Campaigns (专项整治) running during the period (bot.services.campaigns.Progress).
    campaigns: list[Any] = field(default_factory=list)


@dataclass
class Built:
    texts: list[str]
    chart: bytes | None
    files: list[tuple[str, bytes]]
    issues: list[tuple[int, str]]  # (id, reference) of the issues it names first


@dataclass
class OnDemand:
    community: Community
    kind: str
    day: date
    area_id: int | None
    texts: list[str]
    chart: bytes | None
    files: list[tuple[str, bytes]]
    issues: list[tuple[int, str]]  # (id, reference) of the issues it names first
    reports: bool  # may also read the weekly/monthly reports


# ------------------------------------------------------------------------ periods and schedules


def parse_request(text: str, today: date) -> tuple[str, date] | None:
    """What /digest was asked for: nothing (today), yesterday, week, month, or a date such as
    2026-11-18, 11-18, 11/18 or 11月18日. None when it is none of these."""
    raw = text.strip().lower()
    if raw in ("", "today", "今天", "今日"):
        return "daily", today
    if raw in ("yesterday", "昨天", "昨日"):
        return "daily", today - timedelta(days=1)
    if raw in ("week", "weekly", "周", "周报", "本周"):
        return "weekly", today
    if raw in ("month", "monthly", "月", "月报", "本月"):
        return "monthly", today
    cleaned = raw.replace("/", "-").replace(".", "-").replace("年", "-").replace("月", "-").rstrip("日号")
    parts = cleaned.split("-")
    try:
        if len(parts) == 3:
            return "daily", date(int(parts[0]), int(parts[1]), int(parts[2]))
        if len(parts) == 2:
            candidate = date(today.year, int(parts[0]), int(parts[1]))
            if candidate > today:  # "12-30" in January means last December
                candidate = candidate.replace(year=today.year - 1)
            return "daily", candidate
    except ValueError:
        return None
    return None


def parse_hhmm(value: Any, default: str) -> time:
    try:
        hours, minutes = str(value or default).strip().split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        hours, minutes = default.split(":")
        return time(int(hours), int(minutes))


def weekly_schedule(settings: dict[str, Any]) -> tuple[int, time]:
    """(weekday, time) of the weekly report: settings weekly_time "fri 12:00" (or "12:00" with
    weekly_day "fri"); Friday 12:00 by default."""
    raw = str(settings.get("weekly_time") or "").strip().lower()
    day_name = str(settings.get("weekly_day") or "").strip().lower()[:3]
    clock_part = raw
    if raw and raw[:3] in WEEKDAYS:
        day_name, clock_part = raw[:3], raw.split(maxsplit=1)[1] if " " in raw else ""
    weekday = WEEKDAYS.index(day_name) if day_name in WEEKDAYS else DEFAULT_WEEKLY[0]
    return weekday, parse_hhmm(clock_part or None, DEFAULT_WEEKLY[1])


def period_of(kind: str, day: date, settings: dict[str, Any] | None = None) -> tuple[date, date]:
    """The period (first, last local day) of a kind that contains `day`. A daily digest's period is its
    own date; a week starts on the weekly report's weekday (a Friday report covers the 7 days before
    it); a month is the calendar month."""
    if kind == "daily":
        return day, day
    if kind == "weekly":
        weekday, _t = weekly_schedule(settings or {})
        start = day - timedelta(days=(day.weekday() - weekday) % 7)
        return start, start + timedelta(days=6)
    if kind == "monthly":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return start, following - timedelta(days=1)
    raise ValueError(kind)


def send_moment(kind: str, start: date, community: Community) -> datetime:
    """When the digest of the period starting on `start` is due (UTC)."""
    tz = ZoneInfo(community.timezone)
    settings = community.settings or {}
    if kind == "daily":
        at = parse_hhmm(settings.get("digest_time"), DEFAULT_DIGEST_TIME)
        return datetime.combine(start, at, tz).astimezone(UTC)
    if kind == "weekly":
        _wd, at = weekly_schedule(settings)
        return datetime.combine(start + timedelta(days=7), at, tz).astimezone(UTC)
    at = parse_hhmm(settings.get("monthly_time"), DEFAULT_MONTHLY_TIME)
    _s, last = period_of("monthly", start)
    return datetime.combine(last + timedelta(days=1), at, tz).astimezone(UTC)


def previous_period(kind: str, start: date, settings: dict[str, Any] | None = None) -> tuple[date, date]:
    return period_of(kind, start - timedelta(days=1), settings)


def local_bounds(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC [start, end) of local days first..last inclusive."""
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


# ------------------------------------------------------------------------------- other sections


def _call(fn: Callable[..., Any], **available: Any) -> Any:
    """Call another capability's function with the arguments it names (it may be older or newer)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn(**available)
    return fn(**{k: v for k, v in available.items() if k in params})


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    """A function of a capability that may not be built yet: None rather than an error."""
    import importlib
    import importlib.util

    try:
        if importlib.util.find_spec(module) is None:
            return None
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def _get(data: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(data, dict) and name in data:
            return data[name]
        if not isinstance(data, dict) and hasattr(data, name):
            return getattr(data, name)
    return default


def _count(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (list, tuple, set)):
        return len(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(12), UTC)
    return None


def _as_patrols(data: Any) -> PatrolFigures | None:
    if data is None:
        return None
    missing = _get(data, "no_checkin", "unchecked", "missed", default=[]) or []
    shifts = []
    for item in missing:
        if isinstance(item, str):
            shifts.append(Shift(item, None, None))
            continue
        shifts.append(Shift(str(_get(item, "name", "route", "title", "area", default="") or ""),
                            _aware(_get(item, "starts_at", "start")), _aware(_get(item, "ends_at", "end"))))
    return PatrolFigures(planned=_count(_get(data, "planned", "shifts")), staffed=_count(_get(data, "staffed")),
                         checked_in=_count(_get(data, "checked_in", "checked")),
                         findings=_count(_get(data, "findings")), no_checkin=shifts)


def _as_cleaning(data: Any) -> list[CleaningDay] | None:
    if data is None:
        return None
    days: list[CleaningDay] = []
    for key, held in (("held", True), ("upcoming", False)):
        for item in _get(data, key, default=[]) or []:
            signed = _get(item, "coming", "signed_up", "rsvp_yes", "going", "rsvp")
            attended = _get(item, "attendance", "attended", "participants", "checked_in")
            days.append(CleaningDay(
                starts_at=_aware(_get(item, "starts_at", "start", "date")),
                place=str(_get(item, "place", "building", "name", "title", default="") or ""),
                signed_up=None if signed is None else _count(signed),
                attended=None if attended is None else _count(attended), held=held))
    if not days and isinstance(data, list):
        return _as_cleaning({"upcoming": data})
    return days


def _as_hours(data: Any) -> list[tuple[str, float]] | None:
    if data is None:
        return None
    rows: list[tuple[str, float]] = []
    items = data.items() if isinstance(data, dict) else data
    for item in items:
        if isinstance(item, tuple) and len(item) == 2:
            name, hours = item
        else:
            name = _get(item, "name", "volunteer", "member", default="?")
            hours = _get(item, "hours", default=0)
        rows.append((str(getattr(name, "display_name", name)), float(hours or 0)))
    rows.sort(key=lambda r: -r[1])
    return rows


# ------------------------------------------------------------------------------- the service

# The columns of an IssueRow, in its field order.
_ROW = (Issue.id, Issue.reference, Issue.category, Issue.building_id, Issue.area_id, Issue.urgent, Issue.status,
        Issue.deadline_at, Issue.created_at, Issue.escalation_level, Issue.missed_deadline_at,
        Issue.first_deadline_at)


def _issue_row(r: Any, done_at: datetime | None = None) -> IssueRow:
    """An IssueRow from a result row that selected the _ROW columns (read by name)."""
    return IssueRow(r.id, r.reference, r.category, r.building_id, r.area_id, r.urgent, r.status, r.deadline_at,
                    r.created_at, r.escalation_level, r.missed_deadline_at, r.first_deadline_at, done_at)


@dataclass
class _Plan:
    """A kind's due periods for one community: those only recorded as skipped, and those to send, each
    (start, late, skipped periods it names, (recipients, built digests))."""

    skipped: list[date]
    keep: list[tuple[date, bool, list[date], Any]] = field(default_factory=list)


class DigestService(CommunityService):
    # ---- places and labels

    async def _places(self, community_id: int) -> dict[str, dict[int, str]]:
        areas = {a.id: a.name for a in await self.members.areas(community_id)}
        buildings = {b.id: b.name for b in await self.members.buildings(community_id=community_id)}
        building_area = {b.id: b.area_id for b in await self.members.buildings(community_id=community_id)}
        return {"area": areas, "building": buildings, "building_area": building_area}

    @staticmethod
    def category_label(community: Community, key: str, locale: str) -> str:
        return category_label(community, key, locale)

    # ---- queries

    def _scope(self, community_id: int, area_id: int | None) -> list[Any]:
        where: list[Any] = [Issue.community_id == community_id]
        if area_id is not None:
            where.append(Issue.area_id == area_id)
        return where

    async def open_at(self, community_id: int, area_id: int | None, at: datetime) -> list[IssueRow]:
        """Issues open at a moment: open now and created by then, plus those finished only after it."""
        scope = self._scope(community_id, area_id)
        # No created_at condition in SQL: with it SQLite prefers the created_at index and walks the whole
        # history; the open issues are few, so the moment is checked here.
        # One equality per status: with `status IN (...)` SQLite's planner (no histograms after ANALYZE)
        # guesses that "open" is most of the table and scans it; an equality keeps it on the index.
        found: list[Any] = []
        for status in IssueStatus.OPEN:
            found += (await self.session.execute(select(*_ROW).where(*scope, Issue.status == status))).all()
        rows = {r.id: r for r in (_issue_row(x) for x in found) if r.created_at <= at}
        if at < self.clock() - timedelta(minutes=1):
            # A past moment: add what was still open then (each through its own index).
            for column in (Issue.resolved_at, Issue.closed_at):
                result = await self.session.execute(select(*_ROW, Issue.resolved_at, Issue.closed_at).where(
                    *scope, column > at, Issue.status.in_(IssueStatus.DONE), Issue.created_at <= at))
                for r in result.all():
                    if (r.resolved_at is None or r.resolved_at > at) and (r.closed_at is None or r.closed_at > at):
                        rows.setdefault(r.id, _issue_row(r))
        return list(rows.values())

    async def _times(self, column: Any, scope: list[Any], start: datetime, end: datetime,
                     ) -> list[tuple[int, datetime, datetime, str, int | None, int | None]]:
        result = await self.session.execute(
            select(Issue.id, Issue.created_at, column, Issue.category, Issue.building_id, Issue.satisfaction)
            .where(*scope, column >= start, column < end).order_by(column, Issue.id))
        return [tuple(r) for r in result.all()]  # type: ignore[misc]

    async def window(self, community_id: int, area_id: int | None, start: datetime, end: datetime
                     ) -> PeriodTotals:
        """Figures of a window: new, accepted, resolved, closed, medians, satisfaction."""
        scope = self._scope(community_id, area_id)
        created = await self._times(Issue.created_at, scope, start, end)
        accepted = await self._times(Issue.accepted_at, scope, start, end)
        resolved = await self._times(Issue.resolved_at, scope, start, end)
        closed = await self._times(Issue.closed_at, scope, start, end)
        rated: dict[int, int] = {}
        for row in (*closed, *resolved):
            if row[5] is not None:
                rated.setdefault(row[0], int(row[5]))
        totals = PeriodTotals(new=len(created), accepted=len(accepted), resolved=len(resolved), closed=len(closed))
        for how, n in (await self.session.execute(
                select(Issue.close_how, func.count()).where(*scope, Issue.closed_at >= start, Issue.closed_at < end)
                .group_by(Issue.close_how))).all():
            if how == CloseHow.VERIFIED:
                totals.verified += int(n)
            elif how in CloseHow.WITHOUT_VERIFICATION:
                totals.unverified += int(n)
        totals.median_accept = _median([(r[2] - r[1]).total_seconds() for r in accepted])
        totals.median_resolve = _median([(r[2] - r[1]).total_seconds() for r in resolved])
        if rated:
            totals.satisfaction = round(sum(rated.values()) / len(rated), 1)
            totals.ratings = len(rated)
        return totals

    async def overdue_during(self, community_id: int, area_id: int | None, start: datetime, at: datetime,
                             open_rows: Sequence[IssueRow]) -> list[IssueRow]:
        """Every issue that was overdue at some moment between start and `at`: open at `at` with a missed
        deadline (escalation's new deadline does not clear it), or finished in between after missing one.
        Reads the open issues given and those finished in the window (indexes on resolved_at, closed_at)."""
        found = {r.id: r for r in open_rows if r.overdue_at(at)}
        scope = self._scope(community_id, area_id)
        for column in (Issue.resolved_at, Issue.closed_at):
            result = await self.session.execute(select(*_ROW, column.label("done_at")).where(
                *scope, column >= start, column < at, Issue.deadline_at.is_not(None)))
            for r in result.all():
                row = _issue_row(r, r.done_at)
                if row.id not in found and row.overdue_at(at):
                    found[row.id] = row
        return sorted(found.values(), key=_overdue_key)

    async def missed_between(self, community_id: int, area_id: int | None, start: datetime, end: datetime,
                             open_rows: Sequence[IssueRow]) -> list[IssueRow]:
        """Issues that missed a deadline between start and end: marked by the tick (missed_deadline_at,
        indexed), or not marked yet: still open past it, or finished after it."""
        scope = self._scope(community_id, area_id)
        found = {r.id: _issue_row(r) for r in (await self.session.execute(select(*_ROW).where(
            *scope, Issue.missed_deadline_at >= start, Issue.missed_deadline_at < end))).all()}
        now = self.clock()
        for row in open_rows:
            if (row.missed_deadline_at is None and row.deadline_at is not None
                    and start <= row.deadline_at < min(end, now)):
                found.setdefault(row.id, row)
        for column in (Issue.resolved_at, Issue.closed_at):
            result = await self.session.execute(select(*_ROW, column.label("done_at")).where(
                *scope, column >= start, Issue.missed_deadline_at.is_(None), Issue.deadline_at >= start,
                Issue.deadline_at < end))
            for r in result.all():
                if r.done_at > r.deadline_at:
                    found.setdefault(r.id, _issue_row(r, r.done_at))
        return sorted(found.values(), key=_overdue_key)

    async def _created(self, community_id: int, area_id: int | None, start: datetime, end: datetime
                       ) -> list[tuple[str, int | None, datetime]]:
        result = await self.session.execute(select(Issue.category, Issue.building_id, Issue.created_at).where(
            *self._scope(community_id, area_id), Issue.created_at >= start, Issue.created_at < end)
            .order_by(Issue.created_at, Issue.id))
        return [tuple(r) for r in result.all()]  # type: ignore[misc]

    async def _events(self, community_id: int, area_id: int | None, kinds: Sequence[str], start: datetime,
                      end: datetime) -> list[tuple[IssueEvent, IssueRow]]:
        result = await self.session.execute(
            select(IssueEvent, *_ROW)
            .join(Issue, Issue.id == IssueEvent.issue_id)
            .where(IssueEvent.kind.in_(kinds), IssueEvent.at >= start, IssueEvent.at < end,
                   *self._scope(community_id, area_id))
            .order_by(IssueEvent.at.desc()))
        return [(r[0], _issue_row(r)) for r in result.all()]

    # ---- the daily digest

    async def daily(self, community: Community, day: date, *, area_id: int | None = None,
                    as_of: datetime | None = None) -> DailyDigest:
        """The digest dated `day`: the previous local day plus what is open at its moment (its send
        time, or now when that is earlier)."""
        tz = ZoneInfo(community.timezone)
        now = self.clock()
        as_of = as_of or min(now, max(send_moment("daily", day, community),
                                      datetime.combine(day, time(0), tz).astimezone(UTC)))
        if day == now.astimezone(tz).date():
            as_of = now  # today's digest shows what is open right now
        covered = day - timedelta(days=1)
        start, end = local_bounds(tz, covered, covered)
        cid = community.id
        places = await self._places(cid)
        area = await self.session.get(Area, area_id) if area_id else None

        open_rows = await self.open_at(cid, area_id, as_of)
        urgent = sorted((r for r in open_rows if r.urgent), key=_deadline_key)
        # Listed until done: escalation's fresh deadline does not make an issue stop being overdue work.
        overdue = sorted((r for r in open_rows if not r.urgent and r.overdue_at(as_of)), key=_overdue_key)
        day_ago = as_of - timedelta(hours=24)
        escalations: dict[int, IssueRow] = {}
        for _event, row in await self._events(cid, area_id, ("escalated",), day_ago, as_of):
            escalations.setdefault(row.id, row)
        reopened: dict[int, IssueRow] = {}
        for event, row in await self._events(cid, area_id, ("status", "reopened"), day_ago, as_of):
            if event.kind == "reopened" or event.to_status == IssueStatus.REOPENED:
                reopened.setdefault(row.id, row)

        totals = await self.window(cid, area_id, start, end)
        verifying = sorted((_issue_row(x) for x in (await self.session.execute(select(*_ROW).where(
            *self._scope(cid, area_id), Issue.status == IssueStatus.VERIFYING))).all()),
            key=lambda r: (r.created_at, r.id))
        missed = await self.missed_between(cid, area_id, start, end, open_rows)
        created = await self._created(cid, area_id, start, end)
        by_category = Counter(c for c, _b, _t in created).most_common()
        by_building = Counter(places["building"].get(b, "—") if b else "—" for _c, b, _t in created).most_common()

        hot_start = as_of - timedelta(days=HOTSPOT_DAYS)
        hot = await self.session.execute(
            select(Issue.building_id, Issue.category, func.count())
            .where(*self._scope(cid, area_id), Issue.created_at >= hot_start, Issue.created_at <= as_of,
                   Issue.building_id.is_not(None))
            .group_by(Issue.building_id, Issue.category).having(func.count() >= HOTSPOT_MIN))
        hotspots = sorted((Hotspot(places["building"].get(b, "—"), c, n) for b, c, n in hot.all()),
                          key=lambda h: (-h.count, h.building, h.category))

        chart_days = [covered - timedelta(days=i) for i in range(CHART_DAYS - 1, -1, -1)]
        c_start, c_end = local_bounds(tz, chart_days[0], chart_days[-1])
        new_per_day = Counter(t.astimezone(tz).date() for _c, _b, t in await self._created(cid, area_id, c_start,
                                                                                              c_end))
        resolved_per_day = Counter(r[2].astimezone(tz).date() for r in await self._times(
            Issue.resolved_at, self._scope(cid, area_id), c_start, c_end))

        patrols = cleaning = None
        if area_id is None:  # patrols and cleaning days are reported for the whole community
            patrols = await self._patrols(cid, start, end)
            cleaning = await self._cleaning(cid, start, end, as_of + CLEANING_AHEAD)
        return DailyDigest(
            community=community, area=area, day=day, covered=covered, as_of=as_of, places=places,
            urgent=_listing(urgent), overdue=_listing(overdue),
            escalated=_listing(list(escalations.values())), reopened=_listing(list(reopened.values())),
            open_total=len(open_rows), new_total=totals.new, new_by_category=by_category,
            new_by_building=by_building, accepted=totals.accepted, resolved=totals.resolved,
            closed=totals.closed, median_accept=totals.median_accept, median_resolve=totals.median_resolve,
            satisfaction=totals.satisfaction, ratings=totals.ratings, patrols=patrols, cleaning=cleaning,
            hotspots=hotspots, chart_days=chart_days, chart_new=[new_per_day.get(d, 0) for d in chart_days],
            chart_resolved=[resolved_per_day.get(d, 0) for d in chart_days],
            open_by_category=Counter(r.category for r in open_rows).most_common(), missed=len(missed),
            surveys_behind=await self._surveys("survey_lagging", community_id=cid, now=as_of)
            if area_id is None else [],
            verifying=_listing(verifying), closed_verified=totals.verified, closed_unverified=totals.unverified)

    async def _patrols(self, community_id: int, start: datetime, end: datetime) -> PatrolFigures | None:
        fn = _optional("bot.services.patrols", "patrol_summary")
        if fn is None:
            return None
        try:
            data = _call(fn, session=self.session, community_id=community_id, start_utc=start, end_utc=end)
            if inspect.isawaitable(data):
                data = await data
            return _as_patrols(data)
        except Exception:  # another capability's bug must not cost the office its digest
            log.exception("patrol section of the digest failed; left out")
            return None

    async def _cleaning(self, community_id: int, start: datetime, end: datetime, upcoming_until: datetime
                        ) -> list[CleaningDay] | None:
        fn = _optional("bot.services.cleaning", "cleaning_summary")
        if fn is None:
            return None
        try:
            data = _call(fn, session=self.session, community_id=community_id, start_utc=start, end_utc=end,
                         upcoming_until_utc=upcoming_until)
            if inspect.isawaitable(data):
                data = await data
            return _as_cleaning(data)
        except Exception:
            log.exception("cleaning section of the digest failed; left out")
            return None

    async def _surveys(self, name: str, **kwargs: Any) -> list[Any]:
        fn = _optional("bot.services.surveys", name)
        if fn is None:
            return []
        try:
            data = _call(fn, session=self.session, **kwargs)
            if inspect.isawaitable(data):
                data = await data
            return list(data or [])
        except Exception:
            log.exception("survey section of the digest failed; left out")
            return []

    async def _optional_list(self, module: str, name: str, **kwargs: Any) -> list[Any]:
        """Another capability's section (a list), or nothing when it is missing or fails."""
        fn = _optional(module, name)
        if fn is None:
            return []
        try:
            data = _call(fn, session=self.session, **kwargs)
            if inspect.isawaitable(data):
                data = await data
            return list(data or [])
        except Exception:
            log.exception("%s section of the report failed; left out", module)
            return []

    async def _volunteer_hours(self, community_id: int, start: datetime, end: datetime
                               ) -> list[tuple[str, float]] | None:
        fn = _optional("bot.services.patrols", "volunteer_hours")
        if fn is None:
            return None
        try:
            data = _call(fn, session=self.session, community_id=community_id, start_utc=start, end_utc=end)
            if inspect.isawaitable(data):
                data = await data
            return _as_hours(data)
        except Exception:
            log.exception("volunteer hours of the report failed; left out")
            return None

    # ---- weekly and monthly

    async def period(self, community: Community, kind: str, day: date) -> PeriodReport:
        """The weekly or monthly report of the period containing `day`, compared with the one before."""
        settings = community.settings or {}
        first, last = period_of(kind, day, settings)
        p_first, p_last = previous_period(kind, first, settings)
        tz = ZoneInfo(community.timezone)
        start, end = local_bounds(tz, first, last)
        p_start, p_end = local_bounds(tz, p_first, p_last)
        as_of = min(self.clock(), end)
        cid = community.id
        places = await self._places(cid)

        current = await self.window(cid, None, start, end)
        previous = await self.window(cid, None, p_start, p_end)
        open_now = await self.open_at(cid, None, as_of)
        open_before = await self.open_at(cid, None, min(as_of, p_end))
        overdue = await self.overdue_during(cid, None, start, as_of, open_now)
        current.open, current.overdue = len(open_now), len(overdue)
        previous.open = len(open_before)
        previous.overdue = len(await self.overdue_during(cid, None, p_start, min(as_of, p_end), open_before))

        created = await self._created(cid, None, start, end)
        resolved = await self._times(Issue.resolved_at, self._scope(cid, None), start, end)
        new_b = Counter(b for _c, b, _t in created)
        res_b = Counter(r[4] for r in resolved)
        open_b = Counter(r.building_id for r in open_now)
        over_b = Counter(r.building_id for r in overdue)
        building_rows = []
        area_totals: dict[int | None, list[int]] = {}
        for bid, name in places["building"].items():
            aid = places["building_area"].get(bid)
            row = PlaceRow(name, places["area"].get(aid, "—") if aid else "—", new_b[bid], res_b[bid],
                           open_b[bid], over_b[bid])
            building_rows.append(row)
            acc = area_totals.setdefault(aid, [0, 0, 0, 0])
            for i, v in enumerate((row.new, row.resolved, row.open, row.overdue)):
                acc[i] += v
        # Issues without a building (a location pin, a whole area) still count for their area.
        for r in open_now:
            if r.building_id is None:
                area_totals.setdefault(r.area_id, [0, 0, 0, 0])[2] += 1
        for r in overdue:
            if r.building_id is None:
                area_totals.setdefault(r.area_id, [0, 0, 0, 0])[3] += 1
        area_rows = [PlaceRow(places["area"].get(aid, "—") if aid else "—", "", *vals)
                     for aid, vals in sorted(area_totals.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))]

        patrols = await self._patrols(cid, start, end)
        cleaning = await self._cleaning(cid, start, end, end)
        hours = await self._volunteer_hours(cid, start, end)
        ways = {way or "": int(n) for way, n in (await self.session.execute(
            select(Issue.triage, func.count()).where(*self._scope(cid, None), Issue.created_at >= start,
                                                     Issue.created_at < end).group_by(Issue.triage))).all()}
        refusals = [(f"#{ref}", name or "", name_zh or "") for ref, name, name_zh in (await self.session.execute(
            select(Issue.reference, Department.name, Department.name_zh)
            .join(IssueEvent, IssueEvent.issue_id == Issue.id)
            .outerjoin(Department, Department.key == IssueEvent.note)
            .where(Issue.community_id == cid, IssueEvent.kind == "refused", IssueEvent.at >= start,
                   IssueEvent.at < end, (Department.community_id == cid) | Department.id.is_(None))
            .order_by(IssueEvent.at))).all()]
        return PeriodReport(
            refusals=refusals,
            community=community, kind=kind, start=first, end=last, as_of=as_of, places=places,
            current=current, previous=previous, areas=area_rows, buildings=building_rows,
            overdue=_listing(overdue, 5), overdue_all=overdue,
            ways=[(k, ways[k]) for k in ("office", "joint", "residents") if ways.get(k)],
            top_categories=Counter(c for c, _b, _t in created).most_common(5), patrols=patrols,
            cleaning=[d for d in cleaning if d.held] if cleaning is not None else None, volunteer_hours=hours,
            surveys=await self._surveys("survey_results", community_id=cid, start_utc=start, end_utc=end),
            campaigns=await self._optional_list("bot.services.campaigns", "campaign_sections", community_id=cid,
                                                start_utc=start, end_utc=end, clock=self.clock))

    # ---- rendering

    def render_daily(self, digest: DailyDigest, locale: str) -> list[str]:
        """The digest as Telegram HTML messages, split only between whole sections."""
        moment = send_moment("daily", digest.day, digest.community)
        text = render("digests_daily.html.j2", locale=locale, d=digest, **_helpers(
            digest.community, digest.places, locale, moment))
        return split_blocks(_sections(text))

    def render_period(self, report: PeriodReport, locale: str) -> list[str]:
        moment = send_moment(report.kind, report.start, report.community)
        block = _optional("bot.notices.campaigns", "progress_block")
        campaigns = [Markup(block(p, locale)) for p in report.campaigns] if block else []
        text = render("digests_period.html.j2", locale=locale, r=report, zh=locale.startswith("zh"),
                      campaigns=campaigns, **_helpers(report.community, report.places, locale, moment))
        return split_blocks(_sections(text))

    def chart(self, digest: DailyDigest, locale: str) -> bytes:
        from bot.charts import draw_digest_chart

        return draw_digest_chart(*_chart_input(digest, locale))

    async def chart_png(self, digest: DailyDigest, locale: str) -> bytes:
        """The chart drawn off the event loop: in the chart process pool where the bot configured one."""
        from bot.charts import render_digest_chart

        return await render_digest_chart(*_chart_input(digest, locale))

    def xlsx(self, report: PeriodReport, locale: str) -> bytes:
        """The report's tables as an XLSX workbook (opens cleanly in Excel, WPS and LibreOffice)."""
        from openpyxl import Workbook
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        helpers = _helpers(report.community, report.places, locale)
        with use_locale(locale):
            wb = Workbook()
            summary = wb.active
            assert summary is not None
            summary.title = _("Summary")[:31]
            summary.append([report.community.name, helpers["span"](report.start, report.end)])
            summary.append([])
            summary.append([_("Figure"), _("This period"), _("Previous period"), _("Change")])
            c, p = report.current, report.previous
            for label, now, before in (
                (_("New"), c.new, p.new), (_("Accepted"), c.accepted, p.accepted),
                (_("Resolved"), c.resolved, p.resolved), (_("Closed"), c.closed, p.closed),
                (_("Open at the end"), c.open, p.open), (_("Overdue during the period"), c.overdue, p.overdue),
                (_("Median hours to accept"), _hours(c.median_accept), _hours(p.median_accept)),
                (_("Median days to resolve"), _days(c.median_resolve), _days(p.median_resolve)),
                (_("Satisfaction (1–5)"), c.satisfaction, p.satisfaction),
                (_("Ratings"), c.ratings, p.ratings),
            ):
                change = round(now - before, 1) if isinstance(now, (int, float)) and isinstance(
                    before, (int, float)) else None
                summary.append([label, now, before, change])
            headers = [_("New"), _("Resolved"), _("Still open"), _("Overdue")]
            areas = wb.create_sheet(_("Areas")[:31])
            areas.append([_("Area"), *headers])
            for row in report.areas:
                areas.append([row.name, row.new, row.resolved, row.open, row.overdue])
            buildings = wb.create_sheet(_("Buildings")[:31])
            buildings.append([_("Building"), _("Area"), *headers])
            for row in report.buildings:
                buildings.append([row.name, row.area, row.new, row.resolved, row.open, row.overdue])
            overdue = wb.create_sheet(_("Overdue")[:31])
            overdue.append([_("Reference"), _("Category"), _("Place"), _("First deadline"), _("Missed deadline"),
                            _("Deadline"), _("Days over"), _("Done")])
            tz = ZoneInfo(report.community.timezone)

            def local(value: datetime | None) -> datetime | None:
                return value.astimezone(tz).replace(tzinfo=None) if value else None

            for issue in report.overdue_all:
                since = issue.overdue_since
                until = min(issue.done_at, report.as_of) if issue.done_at else report.as_of
                days_over = round((until - since).total_seconds() / 86400, 1) if since else None
                overdue.append([issue.hashtag, helpers["cat"](issue.category), helpers["place"](issue),
                                local(issue.first_deadline_at or issue.deadline_at), local(since),
                                local(issue.deadline_at), days_over, local(issue.done_at)])
            categories = wb.create_sheet(_("Categories")[:31])
            categories.append([_("Category"), _("New")])
            for key, n in report.top_categories:
                categories.append([helpers["cat"](key), n])
            if report.surveys:
                surveys = wb.create_sheet(_("Surveys")[:31])
                surveys.append([_("Survey"), _("Place"), _("Question"), _("Mean"), _("Satisfied (4–5) %"),
                                _("Responses"), _("Households"), _("Coverage %"), _("Target met")])
                for result in report.surveys:
                    for place in result.places:
                        met = place.progress.met if place.progress is not None else result.all_met
                        for q in place.questions:
                            surveys.append([result.title, place.name or _("All places"), helpers["qtext"](q.raw),
                                            q.mean, q.satisfied, q.responses, place.households, place.coverage,
                                            _("yes") if met else _("no")])
            for sheet in wb.worksheets:
                start_row = 3 if sheet is summary else 1
                for cell in sheet[start_row]:
                    cell.font = Font(bold=True)
                for i, column in enumerate(sheet.columns, start=1):
                    width = max((len(str(cell.value)) for cell in column if cell.value is not None), default=8)
                    sheet.column_dimensions[get_column_letter(i)].width = min(max(10, width * 1.6 + 2), 48)
                    for cell in column:
                        if isinstance(cell.value, datetime):
                            cell.number_format = "yyyy-mm-dd hh:mm"
            buffer = io.BytesIO()
            wb.save(buffer)
            return buffer.getvalue()

    async def ledger(self, community: Community, first: date, last: date, locale: str) -> tuple[str, bytes]:
        """The ledger of local days first..last as XLSX (name, bytes), for the monthly report. No reporter
        column: the report goes to the office chat, and whoever needs names exports with /export. Errors
        propagate: the report is retried at the next tick rather than sent without its ledger."""
        name = f"ledger-{community.code}-{first:%Y-%m}.xlsx"
        with tempfile.TemporaryDirectory(prefix="digest-ledger-") as folder:
            out = Path(folder) / name
            await export_ledger(read_sessions(self.session), community, None, first, last, out, fmt="xlsx",
                                locale=locale, reporter=False)
            return name, await asyncio.to_thread(out.read_bytes)

    # ---- who may ask, and on-demand digests (/digest)

    async def scopes_for(self, actor: Actor, community_id: int) -> list[int | None]:
        """The scopes an actor may read: None (the whole community) for staff, else their areas."""
        if actor.level_at(Place(community_id)) >= Level.STAFF:
            return [None]
        areas = [g.area_id for g in actor.roles("area_head") if g.community_id == community_id and g.area_id]
        return list(dict.fromkeys(areas))

    async def communities_for(self, actor: Actor, member: Member) -> list[Community]:
        if actor.is_admin:
            return await self.members.communities()
        return [c for c in await self.members.member_communities(member) if await self.scopes_for(actor, c.id)]

    async def on_demand(self, actor: Actor, community: Community, kind: str, day: date, area_id: int | None
                        ) -> DailyDigest | PeriodReport:
        place = Place(community.id, area_id)
        require(actor, "digest", place)
        if kind == "daily":
            return await self.daily(community, day, area_id=area_id)
        require(actor, "digest", Place(community.id))  # weekly/monthly reports cover the community
        return await self.period(community, kind, day)

    async def requested(self, actor: Actor, member: Member, kind: str, day: date, area_id: int | None,
                        locale: str) -> OnDemand:
        """A digest someone asked for (/digest), in their language. Staff read the community; area
        heads their area (a weekly or monthly report needs staff)."""
        communities = await self.communities_for(actor, member)
        if not communities:
            raise NotAllowed("digest", None, Level.AREA_HEAD)
        community = communities[0]
        scopes = await self.scopes_for(actor, community.id) or [None]
        if area_id is None or (None not in scopes and area_id not in scopes):
            area_id = scopes[0]
        require(actor, "digest", Place(community.id, area_id))
        if kind != "daily":
            require(actor, "digest", Place(community.id))
            area_id = None
        built = await self.build(community, kind, day, area_id=area_id, locale=locale)
        texts, chart, files, issues = built.texts, built.chart, built.files, built.issues
        return OnDemand(community, kind, day, area_id, texts, chart, files, issues,
                        reports=None in (await self.scopes_for(actor, community.id)))

    def today(self, community: Community | None = None, tz: str | None = None) -> date:
        zone = ZoneInfo(community.timezone if community is not None else tz or "UTC")
        return self.clock().astimezone(zone).date()

    # ---- scheduled sending

    async def run_due(self, *, commit_each: bool = False) -> int:
        """Enqueue every digest that is due and not yet decided. Returns how many periods were decided.

        `commit_each` (the scheduled job): commit after each community, so that its digests reach the
        sender at once instead of after the last of a thousand communities, and so that several instances
        can share the work: on PostgreSQL each community is taken under a transaction-scoped advisory lock
        that another instance skips rather than waits for (the DigestRun rows still decide: a community
        done elsewhere a moment ago costs one query here). On SQLite every session takes the write lock
        at its first statement, so there the figures, texts and charts are built in a read-only session
        and the write transaction holds only the inserts: people's updates never wait for a chart."""
        decided = 0
        communities = list((await self.session.execute(select(Community).order_by(Community.id))).scalars())
        reads = self._read_sessions() if commit_each else None
        if commit_each:
            await self.session.commit()
        for community in communities:
            if commit_each and not await self._take(community.id):
                continue
            for kind in KINDS:
                try:
                    plan = await self._plan_in(reads, community, kind)
                    if plan is None:
                        continue
                    async with self.session.begin_nested():
                        decided += await self._apply(community, kind, plan)
                except Exception:
                    log.exception("%s digest of %s failed; retried at the next tick", kind, community.key)
            if commit_each:
                await self.session.commit()
        return decided

    def _read_sessions(self) -> Any:
        """SQLite: a factory of read-only sessions on the same database (they begin deferred and take no
        lock); None elsewhere (PostgreSQL readers never block writers: the same session will do)."""
        from sqlalchemy.ext.asyncio import AsyncEngine

        from bot.db import read_session_factory

        bind = self.session.bind
        if isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite":
            return read_session_factory(bind)
        return None

    async def _plan_in(self, reads: Any, community: Community, kind: str) -> _Plan | None:
        if reads is None:
            return await self._plan(community, kind)
        async with reads() as session:
            return await DigestService(session, self.clock)._plan(community, kind)

    async def _take(self, community_id: int) -> bool:
        """PostgreSQL: this community's digests are ours until the commit, unless another instance is
        building them right now. SQLite has one writer (and one instance): always ours."""
        if self.session.bind is None or self.session.bind.dialect.name != "postgresql":
            return True
        taken = await self.session.execute(text("SELECT pg_try_advisory_xact_lock(:space, :id)"),
                                           {"space": DIGEST_LOCK_SPACE, "id": community_id})
        return bool(taken.scalar())

    def _candidates(self, community: Community, kind: str, now: datetime) -> list[date]:
        """Period starts whose send moment has passed, most recent first, no older than needed."""
        tz = ZoneInfo(community.timezone)
        today = now.astimezone(tz).date()
        settings = community.settings or {}
        out: list[date] = []
        day = today
        lookback = {"daily": 14, "weekly": 4, "monthly": 3}[kind]
        while len(out) < lookback:
            first, _last = period_of(kind, day, settings)
            if not out or out[-1] != first:
                if send_moment(kind, first, community) <= now:
                    out.append(first)
            day = first - timedelta(days=1)
            if day < today - timedelta(days=400):
                break
        floor = community.created_at
        return [d for d in out if send_moment(kind, d, community) >= floor]

    async def _run_kind(self, community: Community, kind: str) -> int:
        plan = await self._plan(community, kind)
        return 0 if plan is None else await self._apply(community, kind, plan)

    async def _plan(self, community: Community, kind: str) -> _Plan | None:
        """What is due for this kind and not decided yet, with each kept period already built (reads only)."""
        now = self.clock()
        candidates = self._candidates(community, kind, now)
        if not candidates:
            return None
        decided = set((await self.session.execute(select(DigestRun.period).where(
            DigestRun.community_id == community.id, DigestRun.kind == kind, DigestRun.scope == "community",
            DigestRun.recipient == "*", DigestRun.period >= min(candidates).isoformat()))).scalars())
        latest = max((date.fromisoformat(p) for p in decided), default=None)
        # Only periods after the newest decided one: earlier gaps were dealt with back then.
        missed = sorted(d for d in candidates if d.isoformat() not in decided and (latest is None or d > latest))
        if not missed:
            return None
        if latest is None and not await self._has_runs(community.id, kind):
            # The first digest ever (a new install or community): no backlog to catch up on.
            missed = missed[-1:]
        keep = missed[-CATCH_UP[kind]:]
        skipped = missed[:-CATCH_UP[kind]]
        plan = _Plan(skipped=skipped)
        for d in keep:
            late = now - send_moment(kind, d, community) > LATE_AFTER
            extra = skipped if d == keep[-1] else []
            # Built (figures, texts, charts) before the first write of this period: see run_due.
            plan.keep.append((d, late, extra, await self._prepare(community, kind, d, late=late, skipped=extra)))
        return plan

    async def _apply(self, community: Community, kind: str, plan: _Plan) -> int:
        """Decide the planned periods and enqueue the kept ones (writes only)."""
        count = 0
        for d in plan.skipped:
            await self._decide(community, kind, d, late=True, skipped=True)
        for d, late, extra, prepared in plan.keep:
            if not await self._decide(community, kind, d, late=late, skipped=False):
                continue  # another instance decided it a moment ago
            count += 1
            await self._fan_out(community, kind, d, late=late, skipped=extra, prepared=prepared)
        return count

    async def _prepare(self, community: Community, kind: str, start: date, *, late: bool,
                       skipped: list[date]) -> tuple[list[tuple[str, str, int, Member | None, str]],
                                                     dict[tuple[int, str], Built]]:
        """Everyone who gets this period's digest and the digest built for each (area, language)."""
        recipients = await self.recipients(community, kind)
        cache: dict[tuple[int, str], Built] = {}
        for _scope, _recipient, area_id, _member, locale in recipients:
            if (area_id, locale) not in cache:
                cache[(area_id, locale)] = await self.build(community, kind, start, area_id=area_id or None,
                                                            locale=locale, late=late, skipped=skipped)
        return recipients, cache

    async def _has_runs(self, community_id: int, kind: str) -> bool:
        return (await self.session.execute(select(DigestRun.id).where(
            DigestRun.community_id == community_id, DigestRun.kind == kind, DigestRun.recipient == "*").limit(1))
        ).first() is not None

    async def _insert_run(self, values: dict[str, Any]) -> bool:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        ins: Any = postgresql.insert(DigestRun) if dialect == "postgresql" else sqlite.insert(DigestRun)
        result = await self.session.execute(ins.values(**values).on_conflict_do_nothing(
            index_elements=["community_id", "kind", "period", "scope", "recipient"]))
        return bool(getattr(result, "rowcount", 0))

    async def _decide(self, community: Community, kind: str, start: date, *, late: bool, skipped: bool) -> bool:
        return await self._insert_run(dict(community_id=community.id, kind=kind, period=start.isoformat(),
                                           scope="community", recipient="*", late=late, skipped=skipped,
                                           created_at=self.clock()))

    async def recipients(self, community: Community, kind: str) -> list[tuple[str, str, int, Member | None, str]]:
        """(scope, recipient, area_id or 0, member or None, locale) for everyone who gets this kind."""
        out: list[tuple[str, str, int, Member | None, str]] = []
        office = await self.chats.office_chat(community.id)
        if office is not None:
            out.append(("community", f"chat:{office}", 0, None, community.locale))
        people = (await self.session.execute(
            select(Member, Role.role, Role.area_id).join(Role, Role.member_id == Member.id)
            .where(Role.community_id == community.id, Role.role.in_(("staff", "area_head")),
                   Member.data_deleted_at.is_(None))
            .order_by(Member.id, Role.id))).all()
        seen: set[tuple[str, str]] = set()
        for member, role, area_id in people:
            prefs = member.prefs or {}
            locale = self.members.locale_for(member, community)
            if role == "staff" and prefs.get("digest"):
                key = ("community", f"member:{member.id}")
            elif role == "area_head" and prefs.get("area_digest") and kind == "daily" and area_id:
                key = (f"area:{area_id}", f"member:{member.id}")
            else:
                continue
            if key not in seen:
                seen.add(key)
                out.append((key[0], key[1], int(area_id or 0) if key[0] != "community" else 0, member, locale))
        return out

    async def _fan_out(self, community: Community, kind: str, start: date, *, late: bool,
                       skipped: list[date], prepared: tuple[list[Any], dict[tuple[int, str], Built]] | None = None
                       ) -> None:
        """Enqueue the digest of a decided period to every recipient, each in their language."""
        moment = send_moment(kind, start, community)
        expires = max(moment, self.clock()) + timedelta(days=2)
        recipients, cache = prepared if prepared is not None else (await self.recipients(community, kind), {})
        for scope, recipient, area_id, member, locale in recipients:
            if not await self._insert_run(dict(community_id=community.id, kind=kind, period=start.isoformat(),
                                               scope=scope, recipient=recipient, late=late,
                                               created_at=self.clock())):
                continue
            cache_key = (area_id, locale)
            if cache_key not in cache:
                cache[cache_key] = await self.build(community, kind, start, area_id=area_id or None,
                                                    locale=locale, late=late, skipped=skipped)
            built = cache[cache_key]
            texts, chart, files = built.texts, built.chart, built.files
            chat_id = int(recipient.split(":", 1)[1]) if recipient.startswith("chat:") else member.telegram_id \
                if member else 0
            base = f"digest:{community.id}:{kind}:{start.isoformat()}:{scope}:{recipient}"
            common: dict[str, Any] = dict(kind=f"digest_{kind}", community_id=community.id, expires_at=expires)
            items: list[dict[str, Any]] = [dict(key=f"{base}:{i}", text=t) for i, t in enumerate(texts)]
            if items and built.issues:
                from bot.keyboards.digests import issue_buttons

                with use_locale(locale):
                    items[-1]["buttons"] = issue_buttons(built.issues)
            if chart is not None:
                with use_locale(locale):
                    caption = _("New vs. resolved in the last 14 days, and open issues by category.")
                items.append(dict(key=f"{base}:chart", text=caption,
                                  photo={"b64": base64.b64encode(chart).decode(), "filename": "digest.png"}))
            for name, content in files:
                items.append(dict(key=f"{base}:{name}", document={
                    "b64": base64.b64encode(content).decode(), "filename": name}))
            for item in items:
                if member is not None:
                    await self.outbox.notify(member, tz=community.timezone, **common, **item)
                else:
                    await self.outbox.enqueue(chat_id=chat_id, **common, **item)

    async def build(self, community: Community, kind: str, start: date, *, area_id: int | None, locale: str,
                    late: bool = False, skipped: Sequence[date] = ()) -> Built:
        """Texts, chart PNG and attachments (name, bytes) of one digest in one language."""
        if kind == "daily":
            digest = await self.daily(community, start, area_id=area_id)
            digest.late, digest.skipped = late, list(skipped)
            texts = self.render_daily(digest, locale)
            chart = await self.chart_png(digest, locale)
            return Built(texts, chart, [], [(r.id, r.reference) for r in digest.attention_issues()])
        report = await self.period(community, kind, start)
        report.late, report.skipped = late, list(skipped)
        texts = self.render_period(report, locale)
        for section in REPORT_SECTIONS:
            try:
                texts += await section(self.session, community, kind, report.start, report.end, locale)
            except Exception:  # another capability's bug must not cost the office its report
                log.exception("a report section failed; left out")
        files = [(f"{kind}-{community.code}-{report.start.isoformat()}.xlsx", self.xlsx(report, locale))]
        if kind == "monthly":
            files.append(await self.ledger(community, report.start, report.end, locale))
        return Built(texts, None, files, [(r.id, r.reference) for r in report.overdue.top])


# ------------------------------------------------------------------------------------ helpers


def _chart_input(digest: DailyDigest, locale: str) -> tuple[Any, str, Any]:
    """What the chart needs, as plain picklable data: category names are looked up here, in the
    digest's language and in English (the chart falls back to English without a CJK font)."""
    from bot.charts import ChartData, Labels

    community = digest.community
    title = community.name + (f" · {digest.area.name}" if digest.area else "")
    labels = Labels({(key, loc): category_label(community, key, loc)
                     for key, _n in digest.open_by_category for loc in {locale, "en"}})
    data = ChartData(list(digest.chart_days), list(digest.chart_new), list(digest.chart_resolved),
                     [(key, n) for key, n in digest.open_by_category], title)
    return data, locale, labels


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 86400, 1)


def _deadline_key(row: IssueRow) -> tuple[datetime, int]:
    return (row.deadline_at or datetime.max.replace(tzinfo=UTC), row.id)


def _overdue_key(row: IssueRow) -> tuple[datetime, int]:
    return (row.overdue_since or datetime.max.replace(tzinfo=UTC), row.id)


def _listing(items: list[Any], top: int = TOP) -> Listing:
    return Listing(len(items), items[:top])


def _sections(text: str) -> list[str]:
    """Templates separate sections by a blank line; a section never contains one."""
    return [block.strip("\n") for block in text.split("\n\n") if block.strip()]


def category_label(community: Community, key: str, locale: str) -> str:
    """A category's name: the reporting capability's label, else the community's structure file, else
    the key made readable."""
    fn = _optional("bot.services.reporting", "category")
    if fn is not None:
        try:
            with use_locale(locale):
                result = fn(community, key)
            label = _label_of(result, locale)
            if label:
                return label
        except Exception:
            log.debug("category label of %s failed", key, exc_info=True)
    for item in (community.settings or {}).get("categories") or []:
        if isinstance(item, dict) and item.get("key") == key:
            label = item.get("zh") if locale.startswith("zh") else item.get("en")
            if label:
                return str(label)
    return key.replace("_", " ").capitalize()


def _label_of(result: Any, locale: str) -> str | None:
    if result is None:
        return None
    if isinstance(result, str):
        return result
    label = getattr(result, "label", None)
    if callable(label):
        try:
            return str(label(locale))
        except TypeError:
            return str(label())
    if label:
        return str(label)
    for attr in (("zh", "name_zh") if locale.startswith("zh") else ("en", "name_en", "name")):
        value = getattr(result, attr, None) if not isinstance(result, dict) else result.get(attr)
        if value:
            return str(value)
    return None


WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def weekday_name(d: date) -> str:
    names = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
    return names[d.weekday()]


def month_name(d: date) -> str:
    names = (_("Jan"), _("Feb"), _("Mar"), _("Apr"), _("May"), _("Jun"), _("Jul"), _("Aug"), _("Sep"),
             _("Oct"), _("Nov"), _("Dec"))
    return names[d.month - 1]


def day_label(d: date) -> str:
    """"Fri 20 Nov" / "11月20日（周五）"."""
    return _("%(weekday)s %(day)s %(month)s", weekday=weekday_name(d), day=d.day, month=month_name(d),
             month_num=d.month)


def duration(seconds: float) -> str:
    """A duration the way people say it: 38 min, 5 h, 1.5 days."""
    minutes = seconds / 60
    if minutes < 60:
        return _("%(n)s min", n=max(0, round(minutes)))
    hours = minutes / 60
    if hours < 48:
        return _("%(n)s h", n=_num(hours))
    days = hours / 24
    return _("%(n)s days", n=str(round(days)) if days >= 7 else _num(days))


def _num(value: float) -> str:
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else str(rounded)


def _helpers(community: Community, places: dict[str, dict[int, str]], locale: str,
             moment: datetime | None = None) -> dict[str, Any]:
    tz = ZoneInfo(community.timezone)

    def cat(key: str) -> str:
        return category_label(community, key, locale)

    def place(row: IssueRow) -> str:
        if row.building_id and row.building_id in places["building"]:
            return places["building"][row.building_id]
        if row.area_id and row.area_id in places["area"]:
            return places["area"][row.area_id]
        return community.name

    def area_of(row: IssueRow) -> str:
        if row.area_id and row.area_id in places["area"]:
            return places["area"][row.area_id]
        return community.name

    def hm(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%H:%M") if value else ""

    def span(first: date, last: date) -> str:
        if first == last:
            return day_label(first)
        return _("%(first)s – %(last)s", first=day_label(first), last=day_label(last))

    def over(row: IssueRow, at: datetime) -> str:
        """How long past the deadline it missed (the first one, not escalation's new one), until done."""
        since = row.overdue_since
        if since is None:
            return ""
        until = min(row.done_at, at) if row.done_at is not None else at
        return duration((until - since).total_seconds())

    def when(value: datetime) -> str:
        return f"{day_label(value.astimezone(tz).date())} {hm(value)}"

    def qtext(question: dict[str, str]) -> str:
        """A survey question in the reader's language (bot.notices.surveys.question_text)."""
        fn = _optional("bot.notices.surveys", "question_text")
        return str(fn(question, locale)) if fn is not None else str(next(iter(question.values()), ""))

    def change(now: float | None, before: float | None) -> str:
        if now is None or before is None:
            return ""
        delta = round(now - before, 1)
        if delta == 0:
            return "±0"
        return f"+{_num(delta)}" if delta > 0 else f"−{_num(-delta)}"

    return dict(cat=cat, place=place, area_of=area_of, hm=hm, day=day_label, span=span, dur=duration,
                over=over, when=when, change=change, num=_num, hours=_hours, days=_days, tz=tz,
                send_time=hm(moment), qtext=qtext)


# ------------------------------------------------------------------------------------ the CLI


def run_cli(args: Any, settings: Any) -> int:
    """python main.py digest --community X --date D [--kind] [--out DIR]: files, nothing sent."""
    from pathlib import Path

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
    written[0].write_text(html_page(title, texts, images), encoding="utf-8")
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


def html_page(title: str, messages: list[str], images: list[str]) -> str:
    """A printable page: Telegram HTML is a subset of HTML, so the messages go in as they are."""
    body = "\n<hr>\n".join(f'<div class="msg">{m}</div>' for m in messages)
    pictures = "".join(f'<p><img src="{html.escape(src)}" alt="chart"></p>' for src in images)
    return ("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + html.escape(title) + "</title>"
            "<style>body{font-family:sans-serif;max-width:760px;margin:2em auto}"
            ".msg{white-space:pre-wrap;line-height:1.5}img{max-width:100%}</style></head><body>\n"
            + body + "\n" + pictures + "\n</body></html>\n")


# ------------------------------------------------------------------------------ registrations


def _register() -> None:
    from bot.cli import subcommand
    from bot.jobs import JobContext, job


    @job("digests", shared=True)
    async def digests_job(session: AsyncSession, ctx: JobContext) -> None:
        await DigestService(session, ctx.clock).run_due(commit_each=True)

    def configure(parser: Any) -> None:
        parser.add_argument("--community", required=True, help="community key, code or name")
        parser.add_argument("--date", required=True, help="YYYY-MM-DD (a weekly/monthly picks its period)")
        parser.add_argument("--kind", choices=KINDS, default="daily")
        parser.add_argument("--out", default=".", help="folder for the HTML file and the chart (default: .)")
        parser.add_argument("--lang", choices=("en", "zh_Hans"), default=None,
                            help="language (default: the community's)")
        parser.add_argument("--area", default=None, help="area key or name: a daily digest of one area")

    @subcommand("digest", "render a digest into files without sending it", configure=configure)
    def cmd_digest(args: Any, settings: Any) -> int:
        return run_cli(args, settings)


_register()

__all__ = ["DailyDigest", "DigestService", "PeriodReport", "category_label", "day_label", "duration",
           "period_of", "send_moment"]
