"""Read-only figures for the desk's Map, Patrols and Today pages. Rules only (no aiohttp, no words):
bot/web/pages.py renders them. Every query is limited to the scope it is given (a community, or one
area of it), so an area head's page can never list another area's issues, whatever the query string says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.ledger import Scope
from models import Building, Issue, IssueStatus

# The map shows the newest this many issues: enough for a community's open work, small enough for a phone.
MAP_LIMIT = 500
CHART_DAYS = 14


@dataclass(frozen=True)
class MapFilter:
    """The map's filters, as the ledger's: status ("open" = any open status, "" = any), category,
    building, overdue only. Values come from the query string and are checked by the page."""

    status: str = "open"
    category: str = ""
    building_id: int | None = None
    overdue: bool = False


@dataclass(frozen=True)
class MapIssue:
    id: int
    reference: str
    category: str
    status: str
    urgent: bool
    overdue: bool
    building: str
    lat: float | None
    lon: float | None
    pinned: bool  # the reporter sent a location pin (else: the building's coordinates, or none)


@dataclass(frozen=True)
class MapBuilding:
    id: int
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class MapView:
    issues: list[MapIssue]
    buildings: list[MapBuilding]
    truncated: bool  # more issues matched than MAP_LIMIT

    @property
    def placed(self) -> list[MapIssue]:
        return [i for i in self.issues if i.lat is not None and i.lon is not None]

    @property
    def unplaced(self) -> list[MapIssue]:
        return [i for i in self.issues if i.lat is None or i.lon is None]


def status_group(status: str) -> str:
    """The colour a status is drawn in: new (waiting), work (being handled), check (fixed, to be checked),
    done (left the ledger)."""
    if status in (IssueStatus.NEW, IssueStatus.REOPENED):
        return "new"
    if status in IssueStatus.OPEN:
        return "work"
    if status in IssueStatus.AWAITING:
        return "check"
    return "done"


async def map_view(session: AsyncSession, scope: Scope, f: MapFilter, *, limit: int = MAP_LIMIT) -> MapView:
    """Issues of the scope matching the filters, newest first, each placed by its report pin or else by its
    building's coordinates; and the scope's buildings that have coordinates (to centre the map)."""
    q = (select(Issue.id, Issue.reference, Issue.category, Issue.status, Issue.urgent, Issue.overdue,
                Building.name, Issue.lat, Issue.lon, Building.lat, Building.lon)
         .outerjoin(Building, Building.id == Issue.building_id)
         .where(Issue.community_id == scope.community_id))
    if scope.area_id is not None:  # re-checked here: the page's scope, never a filter the browser sent
        q = q.where(Issue.area_id == scope.area_id)
    if f.status == "open":
        q = q.where(Issue.status.in_(IssueStatus.OPEN))
    elif f.status:
        q = q.where(Issue.status == f.status)
    if f.category:
        q = q.where(Issue.category == f.category)
    if f.building_id is not None:
        q = q.where(Issue.building_id == f.building_id)
    if f.overdue:
        q = q.where(Issue.overdue.is_(True))
    rows = (await session.execute(q.order_by(Issue.created_at.desc(), Issue.id.desc()).limit(limit + 1))).all()
    issues = []
    for r in rows[:limit]:
        pinned = r[7] is not None and r[8] is not None
        lat, lon = (r[7], r[8]) if pinned else (r[9], r[10])
        issues.append(MapIssue(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6] or "", lat, lon, pinned))
    b = select(Building).where(Building.community_id == scope.community_id, Building.lat.is_not(None),
                               Building.lon.is_not(None))
    if scope.area_id is not None:
        b = b.where(Building.area_id == scope.area_id)
    buildings = [MapBuilding(x.id, x.name, float(x.lat), float(x.lon))  # type: ignore[arg-type]
                 for x in (await session.execute(b.order_by(Building.id))).scalars()]
    return MapView(issues, buildings, len(rows) > limit)


@dataclass(frozen=True)
class DayCount:
    day: date
    reported: int
    resolved: int


async def daily_counts(session: AsyncSession, scope: Scope, now: datetime, tz: str,
                       days: int = CHART_DAYS) -> list[DayCount]:
    """Issues reported and resolved on each of the last `days` local days (today included), oldest first.
    Only the window's timestamps are read (indexes ix_issues_created / ix_issues_resolved) and bucketed
    here, by the community's own calendar."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=zone)
    where = [Issue.community_id == scope.community_id]
    if scope.area_id is not None:
        where.append(Issue.area_id == scope.area_id)
    reported: dict[date, int] = {}
    resolved: dict[date, int] = {}
    for column, into in ((Issue.created_at, reported), (Issue.resolved_at, resolved)):
        for (at,) in (await session.execute(select(column).where(*where, column >= start, column <= now))).all():
            if at is None:
                continue
            day = at.astimezone(zone).date()
            into[day] = into.get(day, 0) + 1
    return [DayCount(first + timedelta(days=i), reported.get(first + timedelta(days=i), 0),
                     resolved.get(first + timedelta(days=i), 0)) for i in range(days)]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class Chart:
    """A server-drawn bar chart (SVG coordinates): no script, no canvas, readable as a table too."""

    days: list[DayCount]
    width: int
    height: int
    top: int  # the y axis' largest value
    reported: list[Bar]
    resolved: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value) of the horizontal grid lines
    labels: list[tuple[float, date]]  # (x, day) of the date labels under the bars
    bar_width: float


def chart(days: list[DayCount], *, width: int = 420, height: int = 210) -> Chart:
    # A narrow drawing: on a phone (about 340 px) its labels stay readable; the page caps its width on desktop.
    left, right, top_pad, bottom = 32, 8, 10, 28
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    peak = max([d.reported for d in days] + [d.resolved for d in days] + [1])
    step = max(1, -(-peak // 4))  # four grid lines at round values
    top = step * 4
    slot = plot_w / max(1, len(days))
    bar = max(2.0, slot * 0.36)

    def bar_at(i: int, value: int, offset: float) -> Bar:
        h = plot_h * value / top
        return Bar(round(left + i * slot + slot * 0.12 + offset, 1), round(top_pad + plot_h - h, 1), round(h, 1))

    every = 1 if len(days) <= 7 else 2
    return Chart(
        days, width, height, top,
        [bar_at(i, d.reported, 0) for i, d in enumerate(days)],
        [bar_at(i, d.resolved, bar) for i, d in enumerate(days)],
        [(round(top_pad + plot_h - plot_h * v / top, 1), v) for v in range(0, top + 1, step)],
        [(round(left + i * slot + slot / 2, 1), d.day) for i, d in enumerate(days)
         if (len(days) - 1 - i) % every == 0],
        round(bar, 1))
