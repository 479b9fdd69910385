"""How the figures of a digest are read: bounded windows through indexes that start with community_id
(created_at, accepted_at, resolved_at, closed_at, status) or the (kind, at) index of events, so the cost
depends on recent activity, not on the size of the history (tests/benchmarks/bench_digest.py). Patrols,
cleaning days, surveys and campaigns come from those capabilities' typed functions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.services.base import CommunityService
from bot.services.campaigns import campaign_sections
from bot.services.cleaning import cleaning_figures
from bot.services.digests.figures import (
    CleaningDay,
    DailyDigest,
    Hotspot,
    IssueRow,
    PatrolFigures,
    PeriodReport,
    PeriodTotals,
    PlaceRow,
    Shift,
    deadline_key,
    listing,
    median,
    overdue_key,
)
from bot.services.digests.periods import local_bounds, period_of, previous_period, send_moment
from bot.services.patrols import patrol_summary, volunteer_hours
from bot.services.surveys import survey_lagging, survey_results
from models import Area, CloseHow, Community, Department, Issue, IssueEvent, IssueStatus

HOTSPOT_DAYS = 30
HOTSPOT_MIN = 3
CHART_DAYS = 14
CLEANING_AHEAD = timedelta(days=3)

# The columns of an IssueRow, in its field order.
_ROW = (Issue.id, Issue.reference, Issue.category, Issue.building_id, Issue.area_id, Issue.urgent, Issue.status,
        Issue.deadline_at, Issue.created_at, Issue.escalation_level, Issue.missed_deadline_at,
        Issue.first_deadline_at)


def _issue_row(r: Any, done_at: datetime | None = None) -> IssueRow:
    """An IssueRow from a result row that selected the _ROW columns (read by name)."""
    return IssueRow(r.id, r.reference, r.category, r.building_id, r.area_id, r.urgent, r.status, r.deadline_at,
                    r.created_at, r.escalation_level, r.missed_deadline_at, r.first_deadline_at, done_at)




class DigestFigures(CommunityService):
    """The figures of digests and reports (reads only)."""


    async def _places(self, community_id: int) -> dict[str, dict[int, Any]]:
        """Names of areas and buildings, and each building's area: {"area", "building", "building_area"}."""
        areas = {a.id: a.name for a in await self.members.areas(community_id)}
        buildings = {b.id: b.name for b in await self.members.buildings(community_id=community_id)}
        building_area = {b.id: b.area_id for b in await self.members.buildings(community_id=community_id)}
        return {"area": areas, "building": buildings, "building_area": building_area}


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
        totals.median_accept = median([(r[2] - r[1]).total_seconds() for r in accepted])
        totals.median_resolve = median([(r[2] - r[1]).total_seconds() for r in resolved])
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
        return sorted(found.values(), key=overdue_key)

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
        return sorted(found.values(), key=overdue_key)

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
        urgent = sorted((r for r in open_rows if r.urgent), key=deadline_key)
        # Listed until done: escalation's fresh deadline does not make an issue stop being overdue work.
        overdue = sorted((r for r in open_rows if not r.urgent and r.overdue_at(as_of)), key=overdue_key)
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
        hotspots = sorted((Hotspot(places["building"].get(b or 0, "—"), c, n) for b, c, n in hot.all()),
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
            urgent=listing(urgent), overdue=listing(overdue),
            escalated=listing(list(escalations.values())), reopened=listing(list(reopened.values())),
            open_total=len(open_rows), new_total=totals.new, new_by_category=by_category,
            new_by_building=by_building, accepted=totals.accepted, resolved=totals.resolved,
            closed=totals.closed, median_accept=totals.median_accept, median_resolve=totals.median_resolve,
            satisfaction=totals.satisfaction, ratings=totals.ratings, patrols=patrols, cleaning=cleaning,
            hotspots=hotspots, chart_days=chart_days, chart_new=[new_per_day.get(d, 0) for d in chart_days],
            chart_resolved=[resolved_per_day.get(d, 0) for d in chart_days],
            open_by_category=Counter(r.category for r in open_rows).most_common(), missed=len(missed),
            surveys_behind=await survey_lagging(self.session, cid, as_of) if area_id is None else [],
            verifying=listing(verifying), closed_verified=totals.verified, closed_unverified=totals.unverified)

    # ---- other capabilities (typed functions, called directly)

    async def _patrols(self, community_id: int, start: datetime, end: datetime) -> PatrolFigures:
        summary = await patrol_summary(self.session, community_id, start, end)
        missed = [Shift(m.route, m.starts_at, m.ends_at) for m in summary.missed]
        return PatrolFigures(planned=summary.planned, staffed=summary.staffed, checked_in=summary.checked_in,
                             findings=summary.findings, no_checkin=missed)

    async def _cleaning(self, community_id: int, start: datetime, end: datetime, upcoming_until: datetime
                        ) -> list[CleaningDay]:
        """Cleaning days held in [start, end) with their attendance, then those coming until
        `upcoming_until` with how many said they are coming."""
        figures = await cleaning_figures(self.session, community_id, start, end, upcoming_until)
        return ([CleaningDay(d.starts_at, d.place, None, d.attendance or 0, True) for d in figures.held]
                + [CleaningDay(d.starts_at, d.place, d.coming, None, False) for d in figures.upcoming])

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
        hours = await volunteer_hours(self.session, cid, start, end)
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
            overdue=listing(overdue, 5), overdue_all=overdue,
            ways=[(k, ways[k]) for k in ("office", "joint", "residents") if ways.get(k)],
            top_categories=Counter(c for c, _b, _t in created).most_common(5), patrols=patrols,
            cleaning=[d for d in cleaning if d.held] if cleaning is not None else None, volunteer_hours=hours,
            surveys=await survey_results(self.session, cid, start, end),
            campaigns=await campaign_sections(self.session, cid, start, end, clock=self.clock))

    # ---- rendering
