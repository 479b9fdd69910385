"""Volunteer points (志愿积分): counted from what the bot already records, never typed in by hand.

- patrol shifts: per hour between check-in and check-out (a shift closed by the bot because nobody
  checked out earns nothing: the hours were not confirmed)
- cleaning days attended (the captain's attendance list)
- reports verified as real problems (closed out after a check on site)
- inspections finished

Community settings (``community.settings["points"]``):

    patrol_hour: 10
    cleaning_day: 5
    verified_report: 3
    inspection: 5
    thanks: true          # the monthly thank-you post in the residents' chats

`/points` shows a person their points and rank; the monthly report names the month's volunteers of the
month (志愿之星) to the office; the residents' chats get a thank-you post that names only the people who
agreed in /settings ("points_public"); everyone else is counted, never named. The words are in bot/notices/points.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs import JobContext, job
from bot.services.base import CommunityService
from bot.services.events import Event
from bot.services.members import MembersService
from models import (
    ChatLink,
    CleaningDay,
    CleaningRsvp,
    CloseHow,
    Community,
    Issue,
    Member,
    PatrolShift,
    ShiftAssignment,
)

DEFAULT_RULES: dict[str, int] = {"patrol_hour": 10, "cleaning_day": 5, "verified_report": 3, "inspection": 5}
STARS = 3  # volunteers of the month named
SEND_AT = time(9, 30)
SEND_WITHIN = timedelta(days=3)


def rules_of(community: Community) -> dict[str, int]:
    raw = (community.settings or {}).get("points")
    out = dict(DEFAULT_RULES)
    if isinstance(raw, dict):
        for k, v in raw.items():
            if k in out and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0:
                out[k] = int(v)
    return out


def thanks_on(community: Community) -> bool:
    raw = (community.settings or {}).get("points")
    return not (isinstance(raw, dict) and raw.get("thanks") is False)


@dataclass
class Tally:
    member_id: int
    hours: float = 0.0
    cleaning: int = 0
    reports: int = 0
    inspections: int = 0
    points: int = 0
    rank: int | None = None


@dataclass
class Standing:
    community: Community
    first: date
    last: date
    rules: dict[str, int]
    tallies: list[Tally] = field(default_factory=list)  # best first, only people with points

    def of(self, member_id: int) -> Tally | None:
        return next((t for t in self.tallies if t.member_id == member_id), None)


def _bounds(community: Community, first: date, last: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(community.timezone)
    return (datetime.combine(first, time(0), tz).astimezone(UTC),
            datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC))


@dataclass(frozen=True)
class ThanksDue(Event):
    """Last month's thank-you to the residents' chats (month label "2026-11" in the once-only key)."""

    community_id: int
    month: str
    chat_ids: tuple[int, ...]
    standing: Standing
    people: dict[int, Member]


class PointsService(CommunityService):
    async def standing(self, community: Community, first: date, last: date) -> Standing:
        """Everyone's points for local days first..last, best first, ranks shared on ties."""
        start, end = _bounds(community, first, last)
        rules = rules_of(community)
        tallies: dict[int, Tally] = {}

        def tally(mid: int) -> Tally:
            return tallies.setdefault(mid, Tally(mid))

        for mid, came, left in (await self.session.execute(
                select(ShiftAssignment.member_id, ShiftAssignment.checked_in_at, ShiftAssignment.checked_out_at)
                .join(PatrolShift, PatrolShift.id == ShiftAssignment.shift_id)
                .where(PatrolShift.community_id == community.id, ShiftAssignment.checked_in_at >= start,
                       ShiftAssignment.checked_in_at < end, ShiftAssignment.checked_out_at.is_not(None),
                       ShiftAssignment.auto_closed.is_(False)))).all():
            if came is not None and left is not None:  # (the query asks for both)
                tally(mid).hours += max(0.0, (left - came).total_seconds() / 3600)
        for (mid,) in (await self.session.execute(
                select(CleaningRsvp.member_id).join(CleaningDay, CleaningDay.id == CleaningRsvp.day_id)
                .where(CleaningDay.community_id == community.id, CleaningRsvp.attended.is_(True),
                       CleaningDay.starts_at >= start, CleaningDay.starts_at < end))).all():
            tally(mid).cleaning += 1
        for (reporter,) in (await self.session.execute(select(Issue.reporter_id).where(
                Issue.community_id == community.id, Issue.reporter_id.is_not(None),
                Issue.close_how == CloseHow.VERIFIED, Issue.closed_at >= start, Issue.closed_at < end))).all():
            if reporter is not None:  # (the query asks for a reporter)
                tally(reporter).reports += 1
        from bot.services.inspections import inspections_done

        for mid, n in (await inspections_done(self.session, community.id, start, end)).items():
            tally(mid).inspections += n
        erased = set((await self.session.execute(select(Member.id).where(
            Member.id.in_(list(tallies)), Member.data_deleted_at.is_not(None)))).scalars()) if tallies else set()
        out = []
        for t in tallies.values():
            if t.member_id in erased:
                continue
            t.hours = round(t.hours, 1)
            t.points = round(t.hours * rules["patrol_hour"] + t.cleaning * rules["cleaning_day"]
                             + t.reports * rules["verified_report"] + t.inspections * rules["inspection"])
            if t.points > 0:
                out.append(t)
        out.sort(key=lambda t: (-t.points, t.member_id))
        for i, t in enumerate(out):
            t.rank = out[i - 1].rank if i and out[i - 1].points == t.points else i + 1
        return Standing(community, first, last, rules, out)

    async def mine(self, member: Member, community: Community) -> tuple[Standing, Standing]:
        """(this month, this year) for the community, to show a person their own line."""
        today = self.clock().astimezone(ZoneInfo(community.timezone)).date()
        month = await self.standing(community, today.replace(day=1), today)
        year = await self.standing(community, today.replace(month=1, day=1), today)
        return month, year

    async def names(self, tallies: list[Tally]) -> dict[int, Member]:
        if not tallies:
            return {}
        return {m.id: m for m in (await self.session.execute(select(Member).where(
            Member.id.in_([t.member_id for t in tallies])))).scalars()}

    # --- the monthly thank-you post --------------------------------------------------------------------

    async def run_due(self) -> int:
        """On the first day of a month (09:30 local) the residents' chats get last month's thanks. One key
        per community, month and chat: a restart or a double tick posts nothing twice."""
        sent = 0
        for community in list((await self.session.execute(select(Community).order_by(Community.id))).scalars()):
            if not thanks_on(community):
                continue
            tz = ZoneInfo(community.timezone)
            now = self.clock()
            first_of_month = now.astimezone(tz).date().replace(day=1)
            moment = datetime.combine(first_of_month, SEND_AT, tz).astimezone(UTC)
            if not (moment <= now < moment + SEND_WITHIN) or moment < community.created_at:
                continue
            last = first_of_month - timedelta(days=1)
            standing = await self.standing(community, last.replace(day=1), last)
            if not standing.tallies:
                continue
            people = await self.names(standing.tallies)
            chats = list((await self.session.execute(select(ChatLink.chat_id).where(
                ChatLink.community_id == community.id, ChatLink.kind == "residents").order_by(ChatLink.id)
            )).scalars())
            await self.events.record(ThanksDue(community.id, f"{last:%Y-%m}", tuple(chats), standing, people))
            sent += len(chats)
        return sent


def named_in_thanks(standing: Standing, people: dict[int, Member]) -> list[Member]:
    """Whom the residents' chats' thank-you names: the volunteers of the month who agreed in /settings
    ("points_public") and whose data is not erased; everyone else is counted, never named."""
    return [people[t.member_id] for t in standing.tallies[:STARS]
            if t.member_id in people and MembersService.wants(people[t.member_id], "points_public")
            and people[t.member_id].data_deleted_at is None]


@job("points_thanks")
async def points_thanks(session: AsyncSession, ctx: JobContext) -> None:
    await PointsService(session, ctx.clock).run_due()


__all__ = ["DEFAULT_RULES", "STARS", "PointsService", "Standing", "Tally", "ThanksDue", "named_in_thanks", "rules_of"]
