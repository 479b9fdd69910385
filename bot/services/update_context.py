"""Everything the per-update middlewares need about a known person, read in one statement.

Every update used to pay for four reads in a row (the member, their roles, the conversation state, the
chat's "unreachable" mark) plus three more for a group chat's language, each a round trip through the
database driver (four thread hand-offs on aiosqlite) and SQLAlchemy's statement machinery. They are
independent lookups by key, so one statement with outer joins answers them all inside the update's own
transaction: nothing is cached across updates, so no other worker's change can be missed. The statement
starts from a one-row table, so a person the bot has never seen gets an answer too (no member: first
contact), with the state and the chat's marks.

The member and the FSM record are loaded as ORM objects into the update's session, so later
`session.get(Member, ...)` / `session.get(FsmRecord, key)` in handlers and in the FSM storage are answered
from the identity map without SQL. A person the bot has never seen (no member row) gets no answer
here; the middlewares then take the long way (first contact creates the row anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.services.access import Grant
from models import Building, ChatLink, ChatState, Community, FsmRecord, Member, Role

_ChatCommunity = aliased(Community, name="chat_community")
_ONE = select(literal(1).label("one")).subquery("one")

# Built once: constructing a select() costs more Python than running it against SQLite's cache, and its
# compiled form stays in SQLAlchemy's statement cache. The same bound parameter may appear twice.
_CONTEXT = (
    select(Member, FsmRecord, ChatState.unreachable, _ChatCommunity.locale,
           Role.role, Role.community_id, Role.area_id, Role.building_id, Building.area_id)
    .select_from(_ONE)
    .outerjoin(Member, Member.telegram_id == bindparam("telegram_id"))
    .outerjoin(Role, Role.member_id == Member.id)
    .outerjoin(Building, Building.id == Role.building_id)
    .outerjoin(FsmRecord, FsmRecord.key == bindparam("fsm_key"))
    .outerjoin(ChatState, and_(ChatState.chat_id == bindparam("chat_id"), ChatState.unreachable.is_not(None)))
    .outerjoin(ChatLink, ChatLink.chat_id == bindparam("chat_id"))
    .outerjoin(_ChatCommunity, _ChatCommunity.id == ChatLink.community_id)
    .order_by(Role.id)
)


@dataclass
class UpdateContext:
    member: Member | None  # None: a stranger (first contact)
    grants: list[Grant] = field(default_factory=list)
    fsm_loaded: bool = False  # an FSM key was given: fsm_state is the conversation state
    fsm_state: str | None = None
    chat_unreachable: bool = False  # the chat carries a "sending stopped" mark to clear
    chat_locale: str | None = None  # the language of the community the (group) chat is linked to


async def load(session: AsyncSession, *, telegram_id: int, chat_id: int | None,
               fsm_key: str | None) -> UpdateContext:
    """The person's member row (None for a stranger), roles, conversation state and the chat's marks."""
    rows = (await session.execute(_CONTEXT, {
        "telegram_id": telegram_id, "chat_id": chat_id if chat_id is not None else 0,
        "fsm_key": fsm_key or ""})).all()
    first = rows[0]  # the one-row base: always at least one row
    member, record = first[0], first[1]
    grants = [Grant(role, community_id, area_id if area_id is not None else building_area, building_id)
              for *_, role, community_id, area_id, building_id, building_area in rows if role is not None]
    return UpdateContext(member=member, grants=grants, fsm_loaded=fsm_key is not None,
                         fsm_state=record.state if record is not None else None,
                         chat_unreachable=first[2] is not None and chat_id is not None,
                         chat_locale=first[3] if chat_id is not None else None)
