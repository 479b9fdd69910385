"""What most capability services stand on: the update's session and clock, the members, the chats and
the outbox. Built per update by bot.services.build_services, which hands the same members/chats/outbox to
every service; jobs, the CLI and tests pass only what they have and get the rest built here."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from bot.services.chats import ChatsService
from bot.services.events import Events, NoticeContext
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from models import Community


class CommunityService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock, members: MembersService | None = None,
                 chats: ChatsService | None = None, outbox: Outbox | None = None) -> None:
        self.session = session
        self.clock = clock
        self.members = members or MembersService(session, clock)
        self.chats = chats or ChatsService(session, clock, self.members)
        self.outbox = outbox or Outbox(session, clock)

    @cached_property
    def events(self) -> Events:
        """Where this service records what happened; the notices word it (bot/services/events.py)."""
        return Events(NoticeContext(self.session, self.clock, self.members, self.chats, self.outbox))

    async def community(self, community_id: int) -> Community:
        return await community_of(self.session, community_id)

    async def timezone(self, community_id: int) -> str:
        """The community's time zone: handlers ask for it instead of reading it."""
        return await timezone_of(self.session, community_id)


def events_for(session: AsyncSession, clock: Clock = system_clock) -> Events:
    """A recorder for a service that stands on less than CommunityService (same session, own helpers)."""
    members = MembersService(session, clock)
    return Events(NoticeContext(session, clock, members, ChatsService(session, clock, members), Outbox(session, clock)))


async def community_of(session: AsyncSession, community_id: int) -> Community:
    community = await session.get(Community, community_id)
    if community is None:
        raise LookupError("community")
    return community


async def timezone_of(session: AsyncSession, community_id: int) -> str:
    """A community's time zone (UTC when it is gone)."""
    community = await session.get(Community, community_id)
    return community.timezone if community else "UTC"
