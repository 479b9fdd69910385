"""Checklists (检查清单): the community's own lists in its settings, or the default list drawn from its
categories, and editing them in the bot (staff for the community, area heads for their area)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm.attributes import flag_modified

from bot.services.access import Actor, Level, NotAllowed, Place, can, require
from bot.services.base import CommunityService
from bot.services.reporting import categories
from models import Area, Community

MAX_ITEMS = 20
DEFAULT_CHECKLIST = "default"

def __(message: str) -> str:
    """Marks a msgid for the catalogue (bot.i18n's extractor looks for `__`); a default item stores its
    msgid and bot/notices/inspections.py translates it for each reader."""
    return message


# The default items, each tied to a category; only those whose category the community uses appear.
DEFAULT_ITEMS: tuple[tuple[str, str], ...] = (
    ("clutter", __("Corridors and stairwells free of clutter")),
    ("ebike_charging", __("No flying-lead charging (no cables from windows)")),
    ("fire_lane", __("Fire lane and exits clear")),
    ("facility", __("Fire extinguisher present and in date")),
    ("waste_sorting", __("Bins sorted, not overflowing")),
    ("lighting", __("Stairwell and yard lights working")),
    ("posters", __("No illegal posters or graffiti")),
    ("litter", __("Yard and corners clean")),
)
DEFAULT_NAME = __("Building safety and tidiness")


class InspectionError(ValueError):
    """Something the inspector must do first; `reason` names it (the handler words it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Checklist:
    key: str
    name: dict[str, str]  # {"msgid": ...} or {"en": ..., "zh": ...}
    items: list[dict[str, str]]
    area: str | None = None  # the area's key when it is an area's own list
    default: bool = False


def _settings(community: Community) -> dict[str, Any]:
    raw = (community.settings or {}).get("inspections")
    return raw if isinstance(raw, dict) else {}


def default_checklist(community: Community) -> Checklist:
    used = {c.key for c in categories(community)}
    items = [{"key": f"d{i}", "category": cat, "msgid": msg}
             for i, (cat, msg) in enumerate(DEFAULT_ITEMS) if cat in used]
    if not items:  # a community with categories of its own only: one item per category
        items = [{"key": c.key, "category": c.key, "en": c.en, "zh": c.zh} for c in categories(community)]
    return Checklist(DEFAULT_CHECKLIST, {"msgid": DEFAULT_NAME}, items[:MAX_ITEMS], None, True)


def checklists(community: Community, area_key: str | None = None, *, every: bool = False) -> list[Checklist]:
    """The community's checklists usable in an area (community-wide ones and the area's own); `every`
    lists all of them. The default list when the community has none."""
    raw = _settings(community).get("checklists")
    out: list[Checklist] = []
    if isinstance(raw, list):
        for c in raw:
            if not isinstance(c, dict) or not c.get("key"):
                continue
            area = c.get("area") or None
            if not every and area is not None and area != area_key:
                continue
            name = c.get("name")
            name = name if isinstance(name, dict) else {"en": str(name or c["key"]), "zh": str(name or c["key"])}
            items = [{str(k): str(v) for k, v in it.items()} for it in (c.get("items") or []) if isinstance(it, dict)]
            for i, it in enumerate(items):
                it.setdefault("key", f"i{i}")
                it.setdefault("category", "other")
            out.append(Checklist(str(c["key"]), {str(k): str(v) for k, v in name.items()}, items[:MAX_ITEMS], area))
    return out or [default_checklist(community)]


class ChecklistEditor(CommunityService):
    # --- checklists in the bot ---------------------------------------------------------------------

    async def editable(self, actor: Actor, community: Community) -> list[tuple[Checklist, Place]]:
        """The checklists this person may change: staff every one, area heads their area's own."""
        areas = {a.key: a for a in await self.members.areas(community.id)}
        out = []
        for c in checklists(community, every=True):
            area = areas.get(c.area) if c.area else None
            place = Place(community.id, area.id) if area else Place(community.id)
            if can(actor, "checklist", place):
                out.append((c, place))
        return out

    def _raw_lists(self, community: Community) -> list[dict[str, Any]]:
        raw = _settings(community).get("checklists")
        if isinstance(raw, list) and raw:
            return [dict(c) for c in raw if isinstance(c, dict)]
        # The first edit turns the default list into the community's own (its items stay bilingual).
        d = default_checklist(community)
        return [{"key": d.key, "name": dict(d.name), "items": [dict(i) for i in d.items]}]

    def _save(self, community: Community, lists: list[dict[str, Any]]) -> None:
        settings = dict(community.settings or {})
        section = dict(settings.get("inspections") or {})
        section["checklists"] = lists
        settings["inspections"] = section
        community.settings = settings
        flag_modified(community, "settings")

    async def _edit_place(self, actor: Actor, community: Community, area_id: int | None) -> tuple[Place, str | None]:
        if area_id is None:
            place = Place(community.id)
            require(actor, "checklist", place)
            return place, None
        area = await self.session.get(Area, area_id)
        if area is None or area.community_id != community.id:
            raise LookupError("area")
        place = Place(community.id, area.id)
        require(actor, "checklist", place)
        return place, area.key

    async def create_checklist(self, actor: Actor, community: Community, name: str, area_id: int | None
                               ) -> Checklist:
        _place, area_key = await self._edit_place(actor, community, area_id)
        lists = self._raw_lists(community)
        key = f"c{uuid.uuid4().hex[:6]}"
        entry: dict[str, Any] = {"key": key, "name": {"en": name.strip()[:80], "zh": name.strip()[:80]}, "items": []}
        if area_key:
            entry["area"] = area_key
        lists.append(entry)
        self._save(community, lists)
        await self.session.flush()
        return next(c for c in checklists(community, every=True) if c.key == key)

    async def _editing(self, actor: Actor, community: Community, key: str) -> tuple[list[dict[str, Any]], int]:
        allowed = {c.key for c, _p in await self.editable(actor, community)}
        if key not in allowed:
            raise NotAllowed("checklist", Place(community.id), Level.AREA_HEAD)
        lists = self._raw_lists(community)
        for i, c in enumerate(lists):
            if c.get("key") == key:
                return lists, i
        raise LookupError("checklist")

    async def add_item(self, actor: Actor, community: Community, key: str, text: str, category: str) -> Checklist:
        if category not in {c.key for c in categories(community)}:
            raise LookupError("category")
        lists, i = await self._editing(actor, community, key)
        items = list(lists[i].get("items") or [])
        if len(items) >= MAX_ITEMS:
            raise InspectionError("full")
        used = {str(it.get("key")) for it in items}
        n = len(items)
        while f"i{n}" in used:
            n += 1
        items.append({"key": f"i{n}", "category": category, "en": text.strip()[:120], "zh": text.strip()[:120]})
        lists[i] = {**lists[i], "items": items}
        self._save(community, lists)
        await self.session.flush()
        return next(c for c in checklists(community, every=True) if c.key == key)

    async def remove_item(self, actor: Actor, community: Community, key: str, item_key: str) -> Checklist | None:
        lists, i = await self._editing(actor, community, key)
        items = [it for it in (lists[i].get("items") or []) if str(it.get("key")) != item_key]
        lists[i] = {**lists[i], "items": items}
        self._save(community, lists)
        await self.session.flush()
        return next((c for c in checklists(community, every=True) if c.key == key), None)

    async def delete_checklist(self, actor: Actor, community: Community, key: str) -> None:
        lists, i = await self._editing(actor, community, key)
        del lists[i]
        self._save(community, lists)
        await self.session.flush()
