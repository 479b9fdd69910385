"""Households (户): the flats of each building and who belongs to which.

Rules only (no Telegram, no text). A household is named the way people say it — "2-301" is unit 2,
room 301; "301" where the building has one entrance; "12" where the structure file gives only a count —
and it is the unit of a consultation vote and a survey response. Every denominator counts all
households of a place, including those with nobody in the bot.

The structure file describes a building's households in one of three ways:

    rooms: ["1-101", "1-102", "2-101"]        # listed
    units: 3, floors: 6, per_floor: 2         # described: 1-101 … 3-602
    households: 48                            # counted: 1 … 48

Re-importing keeps existing households and their members; a household the file no longer lists is
removed only while nobody belongs to it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from bot.services.access import Actor, NotAllowed, Place, require
from bot.services.tenure import Erased, on_erased, on_roles_ended
from models import Building, Community, Household, HouseholdMember, JoinRequest, Member, Role

LABEL_RE = re.compile(r"^(?:(?P<unit>\d{1,2})-)?(?P<room>\d{1,5}[A-Za-z]?)$")
MAX_HOUSEHOLDS_PER_BUILDING = 2000


class HouseholdError(ValueError):
    """A household label or description that cannot be used; the message says why."""


@dataclass(frozen=True)
class HouseholdSpec:
    label: str
    unit: int | None
    floor: int | None
    room: str


def _floor_of(room: str) -> int | None:
    """Room 301 is on floor 3, room 1205 on floor 12; a bare count ("7") has no floor."""
    digits = re.match(r"\d+", room)
    if digits is None or len(digits.group()) < 3:
        return None
    return int(digits.group()[:-2]) or None


def normalize_label(text: str) -> str | None:
    """"2-301", "2－301", "２-３０１", "2单元301", "2 单元 301室", "2/301" → "2-301"; "301号" → "301".
    None when the text is not a household label."""
    s = unicodedata.normalize("NFKC", text).strip()
    s = re.sub(r"\s+", "", s)
    s = s.replace("单元", "-").replace("/", "-").replace("—", "-").replace("–", "-")
    s = re.sub(r"(室|号|房)$", "", s)
    if not LABEL_RE.match(s):
        return None
    m = LABEL_RE.match(s)
    assert m is not None
    unit = m.group("unit")
    room = m.group("room").upper()
    return f"{int(unit)}-{room}" if unit else room


def spec_of(label: str) -> HouseholdSpec:
    norm = normalize_label(label)
    if norm is None:
        raise HouseholdError(f"{label!r} is not a household like 2-301 or 301")
    m = LABEL_RE.match(norm)
    assert m is not None
    unit = int(m.group("unit")) if m.group("unit") else None
    room = m.group("room")
    return HouseholdSpec(norm, unit, _floor_of(room), room)


def describe(*, rooms: list[str] | None = None, units: int | None = None, floors: int | None = None,
             per_floor: int | None = None, households: int | None = None) -> list[HouseholdSpec]:
    """The households of a building from its structure-file description (see the module docstring)."""
    described = (units, floors, per_floor)
    if rooms is not None and any(v is not None for v in described):
        raise HouseholdError("give either rooms or units/floors/per_floor, not both")
    if rooms is not None:
        specs = [spec_of(r) for r in rooms]
        seen: set[str] = set()
        for s in specs:
            if s.label in seen:
                raise HouseholdError(f"room {s.label} is listed twice")
            seen.add(s.label)
    elif any(v is not None for v in described):
        if not all(v is not None and v > 0 for v in described):
            raise HouseholdError("units, floors and per_floor go together, each at least 1")
        assert units is not None and floors is not None and per_floor is not None
        if per_floor > 99:
            raise HouseholdError("per_floor must be at most 99")
        specs = [HouseholdSpec(f"{u}-{f}{r:02d}", u, f, f"{f}{r:02d}")
                 for u in range(1, units + 1) for f in range(1, floors + 1) for r in range(1, per_floor + 1)]
    elif households:
        specs = [HouseholdSpec(str(n), None, None, str(n)) for n in range(1, households + 1)]
    else:
        return []
    if len(specs) > MAX_HOUSEHOLDS_PER_BUILDING:
        raise HouseholdError(f"{len(specs)} households in one building; at most {MAX_HOUSEHOLDS_PER_BUILDING}")
    if households is not None and (rooms is not None or units is not None) and households != len(specs):
        raise HouseholdError(f"households: {households} does not match the {len(specs)} rooms described")
    return specs


@dataclass(frozen=True)
class HouseholdView:
    id: int
    building_id: int
    label: str
    unit: int | None
    floor: int | None
    room: str


def _view(h: Household) -> HouseholdView:
    return HouseholdView(h.id, h.building_id, h.label, h.unit, h.floor, h.room)


class HouseholdsService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    # --- lookups for the handlers (they never touch the session) ----------------------------------

    async def member(self, member_id: int) -> Member | None:
        return await self.session.get(Member, member_id)

    async def building(self, building_id: int) -> Building:
        building = await self.session.get(Building, building_id)
        if building is None:
            raise LookupError("building")
        return building

    async def community(self, community_id: int) -> Community:
        community = await self.session.get(Community, community_id)
        if community is None:
            raise LookupError("community")
        return community

    async def has_flats(self, building_id: int) -> bool:
        return bool((await self.count([building_id])).get(building_id))

    # --- structure ---------------------------------------------------------------------------------

    async def sync_building(self, building: Building, specs: list[HouseholdSpec]) -> tuple[int, int, int]:
        """Make the building's households match `specs`: (created, removed, kept because people belong)."""
        existing = {h.label: h for h in (await self.session.execute(
            select(Household).where(Household.building_id == building.id))).scalars()}
        created = removed = kept = 0
        wanted = {s.label for s in specs}
        for s in specs:
            h = existing.get(s.label)
            if h is None:
                self.session.add(Household(community_id=building.community_id, building_id=building.id,
                                           label=s.label, unit=s.unit, floor=s.floor, room=s.room,
                                           source="import", created_at=self.clock()))
                created += 1
            elif (h.unit, h.floor, h.room) != (s.unit, s.floor, s.room):
                h.unit, h.floor, h.room = s.unit, s.floor, s.room
        stale = [h for label, h in existing.items() if label not in wanted]
        if stale:
            occupied = set((await self.session.execute(
                select(HouseholdMember.household_id).where(
                    HouseholdMember.household_id.in_([h.id for h in stale])))).scalars())
            for h in stale:
                if h.id in occupied:
                    kept += 1
                else:
                    await self.session.delete(h)
                    removed += 1
        await self.session.flush()
        return created, removed, kept

    # --- reading ------------------------------------------------------------------------------------

    async def count(self, building_ids: list[int]) -> dict[int, int]:
        """All households per building (the denominator), people in the bot or not."""
        if not building_ids:
            return {}
        rows = await self.session.execute(
            select(Household.building_id, func.count()).where(Household.building_id.in_(building_ids))
            .group_by(Household.building_id))
        found = {bid: int(n) for bid, n in rows.all()}
        return {bid: found.get(bid, 0) for bid in building_ids}

    async def of_building(self, building_id: int) -> list[HouseholdView]:
        rows = (await self.session.execute(
            select(Household).where(Household.building_id == building_id))).scalars().all()
        return sorted((_view(h) for h in rows), key=_sort_key)

    async def get(self, household_id: int) -> HouseholdView | None:
        h = await self.session.get(Household, household_id)
        return _view(h) if h is not None else None

    async def find(self, building_id: int, text: str) -> HouseholdView | None:
        """The household a typed label names in this building ("2-301", "2单元301"), if it exists."""
        label = normalize_label(text)
        if label is None:
            return None
        h = (await self.session.execute(select(Household).where(
            Household.building_id == building_id, Household.label == label))).scalar_one_or_none()
        return _view(h) if h is not None else None

    async def units(self, building_id: int) -> list[int | None]:
        """The building's units, for the first tap of the picker ([None] with one entrance)."""
        rows = (await self.session.execute(select(Household.unit).where(
            Household.building_id == building_id).distinct())).scalars().all()
        return sorted(rows, key=lambda u: -1 if u is None else u)

    async def floors(self, building_id: int, unit: int | None) -> list[int | None]:
        q = select(Household.floor).where(Household.building_id == building_id).distinct()
        q = q.where(Household.unit.is_(None) if unit is None else Household.unit == unit)
        rows = (await self.session.execute(q)).scalars().all()
        return sorted(rows, key=lambda f: -1 if f is None else f)

    async def rooms(self, building_id: int, unit: int | None, floor: int | None) -> list[HouseholdView]:
        q = select(Household).where(Household.building_id == building_id)
        q = q.where(Household.unit.is_(None) if unit is None else Household.unit == unit)
        q = q.where(Household.floor.is_(None) if floor is None else Household.floor == floor)
        return sorted((_view(h) for h in (await self.session.execute(q)).scalars()), key=_sort_key)

    async def household_of(self, member_id: int, building_id: int) -> HouseholdView | None:
        h = (await self.session.execute(
            select(Household).join(HouseholdMember, HouseholdMember.household_id == Household.id)
            .where(HouseholdMember.member_id == member_id, Household.building_id == building_id)
            .limit(1))).scalar_one_or_none()
        return _view(h) if h is not None else None

    async def members_of(self, household_id: int) -> list[Member]:
        return list((await self.session.execute(
            select(Member).join(HouseholdMember, HouseholdMember.member_id == Member.id)
            .where(HouseholdMember.household_id == household_id, Member.data_deleted_at.is_(None))
            .order_by(HouseholdMember.id))).scalars())

    # --- changing -----------------------------------------------------------------------------------

    async def join(self, member: Member, household_id: int, *, set_by: Member | None = None) -> HouseholdView:
        """Put `member` in a household; a person belongs to one household per building, so an earlier
        choice in the same building is replaced. Idempotent. The caller checks who may do this
        (the person themself when joining, a captain of the building in /members)."""
        h = await self.session.get(Household, household_id)
        if h is None:
            raise LookupError("household")
        others = (await self.session.execute(
            select(HouseholdMember).join(Household, Household.id == HouseholdMember.household_id)
            .where(HouseholdMember.member_id == member.id, Household.building_id == h.building_id))).scalars()
        already = False
        for hm in others:
            if hm.household_id == h.id:
                already = True
            else:
                await self.session.delete(hm)
        if not already:
            self.session.add(HouseholdMember(household_id=h.id, member_id=member.id,
                                             set_by=set_by.id if set_by is not None else None,
                                             created_at=self.clock()))
        await self.session.flush()
        return _view(h)

    async def may_choose(self, member_id: int, building_id: int) -> bool:
        """Whether a person may say which flat of a building they live in: they hold a role there, or
        their request to join it is waiting for the captains."""
        role = (await self.session.execute(select(Role.id).where(
            Role.member_id == member_id, Role.building_id == building_id).limit(1))).first()
        if role is not None:
            return True
        return (await self.session.execute(select(JoinRequest.id).where(
            JoinRequest.member_id == member_id, JoinRequest.building_id == building_id,
            JoinRequest.status == "pending").limit(1))).first() is not None

    async def set_for(self, actor: Actor, member: Member, household_id: int) -> HouseholdView:
        """Put a person in a household, checked at the moment of use: the person themself (they belong to
        the building or asked to), or someone who manages the building's members (its captains, the area
        head, staff: the `members` right) correcting it — and then only for someone of that building."""
        h = await self.session.get(Household, household_id)
        if h is None:
            raise LookupError("household")
        place = await _building_place(self.session, h.building_id)
        if actor.member_id != member.id:
            require(actor, "members", place)
        if not await self.may_choose(member.id, h.building_id):
            raise NotAllowed("members", place)
        by = None if actor.member_id == member.id else await self.session.get(Member, actor.member_id)
        return await self.join(member, h.id, set_by=by)

    async def clear_for(self, actor: Actor, member: Member, building_id: int) -> None:
        """"I don't live in a flat here": the person leaves their household in this building."""
        if actor.member_id != member.id:
            require(actor, "members", await _building_place(self.session, building_id))
        await self.leave_building(member.id, building_id)
        await self.session.flush()

    async def leave_building(self, member_id: int, building_id: int) -> None:
        ids = select(Household.id).where(Household.building_id == building_id).scalar_subquery()
        await self.session.execute(delete(HouseholdMember).where(
            HouseholdMember.member_id == member_id, HouseholdMember.household_id.in_(ids)))


async def _building_place(session: AsyncSession, building_id: int) -> Place:
    b = await session.get(Building, building_id)
    if b is None:
        raise LookupError("building")
    return Place(b.community_id, b.area_id, b.id)


def _sort_key(h: HouseholdView) -> tuple[int, int, str]:
    digits = re.match(r"\d+", h.room)
    return (h.unit or 0, int(digits.group()) if digits else 0, h.room)


@on_roles_ended("households")
async def _roles_ended(session: AsyncSession, clock: Clock, member: Member) -> None:
    """Someone who no longer lives in a building (no resident or captain role there) leaves its household."""

    held = set((await session.execute(select(Role.building_id).where(
        Role.member_id == member.id, Role.building_id.is_not(None)))).scalars())
    rows = (await session.execute(
        select(HouseholdMember, Household.building_id).join(Household, Household.id == HouseholdMember.household_id)
        .where(HouseholdMember.member_id == member.id))).all()
    for hm, building_id in rows:
        if building_id not in held:
            await session.delete(hm)
    await session.flush()


@on_erased("households")
async def _erased(session: AsyncSession, clock: Clock, member: Member, erased: Erased) -> None:
    # Which flat a person lives in is personal data; the household itself (a flat) stays.
    await session.execute(delete(HouseholdMember).where(HouseholdMember.member_id == member.id))


