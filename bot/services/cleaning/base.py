"""Cleaning days: the types, the events, and what every part of the service stands on (places and rights,
looking up series and days, counts, the posts in chats, the residents' chats)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.services.access import Actor, NotAllowed, Place, require
from bot.services.base import CommunityService
from bot.services.events import Event
from bot.services.recurrence import DEFAULT_REMINDERS, Rule
from models import (
    Area,
    Building,
    ChatLink,
    CleaningDay,
    CleaningPost,
    CleaningRsvp,
    CleaningSeries,
    Community,
    Member,
    Role,
)

HORIZON = timedelta(days=62)  # occurrences materialised this far ahead
AFTER_PROMPT_WINDOW = timedelta(days=3)  # ask the captain how it went only this long after the end
NAMES_SHOWN = 30
GROUP_EDIT_DELAY = timedelta(seconds=5)  # coalesce RSVP bursts: ~20 edits a minute per group
CARD_EDIT_DELAY = timedelta(seconds=2)


class DayClosed(Exception):
    """An RSVP or action on an occurrence that is over, skipped or cancelled: reason says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Draft:
    """What the /cleanday conversation collects (kept as a dict in the FSM data)."""

    community_id: int
    scope: str = "buildings"  # buildings | area | community
    area_id: int | None = None
    building_ids: list[int] = field(default_factory=list)
    freq: str = "weekly"
    interval: int = 1
    nth: int | None = None
    weekday: int | None = None
    month_day: int | None = None
    start_date: date | None = None
    start_minutes: int = 9 * 60
    duration_minutes: int = 120
    meeting_point: str | None = None
    tasks: str | None = None
    photo_file_id: str | None = None
    reminders: list[str] = field(default_factory=lambda: list(DEFAULT_REMINDERS))
    token: str | None = None

    def rule(self) -> Rule:
        assert self.start_date is not None
        return Rule(self.freq, self.start_date, self.interval, self.nth, self.weekday, self.month_day)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["start_date"] = self.start_date.isoformat() if self.start_date else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Draft:
        values = dict(data)
        if values.get("start_date"):
            values["start_date"] = date.fromisoformat(values["start_date"])
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PlaceOption:
    """A place the actor may hold cleaning days for (an entry of the /cleanday place keyboard)."""

    kind: str  # building | area | community
    id: int
    name: str


@dataclass
class DayView:
    day: CleaningDay
    series: CleaningSeries
    place_name: str
    coming: list[Member]
    not_coming: int
    my_answer: bool | None = None
    can_manage: bool = False


@dataclass(frozen=True)
class RsvpResult:
    day: CleaningDay
    changed: bool
    coming: int


@dataclass(frozen=True)
class SeriesFacts:
    """What the summary of a series (or of a draft before Create) shows; bot/notices/cleaning.py words it."""

    place: str
    rule: Rule
    start_minutes: int
    duration_minutes: int
    meeting_point: str | None
    tasks: str | None
    reminders: list[str]
    photo: bool
    first: date | None


# ---------------------------------------------------------------------------------------- events
# Worded and sent by bot/notices/cleaning.py, in the same transaction.


@dataclass(frozen=True)
class ReminderDue(Event):
    """A reminder moment of an occurrence has come: the residents' chats (first: they carry the live
    count), the residents, and the captain's card (once per occurrence)."""

    day_id: int
    offset: str
    chat_ids: tuple[int, ...]
    member_ids: tuple[int, ...]
    card_to: int | None  # the series' author, when they started the bot


@dataclass(frozen=True)
class DayChanged(Event):
    """An occurrence was skipped, its series cancelled, or its time or place changed (`what`): everyone
    who answered (`member_ids`) and the residents' chats that had its reminder are told."""

    day_id: int
    what: str  # skipped | cancelled | changed
    stamp: str
    member_ids: tuple[int, ...]
    chat_ids: tuple[int, ...]


@dataclass(frozen=True)
class CountsChanged(Event):
    """The answers or the state of an occurrence changed: its posts (the captain's card, the reminders in
    residents' chats) show the new count, coalesced into one edit per message."""

    day_id: int


@dataclass(frozen=True)
class DayRecorded(Event):
    """Attendance was recorded: the summary goes to the residents' chats, once."""

    day_id: int
    chat_ids: tuple[int, ...]


@dataclass(frozen=True)
class AfterDayDue(Event):
    """An occurrence ended: ask its captain (or the buildings' captains) how it went, once."""

    day_id: int
    member_ids: tuple[int, ...]
    coming: int


def rule_of(series: CleaningSeries) -> Rule:
    return Rule(series.freq, series.start_date, series.interval, series.nth, series.weekday, series.month_day,
                series.until_date)


# How a long list of buildings is named ("A, B, C and 4 more buildings"): words, so bot/notices/cleaning.py
# sets it when it is imported (bot.capabilities.load_notices); until then, the names joined.
PlaceLabel = Callable[[list[str]], str]
_place_label: list[PlaceLabel] = []


def set_place_label(fn: PlaceLabel) -> None:
    _place_label[:] = [fn]


def _label(names: list[str]) -> str:
    if not _place_label:
        from bot.capabilities import load_notices

        load_notices()
    return _place_label[0](names) if _place_label else ", ".join(names)


class CleaningBase(CommunityService):
    # ------------------------------------------------------------------ places and rights

    async def place_options(self, actor: Actor, community_id: int) -> list[PlaceOption]:
        """Buildings, areas and the community the actor may hold cleaning days for."""
        community = await self.session.get(Community, community_id)
        if community is None:
            raise LookupError("community")
        return [PlaceOption(*p) for p in await self.members.places_where(actor, "cleanday", community)]

    async def managed_community(self, actor: Actor, member: Member) -> Community | None:
        """The first community where the actor may hold cleaning days."""
        for community in await self.members.member_communities(member) or (
                await self.members.communities() if actor.is_admin else []):
            if await self.place_options(actor, community.id):
                return community
        return None

    async def _require_series(self, actor: Actor, series: CleaningSeries) -> None:
        for place in await self._places(series):
            require(actor, "cleanday", place)

    async def can_manage(self, actor: Actor, series: CleaningSeries) -> bool:
        try:
            await self._require_series(actor, series)
        except NotAllowed:
            return False
        return True

    async def _places(self, series: CleaningSeries) -> list[Place]:
        if series.scope == "community":
            return [Place(series.community_id)]
        if series.scope == "area":
            assert series.area_id is not None
            return [Place(series.community_id, series.area_id)]
        return [await self.members.building_place(int(b)) for b in series.building_ids]

    async def target_buildings(self, series: CleaningSeries) -> list[Building]:
        stmt = select(Building).where(Building.community_id == series.community_id)
        if series.scope == "area":
            stmt = stmt.where(Building.area_id == series.area_id)
        elif series.scope == "buildings":
            stmt = stmt.where(Building.id.in_([int(b) for b in series.building_ids]))
        return list((await self.session.execute(stmt.order_by(Building.id))).scalars())

    async def place_name(self, series: CleaningSeries) -> str:
        if series.scope == "community":
            community = await self.session.get(Community, series.community_id)
            return community.name if community else "?"
        if series.scope == "area":
            area = await self.session.get(Area, series.area_id)
            return area.name if area else "?"
        return _label([b.name for b in await self.target_buildings(series)])

    async def draft_place_name(self, draft: Draft) -> str:
        series = CleaningSeries(community_id=draft.community_id, scope=draft.scope, area_id=draft.area_id,
                                building_ids=list(draft.building_ids))
        return await self.place_name(series)

    # ------------------------------------------------------------------ looking up

    async def get_series(self, series_id: int) -> CleaningSeries:
        series = await self.session.get(CleaningSeries, series_id)
        if series is None:
            raise LookupError("cleaning_series")
        return series

    async def get_day(self, day_id: int) -> tuple[CleaningDay, CleaningSeries]:
        day = await self.session.get(CleaningDay, day_id)
        if day is None:
            raise LookupError("cleaning_day")
        return day, await self.get_series(day.series_id)

    async def _tz(self, community_id: int) -> str:
        return await self.timezone(community_id)

    async def counts(self, day_id: int) -> tuple[int, int]:
        rows = (await self.session.execute(select(CleaningRsvp.coming, func.count()).where(
            CleaningRsvp.day_id == day_id).group_by(CleaningRsvp.coming))).all()
        by = {bool(c): int(n) for c, n in rows}
        return by.get(True, 0), by.get(False, 0)

    async def coming_members(self, day_id: int) -> list[Member]:
        return list((await self.session.execute(select(Member).join(
            CleaningRsvp, CleaningRsvp.member_id == Member.id).where(
            CleaningRsvp.day_id == day_id, CleaningRsvp.coming.is_(True)).order_by(CleaningRsvp.id))).scalars())

    async def answer_of(self, day_id: int, member_id: int) -> bool | None:
        return (await self.session.execute(select(CleaningRsvp.coming).where(
            CleaningRsvp.day_id == day_id, CleaningRsvp.member_id == member_id))).scalar_one_or_none()

    async def answers(self, day_id: int) -> dict[int, bool]:
        """Each member's answer for a day."""
        return {int(mid): bool(coming) for mid, coming in (await self.session.execute(
            select(CleaningRsvp.member_id, CleaningRsvp.coming).where(CleaningRsvp.day_id == day_id))).all()}

    async def posts(self, day_id: int) -> list[CleaningPost]:
        """The messages that show an occurrence's count: the captain's card, reminders in residents' chats."""
        return list((await self.session.execute(select(CleaningPost).where(
            CleaningPost.day_id == day_id).order_by(CleaningPost.id))).scalars())

    async def residents_chats(self, series: CleaningSeries) -> list[int]:
        ids = [b.id for b in await self.target_buildings(series)]
        chats = await self.chats.residents_chats(ids)
        extra_places: list[Place] = []
        if series.scope == "area" and series.area_id is not None:
            extra_places.append(Place(series.community_id, series.area_id))
        if series.scope == "community":
            extra_places.append(Place(series.community_id))
            rows = (await self.session.execute(select(ChatLink.chat_id).where(
                ChatLink.community_id == series.community_id, ChatLink.place_kind == "area",
                ChatLink.kind == "residents"))).scalars()
            chats.extend(rows)
        for place in extra_places:
            chat = await self.chats.chat_for(place, "residents")
            if chat is not None:
                chats.append(chat)
        return list(dict.fromkeys(chats))

    async def residents(self, series: CleaningSeries) -> list[Member]:
        """Who gets private reminders: residents of the target buildings who started the bot, have not
        erased their data and have not muted cleaning reminders."""
        ids = [b.id for b in await self.target_buildings(series)]
        rows = (await self.session.execute(select(Member).join(Role, Role.member_id == Member.id).where(
            Role.role == "resident", Role.building_id.in_(ids), Member.started.is_(True),
            Member.data_deleted_at.is_(None)).order_by(Member.id))).scalars().unique()
        return [m for m in rows if (m.prefs or {}).get("cleaning", True) is not False]

    async def _counts_changed(self, day: CleaningDay) -> None:
        """The card and the reminders in chats show the current count (only when there are such posts)."""
        if await self.posts(day.id):
            await self.events.record(CountsChanged(day.id))
