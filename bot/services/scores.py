"""Scores and rankings (月考核, 季评比, 红黑榜): a score per building for a month or a quarter, from
figures the bot already keeps, weighted by a community setting shown with every ranking.

Components, each a share from 0 to 1 (a component without data for a building is left out and the
other weights count in its place, so a building without patrol routes is not punished for it):

- on_time        issues whose first deadline fell in the period, fixed by that deadline
- verified       issues closed out in the period that were checked on site (验收), not just confirmed
- satisfaction   per-issue ratings (1–5) of issues fixed in the period and survey answers given in it
- inspections    items passed of the items checked in inspections finished in the period
- cleaning       per cleaning day held: households with someone attending, of all households
- patrols        patrol shifts on the building's (or its area's, or the community's) routes staffed with
                 at least their minimum of volunteers checked in

Community settings (``community.settings["scores"]``):

    weights: {on_time: 25, verified: 15, satisfaction: 20, inspections: 20, cleaning: 10, patrols: 10}
    public_list: false        # the red and black list (红黑榜) in the residents' chats, monthly
    quarterly: true           # the quarterly report (季度通报) to the office on the first day of a quarter

Rules only; the words are in bot/notices/scores.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs import JobContext, job
from bot.services.access import Actor, Level, NotAllowed, Place, can
from bot.services.base import CommunityService
from bot.services.events import Event
from models import (
    Area,
    Building,
    ChatLink,
    CleaningDay,
    CleaningRsvp,
    CleaningSeries,
    CloseHow,
    Community,
    Household,
    HouseholdMember,
    Issue,
    IssueStatus,
    PatrolRoute,
    PatrolShift,
    ShiftAssignment,
    SurveyResponse,
)

COMPONENTS = ("on_time", "verified", "satisfaction", "inspections", "cleaning", "patrols")
DEFAULT_WEIGHTS: dict[str, int] = {"on_time": 25, "verified": 15, "satisfaction": 20, "inspections": 20,
                                   "cleaning": 10, "patrols": 10}
PUBLIC_TOP = 3
SEND_AT = time(9, 0)
SEND_WITHIN = timedelta(days=3)  # after downtime, a report still goes out this long after its day


def score_settings(community: Community) -> dict[str, Any]:
    raw = (community.settings or {}).get("scores")
    return raw if isinstance(raw, dict) else {}


def weights_of(community: Community) -> dict[str, int]:
    """The community's weights: whole numbers ≥ 0 per component; anything else keeps the default."""
    raw = score_settings(community).get("weights")
    out = dict(DEFAULT_WEIGHTS)
    if isinstance(raw, dict):
        for k, v in raw.items():
            if k in out and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
                out[k] = int(v)
    return out


def quarter_of(day: date) -> tuple[date, date]:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    nxt = date(first.year + (first.month + 2) // 12, (first.month + 2) % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


@dataclass
class BuildingScore:
    building_id: int
    name: str
    area_id: int
    area: str
    parts: dict[str, float]  # component → share 0..1 (only those with data)
    counts: dict[str, int] = field(default_factory=dict)  # how many things each share is of
    score: float | None = None  # 0..100
    rank: int | None = None

    def weakest(self) -> str | None:
        """The component furthest below full marks (what to fix first)."""
        if not self.parts:
            return None
        return min(self.parts, key=lambda k: (self.parts[k], COMPONENTS.index(k)))


@dataclass
class AreaScore:
    area_id: int
    name: str
    score: float | None
    buildings: int


@dataclass
class Ranking:
    community: Community
    kind: str  # month | quarter
    first: date
    last: date
    weights: dict[str, int]
    buildings: list[BuildingScore]
    areas: list[AreaScore]


@dataclass(frozen=True)
class RankingDue(Event):
    """A ranking to publish: the quarterly report to the office chat ("quarter", key label "2026Q3"), or the
    red and black list to the residents' chats ("board", key label "2026-09")."""

    kind: str
    community_id: int
    label: str
    chat_ids: tuple[int, ...]
    ranking: Ranking


def combine(parts: dict[str, float], weights: dict[str, int]) -> float | None:
    used = {k: w for k, w in weights.items() if k in parts and w > 0}
    total = sum(used.values())
    if not total:
        return None
    return round(100 * sum(parts[k] * w for k, w in used.items()) / total, 1)


class ScoresService(CommunityService):
    async def _buildings(self, community_id: int) -> tuple[list[Building], dict[int, str]]:
        buildings = list((await self.session.execute(select(Building).where(
            Building.community_id == community_id).order_by(Building.id))).scalars())
        areas = dict((await self.session.execute(select(Area.id, Area.name).where(
            Area.community_id == community_id))).all())
        return buildings, areas

    async def ranking(self, community: Community, kind: str, day: date) -> Ranking:
        """The ranking of the month or quarter containing `day` (local dates)."""
        first, last = quarter_of(day) if kind == "quarter" else month_of(day)
        tz = ZoneInfo(community.timezone)
        start = datetime.combine(first, time(0), tz).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
        weights = weights_of(community)
        buildings, area_names = await self._buildings(community.id)
        parts: dict[int, dict[str, tuple[float, int]]] = {b.id: {} for b in buildings}

        def put(bid: int | None, key: str, good: float, total: int) -> None:
            if bid in parts and total > 0:
                parts[bid][key] = (good / total, total)

        # on-time fixes: first deadline in the period, fixed (resolved) by it
        acc: dict[int | None, list[int]] = {}
        for bid, resolved, due in (await self.session.execute(select(
                Issue.building_id, Issue.resolved_at, func.coalesce(Issue.first_deadline_at, Issue.deadline_at))
                .where(Issue.community_id == community.id,
                       func.coalesce(Issue.first_deadline_at, Issue.deadline_at) >= start,
                       func.coalesce(Issue.first_deadline_at, Issue.deadline_at) < end,
                       Issue.status.not_in((IssueStatus.REJECTED, IssueStatus.DUPLICATE, IssueStatus.WITHDRAWN)))
                )).all():
            a = acc.setdefault(bid, [0, 0])
            a[1] += 1
            if resolved is not None and resolved <= due:
                a[0] += 1
        for bid, (good, total) in acc.items():
            put(bid, "on_time", good, total)

        # verified share of fixed work closed out in the period
        acc = {}
        for bid, how in (await self.session.execute(select(Issue.building_id, Issue.close_how).where(
                Issue.community_id == community.id, Issue.closed_at >= start, Issue.closed_at < end,
                Issue.close_how.in_((CloseHow.VERIFIED, *CloseHow.WITHOUT_VERIFICATION))))).all():
            a = acc.setdefault(bid, [0, 0])
            a[1] += 1
            a[0] += how == CloseHow.VERIFIED
        for bid, (good, total) in acc.items():
            put(bid, "verified", good, total)

        # satisfaction: issue ratings and survey answers, each 1–5, as a share of the way from 1 to 5
        sat: dict[int | None, list[float]] = {}
        for bid, rating in (await self.session.execute(select(Issue.building_id, Issue.satisfaction).where(
                Issue.community_id == community.id, Issue.satisfaction.is_not(None),
                Issue.resolved_at >= start, Issue.resolved_at < end))).all():
            if rating is not None:  # (the query leaves unrated issues out)
                sat.setdefault(bid, []).append(float(rating))
        for bid, scores in (await self.session.execute(select(SurveyResponse.building_id, SurveyResponse.scores)
                                                        .where(SurveyResponse.created_at >= start,
                                                               SurveyResponse.created_at < end))).all():
            values = [float(v) for v in scores or [] if isinstance(v, int | float)]
            if values:
                sat.setdefault(bid, []).append(sum(values) / len(values))
        for bid, values in sat.items():
            mean = sum(values) / len(values)
            put(bid, "satisfaction", (mean - 1) / 4 * len(values), len(values))

        # inspections
        from bot.services.inspections import pass_rates

        for bid, (passed, total) in (await pass_rates(self.session, community.id, start, end)).items():
            put(bid, "inspections", passed, total)

        await self._cleaning(community, start, end, buildings, put)
        await self._patrols(community, start, end, buildings, put)

        rows = []
        for b in buildings:
            p = {k: v for k, (v, _n) in parts[b.id].items()}
            rows.append(BuildingScore(b.id, b.name, b.area_id, area_names.get(b.area_id, ""), p,
                                      {k: n for k, (_v, n) in parts[b.id].items()}, combine(p, weights)))
        # Best first; ties share a rank; buildings without any figure come last, unranked.
        rows.sort(key=lambda r: (r.score is None, -(r.score or 0), r.building_id))
        previous: float | None = None
        for i, r in enumerate(rows, start=1):
            if r.score is None:
                continue
            r.rank = rows[i - 2].rank if previous == r.score and i > 1 else i
            previous = r.score
        areas = []
        for aid, name in sorted(area_names.items()):
            scored = [r.score for r in rows if r.area_id == aid and r.score is not None]
            areas.append(AreaScore(aid, name, round(sum(scored) / len(scored), 1) if scored else None, len(scored)))
        areas.sort(key=lambda a: (a.score is None, -(a.score or 0), a.area_id))
        return Ranking(community, kind, first, last, weights, rows, areas)

    async def _cleaning(self, community: Community, start: datetime, end: datetime, buildings: list[Building],
                        put: Any) -> None:
        days = (await self.session.execute(
            select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
            .where(CleaningDay.community_id == community.id, CleaningDay.status == "held",
                   CleaningDay.starts_at >= start, CleaningDay.starts_at < end))).all()
        if not days:
            return
        households = dict((await self.session.execute(select(Household.building_id, func.count()).where(
            Household.community_id == community.id).group_by(Household.building_id))).all())
        shares: dict[int, list[float]] = {}
        for day, series in days:
            if series.scope == "community":
                targets = [b.id for b in buildings]
            elif series.scope == "area":
                targets = [b.id for b in buildings if b.area_id == series.area_id]
            else:
                targets = [int(x) for x in series.building_ids or []]
            came = dict((await self.session.execute(
                select(Household.building_id, func.count(func.distinct(Household.id)))
                .join(HouseholdMember, HouseholdMember.household_id == Household.id)
                .join(CleaningRsvp, CleaningRsvp.member_id == HouseholdMember.member_id)
                .where(CleaningRsvp.day_id == day.id, CleaningRsvp.attended.is_(True))
                .group_by(Household.building_id))).all())
            for bid in targets:
                if households.get(bid):
                    shares.setdefault(bid, []).append(min(1.0, came.get(bid, 0) / households[bid]))
        for bid, values in shares.items():
            put(bid, "cleaning", sum(values), len(values))

    async def _patrols(self, community: Community, start: datetime, end: datetime, buildings: list[Building],
                       put: Any) -> None:
        shifts = (await self.session.execute(
            select(PatrolShift.id, PatrolShift.min_volunteers, PatrolRoute.area_id, PatrolRoute.building_id)
            .join(PatrolRoute, PatrolRoute.id == PatrolShift.route_id)
            .where(PatrolShift.community_id == community.id, PatrolShift.status != "cancelled",
                   PatrolShift.starts_at >= start, PatrolShift.starts_at < end))).all()
        if not shifts:
            return
        checked = dict((await self.session.execute(
            select(ShiftAssignment.shift_id, func.count()).where(
                ShiftAssignment.shift_id.in_([s[0] for s in shifts]), ShiftAssignment.checked_in_at.is_not(None))
            .group_by(ShiftAssignment.shift_id))).all())
        acc: dict[int, list[int]] = {}
        for sid, minimum, area_id, building_id in shifts:
            staffed = checked.get(sid, 0) >= max(1, minimum or 1)
            for b in buildings:
                covers = building_id == b.id if building_id is not None else \
                    (area_id == b.area_id if area_id is not None else True)
                if covers:
                    a = acc.setdefault(b.id, [0, 0])
                    a[1] += 1
                    a[0] += staffed
        for bid, (good, total) in acc.items():
            put(bid, "patrols", good, total)

    async def visible(self, actor: Actor, ranking: Ranking) -> Ranking:
        """What a person may read: staff all; an area head their area's buildings (and their area)."""
        cid = ranking.community.id
        if can(actor, "scores", Place(cid)):
            return ranking
        rows = [r for r in ranking.buildings if can(actor, "scores", Place(cid, r.area_id, r.building_id))]
        if not rows:
            raise NotAllowed("scores", Place(cid), Level.AREA_HEAD)
        ids = {r.area_id for r in rows}
        return Ranking(ranking.community, ranking.kind, ranking.first, ranking.last, ranking.weights, rows,
                       [a for a in ranking.areas if a.area_id in ids])

    async def communities_for(self, actor: Actor) -> list[Community]:
        out = []
        for cid in sorted(actor.communities()) if not actor.is_admin else [
                c.id for c in await self.members.communities()]:
            community = await self.session.get(Community, cid)
            if community is None:
                continue
            places = [Place(cid)] + [Place(cid, g.area_id) for g in actor.roles("area_head") if g.community_id == cid]
            if any(can(actor, "scores", p) for p in places):
                out.append(community)
        return out

    # --- the clock: the quarterly report and the public list ----------------------------------------

    async def run_due(self) -> int:
        """On the first day of a quarter the office gets the quarterly report (季度通报); on the first day of
        a month, where the community turned it on, the residents' chats get the red and black list. Keys are
        unique per community, period and chat, so a restart or a double tick sends nothing twice."""
        sent = 0
        for community in list((await self.session.execute(select(Community).order_by(Community.id))).scalars()):
            tz = ZoneInfo(community.timezone)
            now = self.clock()
            today = now.astimezone(tz).date()
            first_of_month = today.replace(day=1)
            moment = datetime.combine(first_of_month, SEND_AT, tz).astimezone(UTC)
            if not (moment <= now < moment + SEND_WITHIN) or moment < community.created_at:
                continue
            previous = first_of_month - timedelta(days=1)
            settings = score_settings(community)
            if first_of_month.month in (1, 4, 7, 10) and settings.get("quarterly", True):
                sent += await self._quarterly(community, previous)
            if settings.get("public_list") is True:
                sent += await self._public_list(community, previous)
        return sent

    async def _quarterly(self, community: Community, day: date) -> int:
        ranking = await self.ranking(community, "quarter", day)
        label = f"{ranking.first.year}Q{(ranking.first.month - 1) // 3 + 1}"
        office = await self.chats.office_chat(community.id)
        if office is None:
            return 0
        await self.events.record(RankingDue("quarter", community.id, label, (office,), ranking))
        return 1

    async def _public_list(self, community: Community, day: date) -> int:
        ranking = await self.ranking(community, "month", day)
        if not any(r.score is not None for r in ranking.buildings):
            return 0
        chats = list((await self.session.execute(select(ChatLink.chat_id).where(
            ChatLink.community_id == community.id, ChatLink.kind == "residents").order_by(ChatLink.id))).scalars())
        await self.events.record(RankingDue("board", community.id, f"{ranking.first:%Y-%m}", tuple(chats), ranking))
        return len(chats)


@job("scores_reports")
async def scores_reports(session: AsyncSession, ctx: JobContext) -> None:
    await ScoresService(session, ctx.clock).run_due()


__all__ = ["DEFAULT_WEIGHTS", "PUBLIC_TOP", "AreaScore", "BuildingScore", "Ranking", "RankingDue", "ScoresService",
           "combine", "quarter_of", "weights_of"]
