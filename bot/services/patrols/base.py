"""The ground every patrol rule stands on: loading communities, routes and shifts (as ShiftView) and who
answers for a route. PatrolService (bot/services/patrols/service.py) is this plus one layer per seam."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.clock import Clock, system_clock
from bot.services.access import Place
from bot.services.base import CommunityService
from bot.services.chats import ChatsService
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from bot.services.patrols.views import ShiftView, place_of
from models import Community, Member, PatrolRoute, PatrolShift, ShiftAssignment


class PatrolBase(CommunityService):
    """Loading what every patrol rule needs: communities (cached per service), routes, shifts as views."""

    def __init__(self, session: AsyncSession, clock: Clock = system_clock, members: MembersService | None = None,
                 chats: ChatsService | None = None, outbox: Outbox | None = None) -> None:
        super().__init__(session, clock, members, chats, outbox)
        self._communities: dict[int, Community] = {}

    # ---------------------------------------------------------------- loading

    async def community(self, community_id: int) -> Community:
        if community_id not in self._communities:
            c = await self.session.get(Community, community_id)
            if c is None:
                raise LookupError("community")
            self._communities[community_id] = c
        return self._communities[community_id]

    async def tz(self, community_id: int) -> ZoneInfo:
        return ZoneInfo((await self.community(community_id)).timezone)

    async def route(self, route_id: int) -> PatrolRoute:
        route = (await self.session.execute(
            select(PatrolRoute).where(PatrolRoute.id == route_id)
            .options(selectinload(PatrolRoute.checkpoints), selectinload(PatrolRoute.templates))
            .execution_options(populate_existing=True)  # collections change within one session
        )).scalar_one_or_none()
        if route is None:
            raise LookupError("route")
        return route

    async def views(self, shifts: Sequence[PatrolShift]) -> list[ShiftView]:
        if not shifts:
            return []
        ids = [s.id for s in shifts]
        rows = (await self.session.execute(
            select(ShiftAssignment, Member).join(Member, Member.id == ShiftAssignment.member_id)
            .where(ShiftAssignment.shift_id.in_(ids)).order_by(ShiftAssignment.id))).all()
        people: dict[int, list[tuple[ShiftAssignment, Member]]] = {}
        for a, m in rows:
            people.setdefault(a.shift_id, []).append((a, m))
        route_ids = {s.route_id for s in shifts}
        routes = {r.id: r for r in (await self.session.execute(
            select(PatrolRoute).where(PatrolRoute.id.in_(route_ids))
            .options(selectinload(PatrolRoute.checkpoints)))).scalars()}
        out = []
        for s in shifts:
            out.append(ShiftView(s, routes[s.route_id], await self.tz(s.community_id), people.get(s.id, [])))
        return out

    async def view(self, shift_id: int) -> ShiftView:
        shift = await self.session.get(PatrolShift, shift_id, populate_existing=True)
        if shift is None:
            raise LookupError("shift")
        return (await self.views([shift]))[0]

    async def place_name(self, route: PatrolRoute) -> str:
        info = await self.members.place_info(place_of(route))
        return info.name

    async def today(self, community_id: int) -> date:
        return self.clock().astimezone(await self.tz(community_id)).date()

    async def responsible(self, route: PatrolRoute) -> list[Member]:
        """The people who answer for a route's place (MembersService.responsible)."""
        return await self.members.responsible(place_of(route), 0)

    async def volunteer_pool(self, community_id: int) -> list[Member]:
        return await self.members.holders("volunteer", Place(community_id))
