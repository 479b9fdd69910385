"""People and their roles and places: who someone is, what they hold, where. MembersService (members.py)
adds invites, join requests, preferences and erasure on top."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.clock import Clock, system_clock
from bot.locales import SUPPORTED, normalize_locale
from bot.services.access import (
    ROLE_LEVEL,
    ROLE_PLACE_KIND,
    Actor,
    Grant,
    Level,
    NotAllowed,
    Place,
    can,
    can_grant,
    require,
)
from models import (
    Area,
    Building,
    Community,
    Member,
    Role,
)

INVITE_TTL = timedelta(days=7)

# Notification preferences (member.prefs) and their defaults: everything on until switched off.
# announcements: non-urgent announcements · cleaning: cleaning-day reminders · digest: staff's daily
# digest in private · area_digest: the area head's digest of their area.
PREF_DEFAULTS: dict[str, bool] = {"announcements": True, "cleaning": True, "digest": True, "area_digest": True,
                                  # named in the residents' chats' thank-you posts (志愿之星): off until
                                  # the person agrees, in /settings
                                  "points_public": False}
# Telegram ids of erased members are replaced by a value no real chat can have (below -10^15), so
# the person is a stranger if they come back while their old reports stay with the anonymous row.
ERASED_ID_BASE = -(10**15)


class InviteError(Exception):
    """An invite code that cannot be used: reason is unknown | expired | revoked | used_up | purpose |
    stale (its maker may no longer grant that role at that place)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TelegramPerson:
    """What Telegram tells us about a user, without aiogram types."""

    id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class PlaceInfo:
    place: Place
    community: Community
    area: Area | None
    building: Building | None

    @property
    def name(self) -> str:
        if self.building is not None:
            return self.building.name
        if self.area is not None:
            return self.area.name
        return self.community.name


@dataclass(frozen=True)
class RoleView:
    role: Role
    member: Member
    place_name: str


class MemberRoles:
    """Who someone is and what they hold: the person, their roles and places (the core MembersService
    stands on; invites, join requests, preferences and erasure are bot/services/members.py's)."""

    def __init__(self, session: AsyncSession, clock: Clock = system_clock,
                 admin_ids: Sequence[int] = ()) -> None:
        self.session = session
        self.clock = clock
        self.admin_ids = set(admin_ids)

    # ------------------------------------------------------------------ identity

    async def touch(self, person: TelegramPerson, known: Member | None = None, *, stranger: bool = False) -> Member:
        """Find or create the member for a Telegram user and refresh what Telegram says of them (a write
        only when something changed). `known`: the row already loaded for this person in this session;
        `stranger`: this session already looked and found none (so `known` is the answer either way)."""
        member = known if known is not None or stranger else await self.by_telegram_id(person.id)
        if member is None:
            member = Member(telegram_id=person.id, first_name=person.first_name[:255],
                            last_name=(person.last_name or None) and person.last_name[:255],
                            username=person.username, language_code=person.language_code,
                            created_at=self.clock(), prefs={})
            self.session.add(member)
            await self.session.flush()
            return member
        if member.data_deleted_at is None:
            if member.first_name != person.first_name[:255]:
                member.first_name = person.first_name[:255]
            last = (person.last_name or None) and person.last_name[:255]
            if member.last_name != last:
                member.last_name = last
            if member.username != person.username:
                member.username = person.username
        if person.language_code and member.language_code != person.language_code:
            member.language_code = person.language_code
        return member

    async def by_telegram_id(self, telegram_id: int) -> Member | None:
        return (await self.session.execute(
            select(Member).where(Member.telegram_id == telegram_id))).scalar_one_or_none()

    async def get(self, member_id: int) -> Member | None:
        return await self.session.get(Member, member_id)

    async def actor(self, member: Member) -> Actor:
        # Columns, not Role objects: this runs for every update, and ORM loading was most of its cost.
        rows = (await self.session.execute(
            select(Role.role, Role.community_id, Role.area_id, Role.building_id, Building.area_id)
            .outerjoin(Building, Building.id == Role.building_id)
            .where(Role.member_id == member.id))).all()
        grants = [Grant(role, community_id, area_id if area_id is not None else building_area, building_id)
                  for role, community_id, area_id, building_id, building_area in rows]
        return self.actor_of(member, grants)

    def actor_of(self, member: Member, grants: list[Grant]) -> Actor:
        """The actor from grants already read (bot/services/update_context.py reads them with the member)."""
        return Actor(member_id=member.id, telegram_id=member.telegram_id,
                     is_admin=member.telegram_id in self.admin_ids, grants=grants)

    def locale_for(self, member: Member | None, community: Community | None = None,
                   default: str = "en") -> str:
        """Explicit choice, then Telegram language if supported, then community locale, then default."""
        if member is not None and member.locale in SUPPORTED:
            return member.locale
        if member is not None:
            mapped = normalize_locale(member.language_code)
            if mapped:
                return mapped
        if community is not None and community.locale in SUPPORTED:
            return community.locale
        return default

    # ------------------------------------------------------------------ places

    async def place_info(self, place: Place) -> PlaceInfo:
        community = await self.session.get(Community, place.community_id)
        if community is None:
            raise LookupError("community")
        area = await self.session.get(Area, place.area_id) if place.area_id else None
        building = await self.session.get(Building, place.building_id) if place.building_id else None
        return PlaceInfo(place, community, area, building)

    async def building_place(self, building_id: int) -> Place:
        building = await self.session.get(Building, building_id)
        if building is None:
            raise LookupError("building")
        return Place(building.community_id, building.area_id, building.id)

    async def area_place(self, area_id: int) -> Place:
        area = await self.session.get(Area, area_id)
        if area is None:
            raise LookupError("area")
        return Place(area.community_id, area.id)

    async def communities(self) -> list[Community]:
        return list((await self.session.execute(select(Community).order_by(Community.name))).scalars())

    async def community_by(self, name_or_key: str) -> Community | None:
        return (await self.session.execute(select(Community).where(
            (Community.key == name_or_key) | (Community.name == name_or_key)
            | (Community.code == name_or_key.upper())))).scalars().first()

    async def areas(self, community_id: int) -> list[Area]:
        return list((await self.session.execute(
            select(Area).where(Area.community_id == community_id).order_by(Area.id))).scalars())

    async def buildings(self, *, community_id: int | None = None, area_id: int | None = None) -> list[Building]:
        stmt = select(Building).order_by(Building.id)
        if community_id is not None:
            stmt = stmt.where(Building.community_id == community_id)
        if area_id is not None:
            stmt = stmt.where(Building.area_id == area_id)
        return list((await self.session.execute(stmt)).scalars())

    async def home_buildings(self, member: Member) -> list[Building]:
        """Buildings where the member is a resident or captain, their own first."""
        rows = (await self.session.execute(
            select(Building).join(Role, Role.building_id == Building.id)
            .where(Role.member_id == member.id, Role.role.in_(("resident", "captain")))
            .order_by(Role.role.desc(), Building.id))).scalars()
        seen: dict[int, Building] = {}
        for b in rows:
            seen.setdefault(b.id, b)
        return list(seen.values())

    async def member_communities(self, member: Member) -> list[Community]:
        ids = select(Role.community_id).where(Role.member_id == member.id)
        return list((await self.session.execute(
            select(Community).where(Community.id.in_(ids)).order_by(Community.id))).scalars())

    # ------------------------------------------------------------------ roles

    async def grant(self, member: Member, role: str, place: Place, *, source: str,
                    granted_by: int | None = None) -> bool:
        """Give a role at a place. Returns False when the member already held it."""
        if role not in ROLE_PLACE_KIND:
            raise ValueError(role)
        area_id = place.area_id if ROLE_PLACE_KIND[role] == "area" else None
        building_id = place.building_id if ROLE_PLACE_KIND[role] == "building" else None
        existing = (await self.session.execute(select(Role).where(
            Role.member_id == member.id, Role.role == role, Role.community_id == place.community_id,
            Role.area_id.is_(None) if area_id is None else Role.area_id == area_id,
            Role.building_id.is_(None) if building_id is None else Role.building_id == building_id,
        ))).scalar_one_or_none()
        if existing is not None:
            if source == "import" and existing.source != "import":
                existing.source = "import"
            return False
        self.session.add(Role(member_id=member.id, role=role, community_id=place.community_id,
                              area_id=area_id, building_id=building_id, source=source,
                              granted_by=granted_by, created_at=self.clock()))
        await self.session.flush()
        return True

    async def roles_of(self, member: Member) -> list[RoleView]:
        rows = (await self.session.execute(
            select(Role).where(Role.member_id == member.id).order_by(Role.id))).scalars().all()
        return [RoleView(r, member, await self._place_name(r)) for r in rows]

    async def _place_name(self, role: Role) -> str:
        if role.building_id:
            b = await self.session.get(Building, role.building_id)
            return b.name if b else "?"
        if role.area_id:
            a = await self.session.get(Area, role.area_id)
            return a.name if a else "?"
        c = await self.session.get(Community, role.community_id)
        return c.name if c else "?"

    async def holders(self, role: str, place: Place) -> list[Member]:
        """Members holding `role` exactly at this place (e.g. the captains of a building)."""
        stmt = select(Member).join(Role, Role.member_id == Member.id).where(
            Role.role == role, Role.community_id == place.community_id)
        if ROLE_PLACE_KIND[role] == "building":
            stmt = stmt.where(Role.building_id == place.building_id)
        elif ROLE_PLACE_KIND[role] == "area":
            stmt = stmt.where(Role.area_id == place.area_id)
        return list((await self.session.execute(stmt.order_by(Member.id))).scalars().unique())

    async def responsible(self, place: Place, level: int) -> list[Member]:
        """Who answers for a place at an escalation level: 0 captains, 1 area heads, 2 staff."""
        order = [("captain", 0), ("area_head", 1), ("staff", 2)]
        for role, lvl in order:
            if lvl < level:
                continue
            if role == "captain" and place.building_id is None:
                continue
            if role == "area_head" and place.area_id is None:
                continue
            people = await self.holders(role, place)
            if people:
                return people
        return []

    async def managed_places(self, actor: Actor) -> list[PlaceInfo]:
        """The places whose people the actor looks after (/members): captains their buildings, area
        heads their areas, staff their communities, admins every community."""
        places: list[Place] = []
        if actor.is_admin:
            places = [Place(c.id) for c in await self.communities()]
        else:
            for g in sorted(actor.grants, key=lambda g: (-ROLE_LEVEL[g.role], g.community_id)):
                if g.role == "staff":
                    places.append(Place(g.community_id))
                elif g.role == "area_head" and g.area_id is not None:
                    places.append(Place(g.community_id, g.area_id))
                elif g.role == "captain" and g.building_id is not None:
                    places.append(Place(g.community_id, g.area_id, g.building_id))
        seen: set[Place] = set()
        out = []
        for p in places:
            if p not in seen and can(actor, "members", p):
                seen.add(p)
                out.append(await self.place_info(p))
        return out

    async def candidate_places(self, actor: Actor) -> list[Place]:
        """Every place of the actor's communities, community first, then areas, then buildings."""
        ids = [c.id for c in await self.communities()] if actor.is_admin else sorted(actor.communities())
        out: list[Place] = []
        for cid in ids:
            out.append(Place(cid))
            out += [Place(cid, a.id) for a in await self.areas(cid)]
            out += [Place(cid, b.area_id, b.id) for b in await self.buildings(community_id=cid)]
        return out

    async def places_where(self, actor: Actor, action: str, community: Community) -> list[tuple[str, int, str]]:
        """(kind, id, name) of every building, then area, then the community itself where the actor may
        take `action` — the place pickers of /cleanday and /announce."""
        out: list[tuple[str, int, str]] = []
        for b in await self.buildings(community_id=community.id):
            if can(actor, action, Place(community.id, b.area_id, b.id)):
                out.append(("building", b.id, b.name))
        for a in await self.areas(community.id):
            if can(actor, action, Place(community.id, a.id)):
                out.append(("area", a.id, a.name))
        if can(actor, action, Place(community.id)):
            out.append(("community", community.id, community.name))
        return out

    async def invite_places(self, actor: Actor) -> list[PlaceInfo]:
        """Places where the actor may grant at least one role (the first step of /invite)."""
        return [await self.place_info(p) for p in await self.candidate_places(actor)
                if self.grantable_roles(actor, p)]

    async def link_places(self, actor: Actor) -> list[PlaceInfo]:
        """Places whose group chats the actor may link (team chat or residents' chat)."""
        return [await self.place_info(p) for p in await self.candidate_places(actor)
                if can(actor, "link_chat", p)]

    async def place_by_code(self, code: str) -> Place:
        """A place from its short code in callback data: b<id>, a<id> or c<id>."""
        kind, raw = code[:1], code[1:]
        if not raw.isdigit():
            raise LookupError("place")
        if kind == "b":
            return await self.building_place(int(raw))
        if kind == "a":
            return await self.area_place(int(raw))
        if kind == "c" and await self.session.get(Community, int(raw)) is not None:
            return Place(int(raw))
        raise LookupError("place")

    async def resident_buildings(self, member: Member) -> list[Building]:
        """Buildings where the member is a resident (what "Leave building" offers)."""
        return list((await self.session.execute(
            select(Building).join(Role, Role.building_id == Building.id)
            .where(Role.member_id == member.id, Role.role == "resident").order_by(Building.id))).scalars())

    async def handover_targets(self, actor: Actor, building_id: int) -> list[Member]:
        """Residents of a building who could take over its captaincy (not already its captains)."""
        place = await self.building_place(building_id)
        if not (can(actor, "handover_captain", place) or any(
                g.role == "captain" and g.building_id == building_id for g in actor.grants)):
            raise NotAllowed("handover_captain", place, Level.AREA_HEAD)
        captains = {m.id for m in await self.holders("captain", place)}
        return [m for m in await self.holders("resident", place)
                if m.id not in captains and m.data_deleted_at is None]

    async def handover_choice(self, actor: Actor, building_id: int, from_member_id: int,
                              to_member_id: int) -> tuple[Member, Member]:
        """(old captain, new captain) of a proposed handover, only when both are among what /members
        offered: `from` a captain of the building whose captaincy the actor may hand over (their own,
        for a captain), `to` one of handover_targets. Callback data is untrusted: anything else is a
        LookupError, so a forged id never reveals a member's name."""
        place = await self.building_place(building_id)
        targets = await self.handover_targets(actor, building_id)  # checks the actor's right
        captains = await self.holders("captain", place)
        if not can(actor, "handover_captain", place):
            captains = [c for c in captains if c.id == actor.member_id]
        old = next((c for c in captains if c.id == from_member_id), None)
        new = next((m for m in targets if m.id == to_member_id), None)
        if old is None or new is None:
            raise LookupError("member")
        return old, new

    async def role_view(self, role_id: int) -> RoleView:
        role = (await self.session.execute(select(Role).options(selectinload(Role.member))
                                           .where(Role.id == role_id))).scalar_one_or_none()
        if role is None:
            raise LookupError("role")
        return RoleView(role, role.member, await self._place_name(role))

    async def role_place(self, role: Role) -> Place:
        return await self._role_place(role)

    async def members_in_scope(self, actor: Actor, place: Place) -> list[RoleView]:
        require(actor, "members", place)
        stmt = select(Role).options(selectinload(Role.member)).where(Role.community_id == place.community_id)
        if place.kind == "building":
            stmt = stmt.where(Role.building_id == place.building_id)
        elif place.kind == "area":
            in_area = select(Building.id).where(Building.area_id == place.area_id)
            stmt = stmt.where((Role.area_id == place.area_id) | Role.building_id.in_(in_area))
        rows = (await self.session.execute(stmt.order_by(Role.role, Role.id))).scalars().all()
        return [RoleView(r, r.member, await self._place_name(r)) for r in rows]

    async def _role_place(self, role: Role) -> Place:
        if role.building_id:
            return await self.building_place(role.building_id)
        if role.area_id:
            return Place(role.community_id, role.area_id)
        return Place(role.community_id)

    # ------------------------------------------------------------------ invites

    def grantable_roles(self, actor: Actor, place: Place) -> list[str]:
        return [r for r in ROLE_PLACE_KIND if can_grant(actor, r, place)]


def level_name(level: Level) -> str:
    for name, lvl in ROLE_LEVEL.items():
        if lvl == level:
            return name
    return "none"
