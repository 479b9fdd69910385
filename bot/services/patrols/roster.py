"""The week's roster message in each team chat: posted on Monday morning, kept up to date in place as
shifts change that week. Which shifts and which chat is decided here; the words are in
bot/notices/patrols.py (RosterDue, RosterChanged)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.chats import CHAT_ID_COLUMNS
from bot.services.outbox import on_sent
from bot.services.patrols.base import PatrolBase
from bot.services.patrols.events import RosterChanged, RosterDue
from bot.services.patrols.timing import ROSTER_HOUR, resolve_local
from bot.services.patrols.views import ShiftView, place_of
from models import OutboxItem, PatrolRoute, PatrolShift, RosterMessage

CHAT_ID_COLUMNS.append(RosterMessage.chat_id)  # type: ignore[arg-type]


class RosterPosts(PatrolBase):
    async def roster_chat(self, route: PatrolRoute) -> int | None:
        """The team chat a route's roster goes to: the building's, else the area's, else the office's."""
        return await self.chats.team_chat_up(place_of(route))

    @staticmethod
    def week_of(day: date) -> date:
        return day - timedelta(days=day.weekday())

    async def roster_shifts(self, community_id: int, chat_id: int, week_start: date) -> list[ShiftView] | None:
        """The shifts of the week starting `week_start` on the routes whose roster goes to this chat, in
        order; None when the chat has no such route or no shift that week (then there is no message)."""
        tz = await self.tz(community_id)
        start = resolve_local(week_start, 0, tz)
        end = resolve_local(week_start + timedelta(days=7), 0, tz)
        routes = (await self.session.execute(select(PatrolRoute).where(
            PatrolRoute.community_id == community_id))).scalars().all()
        route_ids = [r.id for r in routes if await self.roster_chat(r) == chat_id]
        if not route_ids:
            return None
        shifts = (await self.session.execute(select(PatrolShift).where(
            PatrolShift.route_id.in_(route_ids), PatrolShift.starts_at >= start, PatrolShift.starts_at < end)
            .order_by(PatrolShift.starts_at, PatrolShift.route_id))).scalars().all()
        if not shifts:
            return None
        return await self.views(shifts)

    async def run_weekly_roster(self) -> int:
        """Monday morning: post the week's roster in each team chat that has patrols this week."""
        now = self.clock()
        posted = 0
        for community in await self.members.communities():
            tz = ZoneInfo(community.timezone)
            local = now.astimezone(tz)
            hour = int((community.settings or {}).get("patrol_roster_hour", ROSTER_HOUR))
            if local.weekday() != 0 or local.hour < hour:
                continue
            week = local.date()
            routes = (await self.session.execute(select(PatrolRoute).where(
                PatrolRoute.community_id == community.id))).scalars().all()
            chat_ids = {c for c in [await self.roster_chat(r) for r in routes] if c is not None}
            for chat_id in sorted(chat_ids):
                exists = (await self.session.execute(select(RosterMessage.id).where(
                    RosterMessage.community_id == community.id, RosterMessage.chat_id == chat_id,
                    RosterMessage.week_start == week))).scalar_one_or_none()
                if exists is not None:
                    continue
                if await self.roster_shifts(community.id, chat_id, week) is None:
                    continue
                rm = RosterMessage(community_id=community.id, chat_id=chat_id, week_start=week, created_at=now)
                self.session.add(rm)
                await self.session.flush()
                expires = resolve_local(week + timedelta(days=1), 0, tz)
                await self.events.record(RosterDue(rm.id, expires))
                posted += 1
        return posted

    async def refresh_roster_for(self, shift: PatrolShift) -> None:
        route = await self.session.get(PatrolRoute, shift.route_id)
        if route is None:
            return
        chat_id = await self.roster_chat(route)
        if chat_id is None:
            return
        week = self.week_of(shift.starts_at.astimezone(await self.tz(shift.community_id)).date())
        rm = (await self.session.execute(select(RosterMessage).where(
            RosterMessage.community_id == shift.community_id, RosterMessage.chat_id == chat_id,
            RosterMessage.week_start == week))).scalar_one_or_none()
        if rm is not None:
            await self._edit_roster(rm)

    async def refresh_rosters(self, route_ids: Iterable[int]) -> None:
        """After generation: edit this week's roster messages of these routes' chats."""
        seen: set[int] = set()
        for route_id in route_ids:
            route = await self.session.get(PatrolRoute, route_id)
            if route is None:
                continue
            chat_id = await self.roster_chat(route)
            if chat_id is None or chat_id in seen:
                continue
            seen.add(chat_id)
            week = self.week_of(await self.today(route.community_id))
            rm = (await self.session.execute(select(RosterMessage).where(
                RosterMessage.community_id == route.community_id, RosterMessage.chat_id == chat_id,
                RosterMessage.week_start == week))).scalar_one_or_none()
            if rm is not None:
                await self._edit_roster(rm)

    async def _edit_roster(self, rm: RosterMessage) -> None:
        """The posted message follows (edited in place, or changed while still waiting in the outbox)."""
        await self.session.flush()
        if await self.roster_shifts(rm.community_id, rm.chat_id, rm.week_start) is None:
            return
        await self.events.record(RosterChanged(rm.id))


@on_sent("patrol_roster")
async def remember_roster_message(session: AsyncSession, item: OutboxItem) -> None:
    """Keep the roster's message id so that changes that week edit it in place."""
    rm_id = int(item.dedup_key.rsplit(":", 1)[-1])
    await session.execute(update(RosterMessage).where(RosterMessage.id == rm_id).values(
        message_id=item.message_id, chat_id=item.chat_id))

