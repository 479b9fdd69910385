"""`python main.py import FILE` and StructureService: idempotent, renames by key, removes only what the
file granted, refuses bad files with the line and field, and never half-imports."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FrozenClock
from bot.services.structure import StructureError, StructureService
from models import Area, Base, Building, ChatLink, Community, Member, Role

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
BASE = (DATA / "structure.yaml").read_text(encoding="utf-8")
RIVERSIDE = (DATA / "riverside.yaml").read_text(encoding="utf-8")

# (name, change to the sample file, what the error must name)
BAD_FILES = [
    ("yaml syntax", ("  code: NC\n", "  code: [NC\n"), ["line 5", "not valid YAML"]),
    ("unknown key", ("        households: 48\n", "        househods: 48\n"),
     ["line 21", "househods", "areas.0.buildings.0"]),
    ("unknown section", ("volunteers: [4001, 4002]", "volunteers: [4001, 4002]\npatrolz: []"),
     ["line 38", "patrolz"]),
    ("bad code", ("code: NC", "code: N1"), ["line 4", "community.code", "2-4 letters"]),
    ("duplicate building key", ("key: b2", "key: b1"), ["line 23", "duplicate building key 'b1'"]),
    ("duplicate area key", ("key: south", "key: north"), ["line 28", "duplicate area key"]),
    ("bad location", ("[31.2304, 121.4737]", "[131.2304, 121.4737]"),
     ["line 22", "areas.0.buildings.0.location", "latitude"]),
    ("location not a pair", ("[31.2304, 121.4737]", "here"), ["line 22", "location"]),
    ("bad timezone", ("timezone: Asia/Shanghai", "timezone: Mars"), ["line 6", "community.timezone"]),
    ("bad locale", ("locale: zh_Hans", "locale: fr"), ["line 7", "community.locale"]),
    ("staff not ids", ("staff: [2002]", "staff: [bob]"), ["line 9", "community.staff"]),
    ("chat used twice", ("        chat: -1001000000011\n", "        chat: -1001000000021\n"),
     ["line 19", "-1001000000021", "areas.0.chat"]),
]


def changed(text: str, change: tuple[str, str]) -> str:
    assert change[0] in text, change
    return text.replace(change[0], change[1], 1)


# ------------------------------------------------------------------ the command line


def run_import(tmp_path: Path, file: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "import", str(file)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


# Subprocesses are slow (each one imports the whole bot and migrates), so the command line gets a few
# representative runs; every bad file is also checked in-process against the service below.
CLI_BAD = ["yaml syntax", "unknown key", "chat used twice"]


def test_cli_import_idempotent_and_several_communities(tmp_path: Path) -> None:
    first = run_import(tmp_path, DATA / "structure.yaml")
    assert first.returncode == 0, first.stderr
    assert "imported Nanchi Community" in first.stdout
    assert run_import(tmp_path, DATA / "riverside.yaml").returncode == 0
    before = dump(tmp_path / "bot.sqlite3")
    second = run_import(tmp_path, DATA / "structure.yaml")
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    assert dump(tmp_path / "bot.sqlite3") == before
    assert "Traceback" not in first.stderr + second.stderr
    with sqlite3.connect(tmp_path / "bot.sqlite3") as conn:
        rows = conn.execute("SELECT code, name FROM communities ORDER BY code").fetchall()
    assert rows == [("NC", "Nanchi Community"), ("RS", "Riverside Estate")]


def test_cli_bad_files_change_nothing(tmp_path: Path) -> None:
    assert run_import(tmp_path, DATA / "structure.yaml").returncode == 0
    before = dump(tmp_path / "bot.sqlite3")
    for name, change, expected in (b for b in BAD_FILES if b[0] in CLI_BAD):
        bad = tmp_path / f"{name.replace(' ', '_')}.yaml"
        # Also rename something, so a half import would show in the dump.
        bad.write_text(changed(changed(BASE, change), ("name: Building 3", "name: Building Three")),
                       encoding="utf-8")
        result = run_import(tmp_path, bad)
        assert result.returncode == 1, name
        assert "Traceback" not in result.stderr, result.stderr
        error = result.stderr.splitlines()[0]
        assert error.startswith(f"error: {bad}: ")
        for part in expected:
            assert part in error, error
        assert "nothing was imported" in result.stderr
        assert dump(tmp_path / "bot.sqlite3") == before


def test_cli_missing_and_binary_files(tmp_path: Path) -> None:
    missing = run_import(tmp_path, tmp_path / "nope.yaml")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    binary = tmp_path / "photo.yaml"
    binary.write_bytes(b"\xff\xd8\xff\xe0JFIF\x00")
    result = run_import(tmp_path, binary)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "UTF-8" in result.stderr


# ------------------------------------------------------------------ the service


async def snapshot(session: AsyncSession) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        rows = (await session.execute(select(table).order_by(*table.primary_key.columns))).all()
        out[table.name] = [tuple(r) for r in rows]
    return out


async def do_import(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, text: str) -> Any:
    async with sessions() as s:
        report = await StructureService(s, clock).import_text(text)
        await s.commit()
        return report


async def member_id(session: AsyncSession, telegram_id: int) -> int:
    return (await session.execute(select(Member.id).where(Member.telegram_id == telegram_id))).scalar_one()


async def test_service_idempotent(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    first = await do_import(sessions, clock, BASE)
    assert first.changed
    async with sessions() as s:
        before = await snapshot(s)
    clock.advance(days=1)
    second = await do_import(sessions, clock, BASE)
    assert not second.changed, (second.created, second.updated, second.removed)
    async with sessions() as s:
        assert await snapshot(s) == before


async def test_structure_as_imported(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    await do_import(sessions, clock, BASE)
    async with sessions() as s:
        nc = (await s.execute(select(Community))).scalar_one()
        assert (nc.key, nc.code, nc.locale, nc.timezone) == ("nanchi", "NC", "zh_Hans", "Asia/Shanghai")
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        assert (b1.households, b1.lat, b1.lon) == (48, 31.2304, 121.4737)
        roles = {(r.role, r.building_id is not None, r.area_id is not None, r.source)
                 for r in (await s.execute(select(Role).where(Role.member_id == await member_id(s, 3001)))).scalars()}
        assert roles == {("captain", True, False, "import")}
        links = {(li.chat_id, li.place_kind, li.kind) for li in (await s.execute(select(ChatLink))).scalars()}
        assert links == {(-1001000000001, "community", "team"), (-1001000000021, "area", "team"),
                         (-1001000000011, "building", "team"), (-1001000000031, "building", "residents")}


async def test_rename_by_key(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    await do_import(sessions, clock, BASE)
    async with sessions() as s:
        b1_id = (await s.execute(select(Building.id).where(Building.key == "b1"))).scalar_one()
        north_id = (await s.execute(select(Area.id).where(Area.key == "north"))).scalar_one()
    text = BASE.replace("name: Building 1", "name: Building One").replace("name: North area", "name: North grid")
    text = text.replace("name: Nanchi Community", "name: Nanchi Estate")
    report = await do_import(sessions, clock, text)
    assert report.changed and not report.created and not report.removed
    async with sessions() as s:
        b1 = await s.get(Building, b1_id)
        north = await s.get(Area, north_id)
        assert b1 is not None and b1.name == "Building One"
        assert north is not None and north.name == "North grid"
        assert (await s.execute(select(Community.name))).scalar_one() == "Nanchi Estate"
        assert len((await s.execute(select(Building))).scalars().all()) == 3


async def test_name_is_the_key_when_no_key(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    text = BASE.replace("  key: nanchi\n", "").replace("      - key: b2\n        name: Building 2",
                                                      "      - name: Building 2")
    await do_import(sessions, clock, text)
    async with sessions() as s:
        assert (await s.execute(select(Community.key))).scalar_one() == "Nanchi Community"
        assert (await s.execute(select(Building.key).where(Building.name == "Building 2"))).scalar_one() == "Building 2"


async def test_removed_roles_and_links_but_invites_stay(sessions: async_sessionmaker[AsyncSession],
                                                         clock: FrozenClock) -> None:
    await do_import(sessions, clock, BASE)
    async with sessions() as s:
        community = (await s.execute(select(Community))).scalar_one()
        b2 = (await s.execute(select(Building).where(Building.key == "b2"))).scalar_one()
        invited = Member(telegram_id=7001, first_name="Ivy", prefs={}, created_at=clock())
        s.add(invited)
        await s.flush()
        s.add(Role(member_id=invited.id, role="captain", community_id=community.id, building_id=b2.id,
                   source="invite", created_at=clock()))
        s.add(ChatLink(chat_id=-1001000000077, community_id=community.id, place_kind="building", place_id=b2.id,
                       kind="team", source="link", created_at=clock()))
        await s.commit()
    # The new version drops captain 3002, volunteer 4002 and the residents' chat of Building 1.
    text = (BASE.replace("captains: [3002]", "captains: []").replace("volunteers: [4001, 4002]", "volunteers: [4001]")
            .replace("        residents_chat: -1001000000031\n", ""))
    report = await do_import(sessions, clock, text)
    assert report.removed
    async with sessions() as s:
        held = {(tid, r.role) for tid in (3002, 4001, 4002, 7001)
                for r in (await s.execute(select(Role).where(Role.member_id == await member_id(s, tid)))).scalars()}
        assert held == {(4001, "volunteer"), (7001, "captain")}
        chats = set((await s.execute(select(ChatLink.chat_id))).scalars())
        assert -1001000000031 not in chats
        assert {-1001000000077, -1001000000011, -1001000000001} <= chats
    # A person the file names again gets the role back; the invite-granted one is untouched.
    await do_import(sessions, clock, BASE)
    async with sessions() as s:
        roles = (await s.execute(select(Role.role).where(Role.member_id == await member_id(s, 3002)))).scalars().all()
        assert roles == ["captain"]


async def test_file_takes_over_a_chat_linked_by_hand(sessions: async_sessionmaker[AsyncSession],
                                                     clock: FrozenClock) -> None:
    await do_import(sessions, clock, BASE)
    async with sessions() as s:
        community = (await s.execute(select(Community))).scalar_one()
        b2 = (await s.execute(select(Building).where(Building.key == "b2"))).scalar_one()
        s.add(ChatLink(chat_id=-1001000000088, community_id=community.id, place_kind="building", place_id=b2.id,
                       kind="team", source="link", created_at=clock()))
        await s.commit()
    with_chat = BASE.replace("captains: [3002]", "captains: [3002]\n        chat: -1001000000088")
    await do_import(sessions, clock, with_chat)
    # Listed by the file now, so a version without it removes it.
    await do_import(sessions, clock, BASE)
    async with sessions() as s:
        assert -1001000000088 not in set((await s.execute(select(ChatLink.chat_id))).scalars())


@pytest.mark.parametrize(("name", "change", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
async def test_service_bad_file_names_line_and_field(sessions: async_sessionmaker[AsyncSession],
                                                     clock: FrozenClock, name: str, change: tuple[str, str],
                                                     expected: list[str]) -> None:
    async with sessions() as s:
        with pytest.raises(StructureError) as info:
            await StructureService(s, clock).import_text(changed(BASE, change))
        for part in expected:
            assert part in str(info.value)
        assert (await s.execute(select(Community))).first() is None


@pytest.mark.parametrize(("text", "expected"), [("", "empty"), ("- a\n- b\n", "mapping"),
                                                 ("areas: []\n", "community: Field required")])
async def test_service_not_a_structure(session: AsyncSession, clock: FrozenClock, text: str, expected: str) -> None:
    with pytest.raises(StructureError, match=expected):
        await StructureService(session, clock).import_text(text)


async def test_several_communities(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> None:
    await do_import(sessions, clock, BASE)
    await do_import(sessions, clock, RIVERSIDE)
    async with sessions() as s:
        before = await snapshot(s)
        assert {c.code for c in (await s.execute(select(Community))).scalars()} == {"NC", "RS"}
    # Re-importing one leaves the other alone, and a same-named building key in both is fine.
    assert not (await do_import(sessions, clock, RIVERSIDE)).changed
    shared_key = RIVERSIDE.replace("key: a\n", "key: b1\n")
    await do_import(sessions, clock, shared_key)
    async with sessions() as s:
        assert len((await s.execute(select(Building).where(Building.key == "b1"))).scalars().all()) == 2
        # Nanchi's roles are untouched (Riverside's captain moved to its new building key).
        nc_id = (await s.execute(select(Community.id).where(Community.code == "NC"))).scalar_one()
        assert [r for r in (await snapshot(s))["roles"] if r[3] == nc_id] == [
            r for r in before["roles"] if r[3] == nc_id]


async def test_code_of_another_community_refused(sessions: async_sessionmaker[AsyncSession],
                                                 clock: FrozenClock) -> None:
    await do_import(sessions, clock, BASE)
    async with sessions() as s:
        with pytest.raises(StructureError, match=r"community\.code: NC is already used by 'Nanchi Community'"):
            await StructureService(s, clock).import_text(RIVERSIDE.replace("code: RS", "code: NC"))
