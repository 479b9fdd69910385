"""Households (户) from the structure file and who belongs to which: listed, described or counted; typed
the way people say them; re-imports keep households and their members; a person belongs to one
household per building and leaves it with the building or their data."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.access import Place
from bot.services.households import HouseholdError, HouseholdsService, describe, normalize_label
from bot.services.members import MembersService
from bot.services.structure import StructureError, StructureService
from models import Building, Household, HouseholdMember, Member

BASE = (Path(__file__).resolve().parents[1] / "data" / "structure.yaml").read_text(encoding="utf-8")
DESCRIBED = BASE.replace("        households: 48\n", "        units: 2\n        floors: 6\n        per_floor: 4\n")
LISTED = BASE.replace("        households: 36\n", '        rooms: ["101", "102", "201", "202"]\n')


@pytest.mark.parametrize(("typed", "label"), [
    ("2-301", "2-301"), ("2－301", "2-301"), ("２-３０１", "2-301"), ("2单元301", "2-301"),
    ("2 单元 301室", "2-301"), ("2/301", "2-301"), ("301", "301"), ("301号", "301"), ("12", "12"),
    ("02-0301", "2-0301"), ("1-101a", "1-101A"),
])
def test_labels_typed_the_way_people_say_them(typed: str, label: str) -> None:
    assert normalize_label(typed) == label


@pytest.mark.parametrize("typed", ["", "hello", "2-", "-301", "2-3-301", "楼道灯坏了", "1-1234567"])
def test_not_a_household(typed: str) -> None:
    assert normalize_label(typed) is None


def test_described_listed_and_counted() -> None:
    described = describe(units=3, floors=6, per_floor=2)
    assert len(described) == 36
    assert [d.label for d in described[:3]] == ["1-101", "1-102", "1-201"]
    assert described[-1].label == "3-602" and (described[-1].unit, described[-1].floor) == (3, 6)
    listed = describe(rooms=["1-101", "1-102", "1201"])
    assert [(h.unit, h.floor, h.room) for h in listed] == [(1, 1, "101"), (1, 1, "102"), (None, 12, "1201")]
    counted = describe(households=3)
    assert [(h.label, h.floor) for h in counted] == [("1", None), ("2", None), ("3", None)]
    assert describe() == []


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"rooms": ["101", "101"]}, "listed twice"),
    ({"rooms": ["x"]}, "not a household"),
    ({"units": 2, "floors": 6}, "go together"),
    ({"rooms": ["101"], "units": 1, "floors": 1, "per_floor": 1}, "not both"),
    ({"units": 2, "floors": 6, "per_floor": 4, "households": 40}, "does not match"),
])
def test_bad_descriptions(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(HouseholdError, match=words):
        describe(**kwargs)  # type: ignore[arg-type]  # the cases pass deliberately mixed arguments


async def _import(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, text: str) -> None:
    async with sessions() as s:
        await StructureService(s, clock).import_text(text)
        await s.commit()


async def _building(s: AsyncSession, key: str) -> Building:
    return (await s.execute(select(Building).where(Building.key == key))).scalar_one()


async def test_import_creates_every_household_and_reimport_keeps_members(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    await _import(sessions, clock, DESCRIBED)
    async with sessions() as s:
        b1, b2, b3 = [await _building(s, k) for k in ("b1", "b2", "b3")]
        service = HouseholdsService(s, clock)
        assert await service.count([b1.id, b2.id, b3.id]) == {b1.id: 48, b2.id: 36, b3.id: 60}
        assert b1.households == 48
        assert await service.units(b1.id) == [1, 2]
        assert await service.floors(b1.id, 2) == [1, 2, 3, 4, 5, 6]
        assert [h.label for h in await service.rooms(b1.id, 2, 3)] == ["2-301", "2-302", "2-303", "2-304"]
        flat = await service.find(b1.id, "2单元303")
        assert flat is not None and flat.label == "2-303"
        who = Member(telegram_id=777001, first_name="Mei", prefs={}, created_at=clock())
        s.add(who)
        await s.flush()
        await service.join(who, flat.id)
        await s.commit()
    # Building 1 is now listed with fewer rooms: 2-303 stays (someone lives there), the empty ones go.
    await _import(sessions, clock, DESCRIBED.replace("        per_floor: 4\n", "        per_floor: 2\n")
                  .replace("        households: 48\n", ""))
    async with sessions() as s:
        b1 = await _building(s, "b1")
        labels = {h.label for h in await HouseholdsService(s, clock).of_building(b1.id)}
        assert len(labels) == 24 + 1 and "2-303" in labels and "2-304" not in labels
        assert (await s.execute(select(func.count()).select_from(HouseholdMember))).scalar_one() == 1
    # Importing the same file twice changes nothing.
    await _import(sessions, clock, LISTED)
    async with sessions() as s:
        before = (await s.execute(select(func.count()).select_from(Household))).scalar_one()
    await _import(sessions, clock, LISTED)
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Household))).scalar_one() == before
        b2 = await _building(s, "b2")
        assert [h.label for h in await HouseholdsService(s, clock).of_building(b2.id)] == ["101", "102", "201", "202"]
        assert b2.households == 4


async def test_bad_household_description_names_the_line(sessions: async_sessionmaker[AsyncSession],
                                                         clock: FrozenClock) -> None:
    bad = BASE.replace("        households: 36\n", '        rooms: ["101", "101"]\n')
    with pytest.raises(StructureError, match=r"line 2\d: .*rooms? 101 is listed twice"):
        await _import(sessions, clock, bad)


async def test_one_household_per_building_and_gone_with_the_role_or_the_data(
        sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    await _import(sessions, clock, DESCRIBED)
    async with sessions() as s:
        b1 = await _building(s, "b1")
        service = HouseholdsService(s, clock)
        members = MembersService(s, clock)
        mei = Member(telegram_id=777002, first_name="Mei", prefs={}, created_at=clock())
        bo = Member(telegram_id=777003, first_name="Bo", prefs={}, created_at=clock())
        s.add_all([mei, bo])
        await s.flush()
        place = Place(b1.community_id, b1.area_id, b1.id)
        await members.grant(mei, "resident", place, source="invite")
        await members.grant(bo, "resident", place, source="invite")
        first = await service.find(b1.id, "1-101")
        second = await service.find(b1.id, "1-102")
        assert first is not None and second is not None
        await service.join(mei, first.id)
        await service.join(mei, first.id)  # idempotent
        await service.join(bo, first.id)
        assert [m.first_name for m in await service.members_of(first.id)] == ["Mei", "Bo"]
        await service.join(mei, second.id)  # moving flat replaces the earlier choice
        here = await service.household_of(mei.id, b1.id)
        assert here is not None and here.label == "1-102"
        assert [m.first_name for m in await service.members_of(first.id)] == ["Bo"]
        assert await members.leave_building(mei, b1.id)
        assert await service.household_of(mei.id, b1.id) is None
        await members.delete_data(bo)
        assert await service.members_of(first.id) == []
        # The flats themselves stay: they count in every denominator.
        assert (await service.count([b1.id]))[b1.id] == 48
