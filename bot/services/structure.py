"""Import of the community structure from a YAML file (python main.py import FILE).

Idempotent: communities, areas and buildings are matched by `key` (defaulting to the name), so
importing the same file twice changes nothing and changing a `name` renames. Roles and chat links the
file granted and a new version no longer lists are removed; those granted by invites stay. Everything
happens in one transaction: a bad file changes nothing. Capabilities may add top-level sections
(e.g. `patrols:`) by registering a handler in SECTIONS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from bot.locales import normalize_locale
from bot.services.households import HouseholdError, HouseholdSpec, HouseholdsService, describe
from models import Area, Building, ChatLink, Community, Member, Role


class StructureError(Exception):
    """A problem in the structure file, naming the line and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryIn(_Strict):
    key: str = Field(pattern=r"^[a-z0-9_]{1,24}$")
    en: str | None = None
    zh: str | None = None
    emoji: str | None = None
    deadline_days: int = Field(default=3, ge=1, le=90)
    urgent: bool = False


class BuildingIn(_Strict):
    _specs: list[HouseholdSpec] = PrivateAttr(default_factory=list)
    key: str | None = None
    name: str = Field(min_length=1, max_length=200)
    captains: list[int] = []
    residents: list[int] = []
    chat: int | None = None
    residents_chat: int | None = None
    households: int | None = Field(default=None, ge=0)
    # The flats (户): listed (`rooms: ["1-101", ...]`) or described (`units`, `floors`, `per_floor`);
    # `households: N` alone numbers them 1…N. See bot/services/households.py.
    rooms: list[str] | None = None
    units: int | None = Field(default=None, ge=1, le=99)
    floors: int | None = Field(default=None, ge=1, le=200)
    per_floor: int | None = Field(default=None, ge=1, le=99)
    location: tuple[float, float] | None = None
    hours: str | None = Field(default=None, max_length=200)  # when the captains can be reached (/contacts)

    @model_validator(mode="after")
    def _households(self) -> BuildingIn:
        try:
            self._specs = describe(rooms=self.rooms, units=self.units, floors=self.floors,
                                   per_floor=self.per_floor, households=self.households)
        except HouseholdError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def household_specs(self) -> list[HouseholdSpec]:
        return self._specs

    @field_validator("location", mode="before")
    @classmethod
    def _loc(cls, v: Any) -> Any:
        # One message for every wrong shape ("here", [31.2], [131, 121]) instead of pydantic's
        # per-item errors, since the operator needs to know the expected form.
        if v is None:
            return v
        ok = (isinstance(v, list | tuple) and len(v) == 2
              and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
              and -90 <= v[0] <= 90 and -180 <= v[1] <= 180)
        if not ok:
            raise ValueError("location must be [latitude, longitude], e.g. [31.2304, 121.4737]")
        return v


class AreaIn(_Strict):
    key: str | None = None
    name: str = Field(min_length=1, max_length=200)
    heads: list[int] = []
    chat: int | None = None
    residents_chat: int | None = None
    hours: str | None = Field(default=None, max_length=200)  # when the area head can be reached (/contacts)
    buildings: list[BuildingIn] = []


class CommunityIn(_Strict):
    key: str | None = None
    code: str
    name: str = Field(min_length=1, max_length=200)
    timezone: str = "Asia/Shanghai"
    locale: str = "en"
    office_chat: int | None = None
    residents_chat: int | None = None
    staff: list[int] = []
    hours: str | None = Field(default=None, max_length=200)  # the office's hours (/contacts)
    settings: dict[str, Any] = {}
    categories: list[CategoryIn] | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{2,4}", v):
            raise ValueError("code must be 2-4 letters, e.g. NC")
        return v.upper()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str) -> str:
        mapped = normalize_locale(v)
        if mapped is None:
            raise ValueError("locale must be en or zh_Hans")
        return mapped


class StructureIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    community: CommunityIn
    areas: list[AreaIn] = []
    volunteers: list[int] = []


@dataclass
class ImportReport:
    community: Community | None = None
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)


SectionHandler = Callable[[AsyncSession, Community, Any, ImportReport], Awaitable[None]]
SECTIONS: dict[str, SectionHandler] = {}


def section(name: str) -> Callable[[SectionHandler], SectionHandler]:
    def register(fn: SectionHandler) -> SectionHandler:
        SECTIONS[name] = fn
        return fn

    return register


class _LineLoader(yaml.SafeLoader):
    """Remembers the line of every mapping key and sequence item, for error messages."""


def _parse(text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    lines: dict[tuple[Any, ...], int] = {}
    try:
        node = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise StructureError(f"{where}not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if node is None:
        raise StructureError("the file is empty")

    def walk(n: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = k.value
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*path, i))

    walk(node, ())
    data = yaml.load(text, Loader=_LineLoader)
    return data, lines


def parse_structure(text: str) -> tuple[StructureIn, dict[tuple[Any, ...], int]]:
    from bot.capabilities import load_all

    load_all()
    data, lines = _parse(text)
    if not isinstance(data, dict):
        raise StructureError("line 1: the file must be a mapping with `community:` and `areas:`")
    unknown = [k for k in data if k not in StructureIn.model_fields and k not in SECTIONS]
    if unknown:
        raise StructureError(f"line {lines.get((unknown[0],), 1)}: unknown section `{unknown[0]}`")
    try:
        parsed = StructureIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = None
        probe = loc
        while probe and line is None:
            line = lines.get(probe)
            probe = probe[:-1]
        fieldname = ".".join(str(p) for p in loc)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            parent = ".".join(str(p) for p in loc[:-1]) or "the file"
            msg = f"unknown key `{loc[-1]}` in {parent} (see README: Structure file)"
        raise StructureError(f"line {line or 1}: {fieldname}: {msg}") from None
    _check_unique(parsed, lines)
    return parsed, lines


def _check_unique(s: StructureIn, lines: dict[tuple[Any, ...], int]) -> None:
    seen_areas: set[str] = set()
    seen_buildings: set[str] = set()
    # A group chat can be linked to one place only (chat_links.chat_id is unique): catch a chat id
    # listed twice here, with its line, instead of failing on the database constraint.
    chats: dict[int, str] = {}

    def chat(value: int | None, path: tuple[Any, ...]) -> None:
        if value is None:
            return
        where = ".".join(str(p) for p in path)
        if value in chats:
            raise StructureError(f"line {lines.get(path, 1)}: {where}: chat {value} is already used by "
                                 f"{chats[value]}; a group chat belongs to one place")
        chats[value] = where

    chat(s.community.office_chat, ("community", "office_chat"))
    chat(s.community.residents_chat, ("community", "residents_chat"))
    for ai, area in enumerate(s.areas):
        key = area.key or area.name
        if key in seen_areas:
            raise StructureError(f"line {lines.get(('areas', ai), 1)}: areas.{ai}: duplicate area key {key!r}")
        seen_areas.add(key)
        chat(area.chat, ("areas", ai, "chat"))
        chat(area.residents_chat, ("areas", ai, "residents_chat"))
        for bi, b in enumerate(area.buildings):
            bkey = b.key or b.name
            if bkey in seen_buildings:
                raise StructureError(f"line {lines.get(('areas', ai, 'buildings', bi), 1)}: "
                                     f"areas.{ai}.buildings.{bi}: duplicate building key {bkey!r}")
            seen_buildings.add(bkey)
            chat(b.chat, ("areas", ai, "buildings", bi, "chat"))
            chat(b.residents_chat, ("areas", ai, "buildings", bi, "residents_chat"))


class StructureService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def import_text(self, text: str) -> ImportReport:
        s, _lines = parse_structure(text)
        report = ImportReport()
        c_in = s.community
        key = c_in.key or c_in.name
        community = (await self.session.execute(
            select(Community).where(Community.key == key))).scalar_one_or_none()
        clash = (await self.session.execute(
            select(Community).where(Community.code == c_in.code))).scalar_one_or_none()
        if clash is not None and (community is None or clash.id != community.id):
            raise StructureError(f"community.code: {c_in.code} is already used by {clash.name!r}")
        settings = dict(c_in.settings)
        if c_in.categories is not None:
            settings["categories"] = [c.model_dump(exclude_none=True) for c in c_in.categories]
        if community is None:
            community = Community(key=key, code=c_in.code, name=c_in.name, timezone=c_in.timezone,
                                  locale=c_in.locale, settings=settings, next_issue_number=1, hours=c_in.hours,
                                  created_at=self.clock())
            self.session.add(community)
            await self.session.flush()
            report.created.append(f"community {c_in.name}")
        else:
            for attr, value in (("code", c_in.code), ("name", c_in.name), ("timezone", c_in.timezone),
                                ("locale", c_in.locale), ("settings", settings), ("hours", c_in.hours)):
                if getattr(community, attr) != value:
                    setattr(community, attr, value)
                    report.updated.append(f"community {attr}")
        report.community = community

        wanted_roles: set[tuple[int, str, int | None, int | None]] = set()
        wanted_links: set[tuple[int, str, int, str]] = set()
        members: dict[int, Member] = {}

        async def member(tid: int) -> Member:
            if tid not in members:
                m = (await self.session.execute(
                    select(Member).where(Member.telegram_id == tid))).scalar_one_or_none()
                if m is None:
                    m = Member(telegram_id=tid, first_name="", prefs={}, created_at=self.clock())
                    self.session.add(m)
                    await self.session.flush()
                members[tid] = m
            return members[tid]

        async def want_role(tid: int, role: str, area_id: int | None, building_id: int | None) -> None:
            m = await member(tid)
            wanted_roles.add((m.id, role, area_id, building_id))

        for tid in c_in.staff:
            await want_role(tid, "staff", None, None)
        for tid in s.volunteers:
            await want_role(tid, "volunteer", None, None)
        if c_in.office_chat:
            wanted_links.add((c_in.office_chat, "community", community.id, "team"))
        if c_in.residents_chat:
            wanted_links.add((c_in.residents_chat, "community", community.id, "residents"))

        households = HouseholdsService(self.session, self.clock)
        existing_areas = {a.key: a for a in (await self.session.execute(
            select(Area).where(Area.community_id == community.id))).scalars()}
        existing_buildings = {b.key: b for b in (await self.session.execute(
            select(Building).where(Building.community_id == community.id))).scalars()}
        for a_in in s.areas:
            akey = a_in.key or a_in.name
            area = existing_areas.get(akey)
            if area is None:
                area = Area(community_id=community.id, key=akey, name=a_in.name, hours=a_in.hours)
                self.session.add(area)
                await self.session.flush()
                report.created.append(f"area {a_in.name}")
            elif (area.name, area.hours) != (a_in.name, a_in.hours):
                area.name, area.hours = a_in.name, a_in.hours
                report.updated.append(f"area {a_in.name}")
            for tid in a_in.heads:
                await want_role(tid, "area_head", area.id, None)
            if a_in.chat:
                wanted_links.add((a_in.chat, "area", area.id, "team"))
            if a_in.residents_chat:
                wanted_links.add((a_in.residents_chat, "area", area.id, "residents"))
            for b_in in a_in.buildings:
                bkey = b_in.key or b_in.name
                lat, lon = b_in.location if b_in.location else (None, None)
                building = existing_buildings.get(bkey)
                specs = b_in.household_specs
                values = {"area_id": area.id, "name": b_in.name,
                          "households": len(specs) if specs else b_in.households, "lat": lat, "lon": lon,
                          "hours": b_in.hours}
                if building is None:
                    building = Building(community_id=community.id, key=bkey, **values)
                    self.session.add(building)
                    await self.session.flush()
                    existing_buildings[bkey] = building
                    report.created.append(f"building {b_in.name}")
                else:
                    changed = [k for k, v in values.items() if getattr(building, k) != v]
                    for k in changed:
                        setattr(building, k, values[k])
                    if changed:
                        report.updated.append(f"building {b_in.name}")
                created, removed, kept = await households.sync_building(building, specs)
                if created:
                    report.created.append(f"{created} households in {b_in.name}")
                if removed:
                    report.removed.append(f"{removed} households in {b_in.name}")
                if kept:
                    report.updated.append(
                        f"{kept} households no longer listed in {b_in.name} kept: people belong to them")
                for tid in b_in.captains:
                    await want_role(tid, "captain", None, building.id)
                for tid in b_in.residents:
                    await want_role(tid, "resident", None, building.id)
                if b_in.chat:
                    wanted_links.add((b_in.chat, "building", building.id, "team"))
                if b_in.residents_chat:
                    wanted_links.add((b_in.residents_chat, "building", building.id, "residents"))

        await self._sync_roles(community, wanted_roles, report)
        await self._sync_links(community, wanted_links, report)
        extra = s.model_extra or {}
        for name, handler in SECTIONS.items():
            if name in extra:
                await handler(self.session, community, extra[name], report)
        await self.session.flush()
        return report

    async def _sync_roles(self, community: Community, wanted: set[tuple[int, str, int | None, int | None]],
                          report: ImportReport) -> None:
        current = list((await self.session.execute(
            select(Role).where(Role.community_id == community.id))).scalars())
        have = {(r.member_id, r.role, r.area_id, r.building_id): r for r in current}
        for key in wanted:
            role = have.get(key)
            if role is None:
                self.session.add(Role(member_id=key[0], role=key[1], community_id=community.id,
                                      area_id=key[2], building_id=key[3], source="import",
                                      created_at=self.clock()))
                report.created.append(f"role {key[1]}")
            elif role.source != "import":
                role.source = "import"
        dropped: set[int] = set()
        for key, role in have.items():
            if role.source == "import" and key not in wanted:
                await self.session.delete(role)
                report.removed.append(f"role {role.role}")
                dropped.add(role.member_id)
        if dropped:
            # Powers end with the role: invites and assignments of people the file no longer lists.
            from bot.services.members import MembersService

            await self.session.flush()
            members = MembersService(self.session, self.clock)
            for member_id in sorted(dropped):
                member = await self.session.get(Member, member_id)
                if member is not None:
                    await members.roles_ended(member)

    async def _sync_links(self, community: Community, wanted: set[tuple[int, str, int, str]],
                          report: ImportReport) -> None:
        current = list((await self.session.execute(
            select(ChatLink).where(ChatLink.community_id == community.id))).scalars())
        have = {(li.chat_id, li.place_kind, li.place_id, li.kind): li for li in current}
        for link in current:
            key = (link.chat_id, link.place_kind, link.place_id, link.kind)
            if link.source == "import" and key not in wanted:
                await self.session.delete(link)
                report.removed.append(f"chat {link.chat_id}")
        await self.session.flush()
        for key in wanted:
            if key in have:
                # The file lists it now, so a later version of the file that drops it removes it.
                have[key].source = "import"
                continue
            # The file wins over an earlier link of the same chat or of the same place and kind.
            await self.session.execute(delete(ChatLink).where(
                (ChatLink.chat_id == key[0])
                | ((ChatLink.place_kind == key[1]) & (ChatLink.place_id == key[2]) & (ChatLink.kind == key[3]))))
            self.session.add(ChatLink(chat_id=key[0], community_id=community.id, place_kind=key[1],
                                      place_id=key[2], kind=key[3], source="import", created_at=self.clock()))
            report.created.append(f"chat {key[0]}")
