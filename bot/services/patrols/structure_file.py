"""`patrols:` in the structure file (python main.py import): routes with checkpoints and shift templates,
matched by key so that re-importing updates in place."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import system_clock
from bot.services.patrols.service import PatrolService
from bot.services.patrols.timing import MAX_WEEKS, parse_time
from bot.services.structure import ImportReport, StructureError, section
from models import Area, Building, Community, PatrolRoute


def _weekday(value: Any) -> int:
    names = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
    if isinstance(value, int) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value[:3].lower() in names:
        return names[value[:3].lower()]
    raise ValueError(f"weekday {value!r}: use mon..sun or 0..6 (0 = Monday)")


class CheckpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120)
    location: tuple[float, float] | None = None


class ShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekdays: list[Any] = []
    dates: list[date] = []
    start: str
    end: str
    min: int = Field(default=1, ge=1, le=50)
    max: int = Field(default=4, ge=1, le=50)

    @field_validator("weekdays")
    @classmethod
    def _days(cls, v: list[Any]) -> list[Any]:
        if len(v) == 1 and isinstance(v[0], str) and v[0].lower() in ("daily", "every day", "all"):
            return list(range(7))
        if len(v) == 1 and isinstance(v[0], str) and v[0].lower() in ("weekdays", "mon-fri"):
            return list(range(5))
        return [_weekday(x) for x in v]

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, v: Any) -> str:
        if isinstance(v, int):  # YAML 1.1 reads 19:00 unquoted as a number of minutes (sexagesimal)
            v = f"{v // 60}:{v % 60:02d}"
        if parse_time(str(v)) is None:
            raise ValueError(f"time {v!r}: use HH:MM, e.g. \"19:00\"")
        return str(v)


class RouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str | None = None
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    area: str | None = None
    building: str | None = None
    checkpoints: list[CheckpointIn | str] = []
    shifts: list[ShiftIn] = []


class PatrolsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    routes: list[RouteIn] = []
    generate_weeks: int = Field(default=0, ge=0, le=MAX_WEEKS)


@section("patrols")
async def import_patrols(session: AsyncSession, community: Community, data: Any, report: ImportReport) -> None:
    """`patrols:` in the structure file: routes (matched by key, defaulting to the name) with
    checkpoints and shift templates. Re-importing updates in place; imported routes the file no longer
    lists are archived; templates are replaced (old ones stop, generated shifts stay)."""
    try:
        parsed = PatrolsIn.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise StructureError(f"patrols.{where}: {str(err['msg']).removeprefix('Value error, ')}") from None
    areas = {a.key: a for a in (await session.execute(select(Area).where(
        Area.community_id == community.id))).scalars()}
    buildings = {b.key: b for b in (await session.execute(select(Building).where(
        Building.community_id == community.id))).scalars()}
    service = PatrolService(session, system_clock)
    existing = {r.key: r for r in (await session.execute(select(PatrolRoute).where(
        PatrolRoute.community_id == community.id))).scalars()}
    seen: set[str] = set()
    route_ids: list[int] = []
    for i, r_in in enumerate(parsed.routes):
        key = r_in.key or r_in.name
        if key in seen:
            raise StructureError(f"patrols.routes.{i}: duplicate route key {key!r}")
        seen.add(key)
        area_id = building_id = None
        if r_in.building is not None:
            b = buildings.get(r_in.building) or next((x for x in buildings.values() if x.name == r_in.building), None)
            if b is None:
                raise StructureError(f"patrols.routes.{i}.building: no building {r_in.building!r}")
            area_id, building_id = b.area_id, b.id
        elif r_in.area is not None:
            a = areas.get(r_in.area) or next((x for x in areas.values() if x.name == r_in.area), None)
            if a is None:
                raise StructureError(f"patrols.routes.{i}.area: no area {r_in.area!r}")
            area_id = a.id
        route = existing.get(key)
        if route is None:
            route = PatrolRoute(community_id=community.id, key=key, name=r_in.name, description=r_in.description,
                                area_id=area_id, building_id=building_id, source="import", active=True)
            session.add(route)
            await session.flush()
            report.created.append(f"patrol route {r_in.name}")
        else:
            values = {"name": r_in.name, "description": r_in.description, "area_id": area_id,
                      "building_id": building_id, "active": True, "source": "import"}
            changed = [k for k, v in values.items() if getattr(route, k) != v]
            for k in changed:
                setattr(route, k, values[k])
            if changed:
                report.updated.append(f"patrol route {r_in.name}")
        checkpoints = [(c, None, None) if isinstance(c, str) else
                       (c.name, c.location[0] if c.location else None, c.location[1] if c.location else None)
                       for c in r_in.checkpoints]
        await service.set_checkpoints(None, route.id, checkpoints)
        loaded = await service.route(route.id)
        wanted = [(tuple(sorted(set(s.weekdays))), tuple(sorted({d.isoformat() for d in s.dates})),
                   parse_time(s.start), parse_time(s.end), s.min, max(s.max, s.min)) for s in r_in.shifts]
        have = {(tuple(t.weekdays), tuple(t.dates), t.start_minute, t.end_minute, t.min_volunteers,
                 t.max_volunteers): t for t in loaded.templates if t.active}
        for t_key, t in have.items():
            if t_key not in wanted:
                t.active = False
                report.removed.append(f"patrol shift template of {r_in.name}")
        for j, w in enumerate(wanted):
            if w in have:
                continue
            if not w[0] and not w[1]:
                raise StructureError(f"patrols.routes.{i}.shifts.{j}: give weekdays or dates")
            assert w[2] is not None and w[3] is not None
            await service.add_template(None, route.id, weekdays=w[0], dates=[date.fromisoformat(d) for d in w[1]],
                                       start_minute=w[2], end_minute=w[3], min_volunteers=w[4], max_volunteers=w[5])
            report.created.append(f"patrol shift template of {r_in.name}")
        route_ids.append(route.id)
    for key, route in existing.items():
        if route.source == "import" and key not in seen and route.active:
            route.active = False
            report.removed.append(f"patrol route {route.name}")
    await session.flush()
    if parsed.generate_weeks:
        await service.generate(None, route_ids, parsed.generate_weeks)

