"""The permission matrix: every action in access.ACTIONS and every grant in access.GRANT_NEEDS, for
every role, at every level of the grid, including another community. Adding an action means adding
its row here, so a change of the rules is always a visible decision.

Columns (the sample community, tests/data/structure.yaml, and riverside.yaml):
  B1 Building 1 (North) · B2 Building 2 (North) · B3 Building 3 (South) · N North area · S South area
  C Nanchi Community · RA Riverside's Block A · RC Riverside Estate
Rows: nobody (no role) · resident of B1 · volunteer of Nanchi · captain of B1 (3001) · area head of North
(2001) · staff of Nanchi (2002) · admin (ADMIN_IDS) · rs_staff (staff of Riverside, 2102).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.access import (
    ACTIONS,
    GRANT_NEEDS,
    Actor,
    NotAllowed,
    Place,
    can,
    can_grant,
    require,
    require_grant,
)
from bot.services.members import MembersService, TelegramPerson
from models import Area, Building, Community, Member
from tests.conftest import ADMIN_ID

COLUMNS = ["B1", "B2", "B3", "N", "S", "C", "RA", "RC"]

# Y: allowed, .: refused.
ACTION_MATRIX: dict[str, dict[str, str]] = {
    "report": {
        "nobody": ". . . . . . . .",
        "resident": "Y Y Y Y Y Y . .",
        "volunteer": "Y Y Y Y Y Y . .",
        "captain": "Y Y Y Y Y Y . .",
        "area_head": "Y Y Y Y Y Y . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "view_issue": {
        "nobody": ". . . . . . . .",
        "resident": "Y . . . . . . .",
        "volunteer": "Y Y Y Y Y Y . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "view_reporter": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "triage": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "set_triage": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "queue": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "export": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "verify": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "refer": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "dashboard": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "export_reporter": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "community_settings": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "members": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "remove_member": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "handover_captain": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "approve_join": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "link_chat": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "patrol_take": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": "Y Y Y Y Y Y . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "roster": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "cleanday": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "announce": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "consult": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "consult_record": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "consult_vote": {
        "nobody": ". . . . . . . .",
        "resident": "Y . . . . . . .",
        "volunteer": "Y Y Y Y Y Y . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "campaign": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "campaign_view": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "campaign_issue": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "survey": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "survey_progress": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "survey_record": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "digest": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "admin": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": ". . . . . . . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . . .",
    },
    "contacts": {
        "nobody": ". . . . . . . .",
        "resident": "Y . . . . . . .",
        "volunteer": "Y Y Y Y Y Y . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "relay_office": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "inspect": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "checklist": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "spot_checks": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
    "scores": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . Y . . . .",
        "staff": "Y Y Y Y Y Y . .",
        "admin": "Y Y Y Y Y Y Y Y",
        "rs_staff": ". . . . . . Y Y",
    },
}

GRANT_MATRIX: dict[str, dict[str, str]] = {
    "resident": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": "Y . . . . . . .",
        "area_head": "Y Y . . . . . .",
        "staff": "Y Y Y . . . . .",
        "admin": "Y Y Y . . . Y .",
        "rs_staff": ". . . . . . Y .",
    },
    "volunteer": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . Y . .",
        "area_head": ". . . . . Y . .",
        "staff": ". . . . . Y . .",
        "admin": ". . . . . Y . Y",
        "rs_staff": ". . . . . . . Y",
    },
    "captain": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": "Y Y . . . . . .",
        "staff": "Y Y Y . . . . .",
        "admin": "Y Y Y . . . Y .",
        "rs_staff": ". . . . . . Y .",
    },
    "area_head": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": ". . . Y Y . . .",
        "admin": ". . . Y Y . . .",
        "rs_staff": ". . . . . . . .",
    },
    "staff": {
        "nobody": ". . . . . . . .",
        "resident": ". . . . . . . .",
        "volunteer": ". . . . . . . .",
        "captain": ". . . . . . . .",
        "area_head": ". . . . . . . .",
        "staff": ". . . . . Y . .",
        "admin": ". . . . . Y . Y",
        "rs_staff": ". . . . . . . Y",
    },
}


async def _places(session: AsyncSession) -> dict[str, Place]:
    async def building(key: str) -> Place:
        b = (await session.execute(select(Building).where(Building.key == key))).scalar_one()
        return Place(b.community_id, b.area_id, b.id)

    async def area(key: str) -> Place:
        a = (await session.execute(select(Area).where(Area.key == key))).scalar_one()
        return Place(a.community_id, a.id)

    async def community(key: str) -> Place:
        return Place((await session.execute(select(Community).where(Community.key == key))).scalar_one().id)

    return {"B1": await building("b1"), "B2": await building("b2"), "B3": await building("b3"),
            "N": await area("north"), "S": await area("south"), "C": await community("nanchi"),
            "RA": await building("a"), "RC": await community("riverside")}


async def _actors(session: AsyncSession, clock: Any, places: dict[str, Place]) -> dict[str, Actor]:
    """Real actors, built from the database the way every update builds them."""
    members = MembersService(session, clock, admin_ids=[ADMIN_ID])

    async def person(telegram_id: int) -> Member:
        return await _member(session, members, telegram_id)

    resident = await _member(session, members, 80_000_001)
    await members.grant(resident, "resident", places["B1"], source="invite")
    return {
        "nobody": await members.actor(await _member(session, members, 80_000_002)),
        "resident": await members.actor(resident),
        "volunteer": await members.actor(await person(4001)),
        "captain": await members.actor(await person(3001)),
        "area_head": await members.actor(await person(2001)),
        "staff": await members.actor(await person(2002)),
        "admin": await members.actor(await _member(session, members, ADMIN_ID)),
        "rs_staff": await members.actor(await person(2102)),
    }


async def _member(session: AsyncSession, members: MembersService, telegram_id: int) -> Member:
    return await members.touch(TelegramPerson(id=telegram_id, first_name=f"U{telegram_id}"))


def _row(text: str) -> list[bool]:
    cells = text.split()
    assert len(cells) == len(COLUMNS) and set(cells) <= {"Y", "."}, text
    return [c == "Y" for c in cells]


def test_every_action_and_grant_has_a_row() -> None:
    assert set(ACTION_MATRIX) == set(ACTIONS), "add a row for each new action (and remove old ones)"
    assert set(GRANT_MATRIX) == set(GRANT_NEEDS)
    roles = {"nobody", "resident", "volunteer", "captain", "area_head", "staff", "admin", "rs_staff"}
    for table in (ACTION_MATRIX, GRANT_MATRIX):
        for name, rows in table.items():
            assert set(rows) == roles, name


async def _wrong_cells(session: AsyncSession, clock: Any, table: dict[str, dict[str, str]],
                       check: Callable[[Actor, str, Place], bool], enforce: Callable[[Actor, str, Place], None],
                       label: str) -> list[str]:
    """Every cell of the table where `check` disagrees; where a cell says no, `enforce` must raise too."""
    places = await _places(session)
    actors = await _actors(session, clock, places)
    wrong = []
    for name, rows in table.items():
        for who, row in rows.items():
            for column, expected in zip(COLUMNS, _row(row), strict=True):
                got = check(actors[who], name, places[column])
                if got != expected:
                    wrong.append(f"{label}{name} · {who} · {column}: expected {expected}, got {got}")
                if not expected:
                    with pytest.raises(NotAllowed):
                        enforce(actors[who], name, places[column])
    return wrong


async def test_action_matrix(session: AsyncSession, community: Any, riverside: Any, clock: Any) -> None:
    assert await _wrong_cells(session, clock, ACTION_MATRIX, can, require, "") == []


async def test_grant_matrix(session: AsyncSession, community: Any, riverside: Any, clock: Any) -> None:
    assert await _wrong_cells(session, clock, GRANT_MATRIX, can_grant, require_grant, "grant ") == []


def test_unknown_action_is_refused() -> None:
    admin = Actor(member_id=1, telegram_id=1, is_admin=True)
    assert not can(admin, "no_such_action", Place(1))
    with pytest.raises(NotAllowed):
        require(admin, "no_such_action", Place(1))
