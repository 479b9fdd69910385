"""Group chats: linking a group to a place as its team or residents' chat, unlinking, supergroup
migration, and finding which chats to post to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot.clock import Clock, system_clock
from bot.services.access import Actor, NotAllowed, Place, require
from bot.services.members import MembersService
from models import Building, ChatLink, ChatState, Community, GroupChat, Issue, OutboxItem, OutboxStatus

# Columns elsewhere that hold a chat id and must follow a group's migration to a supergroup.
# Capabilities append theirs (e.g. a roster message's chat).
CHAT_ID_COLUMNS: list[InstrumentedAttribute[int | None]] = [Issue.card_chat_id]

UNLINKED_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class LinkResult:
    link: ChatLink
    place_name: str
    replaced: bool


class ChatsService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock,
                 members: MembersService | None = None) -> None:
        self.session = session
        self.clock = clock
        self.members = members or MembersService(session, clock)

    async def bot_added(self, chat_id: int, title: str, added_by: int | None) -> bool:
        """Remember a group the bot was added to. Returns True the first time."""
        group = await self.session.get(GroupChat, chat_id)
        if group is None:
            self.session.add(GroupChat(chat_id=chat_id, title=title[:255], added_by=added_by,
                                       added_at=self.clock()))
            return True
        group.left_at = None
        group.title = title[:255]
        return False

    async def bot_removed(self, chat_id: int) -> None:
        group = await self.session.get(GroupChat, chat_id)
        if group is not None:
            group.left_at = self.clock()

    async def follow_migration(self, old: int, new: int) -> None:
        """A group became a supergroup: remember the new id as the same group (so the unlinked-group
        job neither leaves the new one nor keeps trying the old one). Links move in migrate_chat."""
        group = await self.session.get(GroupChat, old)
        if group is None:
            return
        if await self.session.get(GroupChat, new) is None:
            self.session.add(GroupChat(chat_id=new, title=group.title, added_by=group.added_by,
                                       added_at=group.added_at))
        group.left_at = self.clock()
        await self.session.flush()

    async def community_locale(self, link: ChatLink) -> str | None:
        """The language of the community a group is linked in (the group speaks it)."""
        community = await self.session.get(Community, link.community_id)
        return community.locale if community is not None else None

    async def moved(self, old: int, new: int) -> None:
        """A group became a supergroup: every chat id follows (migrate_chat), and the group is remembered."""
        await migrate_chat(self.session, old, new)
        await self.follow_migration(old, new)

    async def link(self, actor: Actor, chat_id: int, place: Place, kind: str, *, title: str = "",
                   source: str = "link") -> LinkResult:
        if kind not in {"team", "residents"}:
            raise ValueError(kind)
        require(actor, "link_chat", place)
        if place.kind == "community" and kind == "residents":
            kind = "residents"
        info = await self.members.place_info(place)
        existing_here = (await self.session.execute(
            select(ChatLink).where(ChatLink.chat_id == chat_id))).scalar_one_or_none()
        if existing_here is not None:
            await self.session.delete(existing_here)
            await self.session.flush()
        place_id = place.building_id or place.area_id or place.community_id
        previous = (await self.session.execute(select(ChatLink).where(
            ChatLink.place_kind == place.kind, ChatLink.place_id == place_id, ChatLink.kind == kind))
        ).scalar_one_or_none()
        replaced = previous is not None and previous.chat_id != chat_id
        if previous is not None:
            await self.session.delete(previous)
            await self.session.flush()
        link = ChatLink(chat_id=chat_id, community_id=place.community_id, place_kind=place.kind,
                        place_id=place_id, kind=kind, source=source, linked_by=actor.member_id,
                        created_at=self.clock())
        self.session.add(link)
        await self.bot_added(chat_id, title, None)
        await self.session.flush()
        return LinkResult(link, info.name, replaced)

    async def link_with_code(self, actor: Actor, chat_id: int, code: str, title: str = "") -> LinkResult:
        invite = await self.members.use_link_code(code)
        place = Place(invite.community_id, invite.area_id, invite.building_id)
        if place.building_id is not None:
            place = await self.members.building_place(place.building_id)
        return await self.link(actor, chat_id, place, invite.chat_kind or "team", title=title)

    async def unlink(self, actor: Actor, chat_id: int) -> ChatLink:
        link = await self.link_of(chat_id)
        if link is None:
            raise LookupError("link")
        place = await self.place_of(link)
        require(actor, "link_chat", place)
        await self.session.delete(link)
        return link

    async def link_of(self, chat_id: int) -> ChatLink | None:
        return (await self.session.execute(
            select(ChatLink).where(ChatLink.chat_id == chat_id))).scalar_one_or_none()

    async def place_of(self, link: ChatLink) -> Place:
        if link.place_kind == "building":
            return await self.members.building_place(link.place_id)
        if link.place_kind == "area":
            return Place(link.community_id, link.place_id)
        return Place(link.community_id)

    async def chat_for(self, place: Place, kind: str) -> int | None:
        """The chat linked to exactly this place as `kind`, if any."""
        place_id = place.building_id or place.area_id or place.community_id
        link = (await self.session.execute(select(ChatLink).where(
            ChatLink.place_kind == place.kind, ChatLink.place_id == place_id, ChatLink.kind == kind))
        ).scalar_one_or_none()
        return link.chat_id if link else None

    async def team_chat_up(self, place: Place) -> int | None:
        """The nearest team chat at or above a place (building, then area, then office)."""
        for p in (place, Place(place.community_id, place.area_id), Place(place.community_id)):
            if p.kind == "building" and p.building_id is None:
                continue
            if p.kind == "area" and p.area_id is None:
                continue
            chat = await self.chat_for(p, "team")
            if chat is not None:
                return chat
        return None

    async def office_chat(self, community_id: int) -> int | None:
        return await self.chat_for(Place(community_id), "team")

    async def residents_chats(self, building_ids: list[int]) -> list[int]:
        rows = (await self.session.execute(select(ChatLink.chat_id).where(
            ChatLink.place_kind == "building", ChatLink.place_id.in_(building_ids),
            ChatLink.kind == "residents"))).scalars()
        return list(rows)

    async def stale_groups(self) -> list[int]:
        """Groups the bot is in that nobody linked within a day: the bot leaves them."""
        cutoff = self.clock() - UNLINKED_GRACE
        linked = select(ChatLink.chat_id)
        rows = (await self.session.execute(select(GroupChat.chat_id).where(
            GroupChat.left_at.is_(None), GroupChat.added_at <= cutoff,
            GroupChat.chat_id.not_in(linked)))).scalars()
        return list(rows)

    async def buildings_of(self, place: Place) -> list[Building]:
        stmt = select(Building).where(Building.community_id == place.community_id)
        if place.building_id is not None:
            stmt = stmt.where(Building.id == place.building_id)
        elif place.area_id is not None:
            stmt = stmt.where(Building.area_id == place.area_id)
        return list((await self.session.execute(stmt.order_by(Building.id))).scalars())


async def migrate_chat(session: AsyncSession, old: int, new: int) -> None:
    """A group became a supergroup: its id changed. Follow it everywhere the bot keeps chat ids."""
    state = await session.get(ChatState, old)
    if state is None:
        session.add(ChatState(chat_id=old, migrated_to=new))
    else:
        state.migrated_to = new
    await session.execute(update(ChatLink).where(ChatLink.chat_id == old).values(chat_id=new))
    await session.execute(update(OutboxItem).where(
        OutboxItem.chat_id == old, OutboxItem.status == OutboxStatus.PENDING).values(chat_id=new))
    for column in CHAT_ID_COLUMNS:
        await session.execute(update(column.class_).where(column == old).values({column.key: new}))


__all__ = ["CHAT_ID_COLUMNS", "ChatsService", "LinkResult", "NotAllowed", "migrate_chat"]
