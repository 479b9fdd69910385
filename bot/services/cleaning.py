"""Cleaning days (卫生清洁日): series and their occurrences, reminders with RSVP buttons, live counts for
the captain, skipping and cancelling (everyone who answered is told), attendance and the summary after
the day, and the figures the daily digest shows.

Occurrences are rows (unique per series and local date), materialised a couple of months ahead by a
job, so reminders and RSVPs attach to them and a restart loses nothing. Reminders go through the
outbox under keys unique per occurrence, offset and recipient: a double tick sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _, ngettext, use_locale
from bot.jobs import JobContext, job
from bot.notices.recurrence import date_label, join_list, offset_label, rule_label
from bot.rendering import CAPTION_LIMIT, esc, plain_len, render, shorten
from bot.services.access import Actor, Level, NotAllowed, Place, require
from bot.services.base import CommunityService
from bot.services.outbox import on_sent
from bot.services.recurrence import (
    DEFAULT_REMINDERS,
    Rule,
    fmt_hhmm,
    reminder_at,
    to_utc,
)
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
    OutboxItem,
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


def rule_of(series: CleaningSeries) -> Rule:
    return Rule(series.freq, series.start_date, series.interval, series.nth, series.weekday, series.month_day,
                series.until_date)


class CleaningService(CommunityService):
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
        names = [b.name for b in await self.target_buildings(series)]
        if len(names) > 4:
            return _("{first} and {n} more buildings").format(first=", ".join(names[:3]), n=len(names) - 3)
        return ", ".join(names)

    async def draft_place_name(self, draft: Draft) -> str:
        series = CleaningSeries(community_id=draft.community_id, scope=draft.scope, area_id=draft.area_id,
                                building_ids=list(draft.building_ids))
        return await self.place_name(series)

    # ------------------------------------------------------------------ creating and changing

    async def create(self, actor: Actor, draft: Draft) -> tuple[CleaningSeries, bool]:
        """Create a series from a finished draft. Returns (series, created); a second Create with the
        same draft token returns the first series."""
        if draft.token:
            existing = (await self.session.execute(select(CleaningSeries).where(
                CleaningSeries.client_token == draft.token))).scalar_one_or_none()
            if existing is not None:
                return existing, False
        if draft.start_date is None:
            raise ValueError("start_date")
        rule = draft.rule()  # validates
        series = CleaningSeries(
            community_id=draft.community_id, scope=draft.scope, area_id=draft.area_id,
            building_ids=sorted(set(draft.building_ids)), freq=rule.freq, interval=rule.interval, nth=rule.nth,
            weekday=rule.weekday, month_day=rule.day, start_date=rule.start,
            start_minutes=draft.start_minutes, duration_minutes=draft.duration_minutes,
            meeting_point=draft.meeting_point, tasks=draft.tasks, photo_file_id=draft.photo_file_id,
            reminders=list(draft.reminders), created_by=actor.member_id, client_token=draft.token,
            created_at=self.clock())
        if series.scope == "buildings" and not series.building_ids:
            raise ValueError("building_ids")
        await self._require_series(actor, series)
        self.session.add(series)
        await self.session.flush()
        await self.materialise(series)
        return series, True

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

    async def next_day(self, series_id: int) -> CleaningDay | None:
        return (await self.session.execute(select(CleaningDay).where(
            CleaningDay.series_id == series_id, CleaningDay.status == "scheduled",
            CleaningDay.starts_at > self.clock()).order_by(CleaningDay.starts_at).limit(1))).scalar_one_or_none()

    async def _tz(self, community_id: int) -> str:
        community = await self.session.get(Community, community_id)
        return community.timezone if community else "UTC"

    async def materialise(self, series: CleaningSeries, horizon: timedelta = HORIZON) -> int:
        """Insert the occurrences of the coming weeks (those not started yet); existing ones stay."""
        if series.status != "active":
            return 0
        tz = await self._tz(series.community_id)
        now = self.clock()
        today = now.astimezone(ZoneInfo(tz)).date()
        rule = rule_of(series)
        added = 0
        dates = list(rule.dates(today, (now + horizon).astimezone(ZoneInfo(tz)).date()))
        if not dates and rule.freq != "once":
            nxt = rule.next_on_or_after(today)
            dates = [nxt] if nxt else []
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        for d in dates:
            starts = to_utc(d, series.start_minutes, tz)
            if starts <= now:
                continue
            ins: Any = postgresql.insert(CleaningDay) if dialect == "postgresql" else sqlite.insert(CleaningDay)
            result = await self.session.execute(ins.values(
                series_id=series.id, community_id=series.community_id, local_date=d, starts_at=starts,
                ends_at=starts + timedelta(minutes=series.duration_minutes), status="scheduled",
                reminders_done=[], after_prompted=False, after_photos=[],
            ).on_conflict_do_nothing(index_elements=["series_id", "local_date"]))
            added += int(getattr(result, "rowcount", 0) or 0)
        return added

    async def edit(self, actor: Actor, series_id: int, field_name: str, value: Any) -> tuple[CleaningSeries, int]:
        """Change time, duration, meeting point, tasks, photo or reminders of a series. Future occurrences
        follow; people who answered are told when the time or place changed. Returns (series, told)."""
        series = await self.get_series(series_id)
        await self._require_series(actor, series)
        if series.status != "active":
            raise DayClosed("cancelled")
        allowed = {"start_minutes", "duration_minutes", "meeting_point", "tasks", "photo_file_id", "reminders"}
        if field_name not in allowed:
            raise ValueError(field_name)
        if getattr(series, field_name) == value:
            return series, 0
        setattr(series, field_name, value)
        told = 0
        tz = await self._tz(series.community_id)
        now = self.clock()
        for day in await self._future_days(series):
            day.starts_at = to_utc(day.local_date, series.start_minutes, tz)
            day.ends_at = day.starts_at + timedelta(minutes=series.duration_minutes)
            if field_name in {"start_minutes", "duration_minutes", "meeting_point"}:
                told += await self._tell_rsvps(day, series, "changed", stamp=now.strftime("%Y%m%d%H%M%S"))
            await self._refresh_posts(day, series)
        await self.session.flush()
        return series, told

    async def skip(self, actor: Actor, day_id: int) -> tuple[CleaningDay, bool, int]:
        """Skip one occurrence. Returns (day, changed, told)."""
        day, series = await self.get_day(day_id)
        await self._require_series(actor, series)
        if day.status != "scheduled":
            return day, False, 0
        if day.starts_at <= self.clock():
            raise DayClosed("started")
        day.status = "skipped"
        await self.outbox.cancel(f"clean:{day.id}:")
        told = await self._tell_rsvps(day, series, "skipped")
        await self._refresh_posts(day, series)
        return day, True, told

    async def cancel_series(self, actor: Actor, series_id: int) -> tuple[CleaningSeries, bool, int]:
        """Cancel the series and its future occurrences. Returns (series, changed, people told)."""
        series = await self.get_series(series_id)
        await self._require_series(actor, series)
        if series.status == "cancelled":
            return series, False, 0
        series.status = "cancelled"
        series.cancelled_at = self.clock()
        told = 0
        for day in await self._future_days(series):
            day.status = "cancelled"
            await self.outbox.cancel(f"clean:{day.id}:")
            told += await self._tell_rsvps(day, series, "cancelled")
            await self._refresh_posts(day, series)
        return series, True, told

    async def _future_days(self, series: CleaningSeries) -> list[CleaningDay]:
        return list((await self.session.execute(select(CleaningDay).where(
            CleaningDay.series_id == series.id, CleaningDay.status == "scheduled",
            CleaningDay.starts_at > self.clock()).order_by(CleaningDay.starts_at))).scalars())

    async def _tell_rsvps(self, day: CleaningDay, series: CleaningSeries, what: str, stamp: str = "") -> int:
        """Tell everyone who answered about an occurrence that it was skipped, cancelled or changed,
        and the residents' chats that had its reminder."""
        community = await self.session.get(Community, series.community_id)
        assert community is not None
        rows = (await self.session.execute(select(Member).join(CleaningRsvp, CleaningRsvp.member_id == Member.id)
                                           .where(CleaningRsvp.day_id == day.id))).scalars().all()
        place = await self.place_name(series)
        told = 0
        for m in rows:
            with use_locale(self.members.locale_for(m, community)):
                text = self._change_text(day, series, place, community.timezone, what)
            if await self.outbox.notify(m, key=f"clean_{what}:{day.id}:{m.id}:{stamp}", kind="cleaning_change",
                                        text=text, tz=community.timezone, community_id=community.id):
                told += 1
        chats = {p.chat_id for p in await self._posts(day.id) if p.kind == "reminder"}
        for chat_id in chats:
            with use_locale(community.locale):
                text = self._change_text(day, series, place, community.timezone, what)
            await self.outbox.enqueue(key=f"clean_{what}:{day.id}:c{chat_id}:{stamp}", kind="cleaning_change",
                                      chat_id=chat_id, text=text, community_id=community.id)
        return told

    def _change_text(self, day: CleaningDay, series: CleaningSeries, place: str, tz: str, what: str) -> str:
        when = _("{date} {time}").format(date=date_label(day.local_date), time=fmt_hhmm(series.start_minutes))
        if what == "skipped":
            return _("🧹 The cleaning day on {when} ({place}) will not take place. Thank you for signing up — "
                     "see you next time!").format(when=when, place=esc(place))
        if what == "cancelled":
            return _("🧹 The cleaning days for {place} have been cancelled, including {when}. Thank you for "
                     "signing up!").format(when=when, place=esc(place))
        end = (day.starts_at + timedelta(minutes=series.duration_minutes)).astimezone(ZoneInfo(tz))
        text = _("🧹 Change to the cleaning day ({place}): now {date} {start}–{end}.").format(
            place=esc(place), date=date_label(day.local_date), start=fmt_hhmm(series.start_minutes),
            end=end.strftime("%H:%M"))
        if series.meeting_point:
            text += "\n" + _("📍 Meet at: {point}").format(point=esc(series.meeting_point))
        return text

    # ------------------------------------------------------------------ RSVPs

    async def rsvp(self, actor: Actor, member: Member, day_id: int, coming: bool,
                   chat_id: int | None = None) -> RsvpResult:
        """Record one person's answer (changing it is allowed). Pressed in a residents' chat, the person
        is the one who pressed, even if the bot does not know them from the building yet."""
        day, series = await self.get_day(day_id)
        allowed = actor.in_community(day.community_id)
        if not allowed and chat_id is not None and chat_id < 0:
            link = await self.chats.link_of(chat_id)
            allowed = link is not None and link.community_id == day.community_id
        if not allowed:
            raise NotAllowed("cleaning_rsvp")
        if day.status in ("skipped", "cancelled"):
            raise DayClosed(day.status)
        if day.ends_at <= self.clock() or day.status == "held":
            raise DayClosed("over")
        existing = (await self.session.execute(select(CleaningRsvp).where(
            CleaningRsvp.day_id == day.id, CleaningRsvp.member_id == member.id))).scalar_one_or_none()
        now = self.clock()
        changed = True
        if existing is None:
            self.session.add(CleaningRsvp(day_id=day.id, member_id=member.id, coming=coming, created_at=now,
                                          updated_at=now))
        elif existing.coming == coming:
            changed = False
        else:
            existing.coming = coming
            existing.updated_at = now
        await self.session.flush()
        if changed:
            await self._refresh_posts(day, series)
        coming_n, _not = await self.counts(day.id)
        return RsvpResult(day, changed, coming_n)

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

    async def _posts(self, day_id: int) -> list[CleaningPost]:
        return list((await self.session.execute(select(CleaningPost).where(
            CleaningPost.day_id == day_id).order_by(CleaningPost.id))).scalars())

    async def _refresh_posts(self, day: CleaningDay, series: CleaningSeries) -> None:
        """Edit the captain's card and the reminders in residents' chats to show the current count
        (coalesced: a burst of answers becomes one edit per message)."""
        posts = await self._posts(day.id)
        if not posts:
            return
        community = await self.session.get(Community, series.community_id)
        assert community is not None
        place = await self.place_name(series)
        for post in posts:
            if post.kind == "card":
                text = await self.card_text(day, series, post.locale)
                buttons = card_buttons(day, post.locale)
                delay = CARD_EDIT_DELAY
            else:
                text = await self.reminder_text(day, series, community, place, post.offset or "", post.locale,
                                                group=True)
                buttons = rsvp_buttons(day, post.locale) if day.status == "scheduled" else []
                delay = GROUP_EDIT_DELAY
            if post.photo:
                text = _fit_caption(text)
            await self.outbox.enqueue_edit(key=f"cleanpost:{post.id}", kind="cleaning_edit", chat_id=post.chat_id,
                                           message_id=post.message_id, text=text, caption=post.photo,
                                           buttons=buttons, community_id=community.id, delay=delay,
                                           urgent=True)  # coalesced, so it cannot crowd out the batch

    # ------------------------------------------------------------------ texts

    async def reminder_text(self, day: CleaningDay, series: CleaningSeries, community: Community, place: str,
                            offset: str, locale: str, *, group: bool) -> str:
        tz = community.timezone
        coming = (await self.counts(day.id))[0] if group else None
        with use_locale(locale):
            sent_on = reminder_at(offset, day.local_date, series.start_minutes, tz).astimezone(ZoneInfo(tz)).date() \
                if offset else day.local_date
            delta = (day.local_date - sent_on).days
            when = date_label(day.local_date)
            if delta == 0:
                when = _("today, {date}").format(date=when)
            elif delta == 1:
                when = _("tomorrow, {date}").format(date=when)
            end = day.ends_at.astimezone(ZoneInfo(tz)).strftime("%H:%M")
            return render("cleaning_reminder.html.j2", when=when, place=place, start=fmt_hhmm(series.start_minutes),
                          end=end, meeting_point=series.meeting_point, tasks=series.tasks, coming=coming,
                          status=day.status)

    async def card_text(self, day: CleaningDay, series: CleaningSeries, locale: str) -> str:
        place = await self.place_name(series)
        coming = await self.coming_members(day.id)
        _yes, no = await self.counts(day.id)
        with use_locale(locale):
            return render("cleaning_card.html.j2", date=date_label(day.local_date),
                          start=fmt_hhmm(series.start_minutes), place=place,
                          names=[m.display_name for m in coming[:NAMES_SHOWN]], coming=len(coming),
                          more=max(0, len(coming) - NAMES_SHOWN), not_coming=no, status=day.status)

    async def describe(self, draft_or_series: Draft | CleaningSeries, locale: str | None = None) -> str:
        """The summary shown before Create and in the series view."""
        if isinstance(draft_or_series, Draft):
            draft = draft_or_series
            place = await self.draft_place_name(draft)
            rule = draft.rule()
            values = (draft.start_minutes, draft.duration_minutes, draft.meeting_point, draft.tasks,
                      draft.reminders, draft.photo_file_id)
            tz = await self._tz(draft.community_id)
        else:
            s = draft_or_series
            place = await self.place_name(s)
            rule = rule_of(s)
            values = (s.start_minutes, s.duration_minutes, s.meeting_point, s.tasks, list(s.reminders),
                      s.photo_file_id)
            tz = await self._tz(s.community_id)
        start, duration, point, tasks, reminders, photo = values
        now_local = self.clock().astimezone(ZoneInfo(tz))
        first = next(iter(d for d in rule.dates(now_local.date(), now_local.date() + timedelta(days=800))
                          if to_utc(d, start, tz) > self.clock()), None)
        with use_locale(locale) if locale else nullcontext():
            return render("cleaning_series.html.j2", place=place, how=rule_label(rule), start=fmt_hhmm(start),
                          end=fmt_hhmm((start + duration) % (24 * 60)), meeting_point=point, tasks=tasks,
                          photo=bool(photo), reminders=join_list([offset_label(o) for o in reminders]) or "—",
                          first=date_label(first) if first else None)

    # ------------------------------------------------------------------ views

    async def upcoming(self, actor: Actor, member: Member, community_id: int, *, days: int = 35,
                       manage: bool) -> list[DayView]:
        """Managers: the days of series they may manage (or created). Residents: their buildings' days."""
        now = self.clock()
        rows = (await self.session.execute(
            select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
            .where(CleaningDay.community_id == community_id, CleaningDay.status.in_(("scheduled", "skipped")),
                   CleaningDay.ends_at > now, CleaningDay.starts_at <= now + timedelta(days=days),
                   CleaningSeries.status == "active")
            .order_by(CleaningDay.starts_at))).all()
        home = {b.id for b in await self.members.home_buildings(member)}
        out: list[DayView] = []
        manage_cache: dict[int, bool] = {}
        for day, series in rows:
            if series.id not in manage_cache:
                manage_cache[series.id] = (series.created_by == member.id) or await self.can_manage(actor, series)
            mine = manage_cache[series.id]
            if manage and not mine:
                continue
            if not manage:
                targets = {b.id for b in await self.target_buildings(series)}
                if not targets & home:
                    continue
                if day.status != "scheduled":
                    continue
            coming = await self.coming_members(day.id)
            _yes, no = await self.counts(day.id)
            out.append(DayView(day, series, await self.place_name(series), coming, no,
                               await self.answer_of(day.id, member.id), mine))
        return out

    async def day_view(self, actor: Actor, member: Member, day_id: int) -> DayView:
        """One day with the names of who is coming: for those who manage it only. Residents are never
        offered this view (they answer from reminders and /cleaning), and a forged one names nobody."""
        day, series = await self.get_day(day_id)
        mine = series.created_by == member.id or await self.can_manage(actor, series)
        if not mine:
            raise NotAllowed("cleanday", Place(day.community_id), Level.CAPTAIN)
        coming = await self.coming_members(day.id)
        _yes, no = await self.counts(day.id)
        return DayView(day, series, await self.place_name(series), coming, no,
                       await self.answer_of(day.id, member.id), mine)

    async def recent_unrecorded(self, actor: Actor, member: Member, community_id: int) -> list[DayView]:
        """Days that ended in the last week and wait for their attendance (for /cleaning)."""
        now = self.clock()
        rows = (await self.session.execute(
            select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
            .where(CleaningDay.community_id == community_id, CleaningDay.status == "scheduled",
                   CleaningDay.ends_at <= now, CleaningDay.ends_at > now - timedelta(days=7))
            .order_by(CleaningDay.starts_at))).all()
        out = []
        for day, series in rows:
            if series.created_by == member.id or await self.can_manage(actor, series):
                _yes, no = await self.counts(day.id)
                out.append(DayView(day, series, await self.place_name(series), await self.coming_members(day.id),
                                   no, None, True))
        return out

    # ------------------------------------------------------------------ after the day

    async def record(self, actor: Actor, day_id: int, *, attended: Sequence[int], others: int, bags: int | None,
                     summary: str | None, photos: Sequence[str]) -> tuple[CleaningDay, bool]:
        """Record attendance and the summary; post it to the residents' chats once. Returns (day, posted)."""
        day, series = await self.get_day(day_id)
        await self._require_series(actor, series)
        if day.status in ("skipped", "cancelled"):
            raise DayClosed(day.status)
        if day.starts_at > self.clock():
            raise DayClosed("not_started")
        now = self.clock()
        attended_set = {int(a) for a in attended}
        for r in (await self.session.execute(select(CleaningRsvp).where(CleaningRsvp.day_id == day.id))).scalars():
            r.attended = r.member_id in attended_set
        known = set((await self.session.execute(select(CleaningRsvp.member_id).where(
            CleaningRsvp.day_id == day.id))).scalars())
        for member_id in attended_set - known:
            self.session.add(CleaningRsvp(day_id=day.id, member_id=member_id, coming=True, attended=True,
                                          created_at=now, updated_at=now))
        day.attendance = len(attended_set) + max(0, others)
        day.bags = bags
        day.summary = summary
        day.after_photos = list(photos)[:10]
        day.status = "held"
        day.recorded_by = actor.member_id
        day.recorded_at = now
        await self.session.flush()
        community = await self.session.get(Community, series.community_id)
        assert community is not None
        text = await self.summary_text(day.local_date, series, people=day.attendance or 0, bags=day.bags,
                                       summary=day.summary, locale=community.locale)
        posted = False
        for chat_id in await self.residents_chats(series):
            kwargs: dict[str, Any] = {}
            if day.after_photos:
                kwargs["photos"] = list(day.after_photos)
                text_out = _fit_caption(text)
            else:
                text_out = text
            posted = await self.outbox.enqueue(key=f"clean_summary:{day.id}:c{chat_id}", kind="cleaning_summary",
                                               chat_id=chat_id, text=text_out, community_id=community.id,
                                               **kwargs) or posted
        await self._refresh_posts(day, series)
        return day, posted

    async def summary_text(self, local_date: date, series: CleaningSeries, *, people: int, bags: int | None,
                           summary: str | None, locale: str) -> str:
        """What the residents' chat reads after the day (also the captain's preview)."""
        place = await self.place_name(series)
        with use_locale(locale):
            return render("cleaning_summary.html.j2", date=date_label(local_date), place=place, people=people,
                          bags=bags, summary=summary)

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

    # ------------------------------------------------------------------ scheduled work

    async def materialise_all(self) -> int:
        rows = (await self.session.execute(select(CleaningSeries).where(CleaningSeries.status == "active"))).scalars()
        return sum([await self.materialise(s) for s in list(rows)])

    async def send_due_reminders(self) -> int:
        """Turn due reminder moments into outbox rows. When several moments of one occurrence are due
        (the series was created late, or the bot was down), only the latest is sent."""
        now = self.clock()
        rows = (await self.session.execute(
            select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
            .where(CleaningDay.status == "scheduled", CleaningSeries.status == "active",
                   CleaningDay.starts_at > now, CleaningDay.starts_at <= now + timedelta(days=16))
            .order_by(CleaningDay.starts_at))).all()
        sent = 0
        for day, series in rows:
            tz = await self._tz(series.community_id)
            done = list(day.reminders_done or [])
            due = sorted((reminder_at(o, day.local_date, series.start_minutes, tz), o)
                         for o in (series.reminders or []) if o not in done)
            due_now = [(at, o) for at, o in due if at <= now]
            if not due_now:
                continue
            day.reminders_done = done + [o for _at, o in due_now]
            sent += await self._send_reminder(day, series, due_now[-1][1])
        return sent

    async def residents(self, series: CleaningSeries) -> list[Member]:
        """Who gets private reminders: residents of the target buildings who started the bot, have not
        erased their data and have not muted cleaning reminders."""
        ids = [b.id for b in await self.target_buildings(series)]
        rows = (await self.session.execute(select(Member).join(Role, Role.member_id == Member.id).where(
            Role.role == "resident", Role.building_id.in_(ids), Member.started.is_(True),
            Member.data_deleted_at.is_(None)).order_by(Member.id))).scalars().unique()
        return [m for m in rows if (m.prefs or {}).get("cleaning", True) is not False]

    async def _send_reminder(self, day: CleaningDay, series: CleaningSeries, offset: str) -> int:
        community = await self.session.get(Community, series.community_id)
        assert community is not None
        place = await self.place_name(series)
        texts: dict[str, str] = {}
        count = 0
        photo = series.photo_file_id
        answers = {int(mid): bool(coming) for mid, coming in (await self.session.execute(
            select(CleaningRsvp.member_id, CleaningRsvp.coming).where(CleaningRsvp.day_id == day.id))).all()}
        # The residents' chat first (the sender goes by row order): it carries the live count, which taps
        # arriving while thousands of private reminders go out can only update once it is posted.
        for chat_id in await self.residents_chats(series):
            text = await self.reminder_text(day, series, community, place, offset, community.locale, group=True)
            if await self.outbox.enqueue(key=f"clean:{day.id}:{offset}:c{chat_id}", kind="cleaning_reminder_group",
                                         chat_id=chat_id, text=_fit_caption(text) if photo else text, photo=photo,
                                         buttons=rsvp_buttons(day, community.locale), expires_at=day.starts_at,
                                         community_id=community.id,
                                         extra={"day_id": day.id, "offset": offset, "locale": community.locale}):
                count += 1
        for m in await self.residents(series):
            locale = self.members.locale_for(m, community)
            if locale not in texts:
                texts[locale] = await self.reminder_text(day, series, community, place, offset, locale, group=False)
            text = _fit_caption(texts[locale]) if photo else texts[locale]
            if await self.outbox.notify(m, key=f"clean:{day.id}:{offset}:{m.id}", kind="cleaning_reminder",
                                        text=text, photo=photo, tz=community.timezone,
                                        buttons=rsvp_buttons(day, locale, answers.get(m.id)),
                                        expires_at=day.starts_at,
                                        community_id=community.id):
                count += 1
        # The captain's card with the live count, once per occurrence (with its first reminder).
        author = await self.session.get(Member, series.created_by) if series.created_by else None
        if author is not None and author.started:
            locale = self.members.locale_for(author, community)
            await self.outbox.notify(author, key=f"clean_card:{day.id}", kind="cleaning_card",
                                     text=await self.card_text(day, series, locale), tz=community.timezone,
                                     buttons=card_buttons(day, locale), community_id=community.id,
                                     extra={"day_id": day.id, "locale": locale})
        return count

    async def prompt_after(self) -> int:
        """Ask the captain how it went, once, after each occurrence ends."""
        now = self.clock()
        rows = (await self.session.execute(
            select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
            .where(CleaningDay.status == "scheduled", CleaningDay.after_prompted.is_(False),
                   CleaningDay.ends_at <= now, CleaningDay.ends_at > now - AFTER_PROMPT_WINDOW))).all()
        n = 0
        for day, series in rows:
            day.after_prompted = True
            community = await self.session.get(Community, series.community_id)
            assert community is not None
            people: list[Member] = []
            author = await self.session.get(Member, series.created_by) if series.created_by else None
            if author is not None:
                people = [author]
            else:
                for b in await self.target_buildings(series):
                    people += await self.members.holders("captain", Place(b.community_id, b.area_id, b.id))
            place = await self.place_name(series)
            coming, _no = await self.counts(day.id)
            for person in {p.id: p for p in people}.values():
                locale = self.members.locale_for(person, community)
                with use_locale(locale):
                    text = _("🧹 How did the cleaning day go? {date}, {place}.").format(
                        date=date_label(day.local_date), place=esc(place)) + "\n" + ngettext(
                        "%(num)d neighbour said they would come.", "%(num)d neighbours said they would come.",
                        coming) + "\n" + _("Record who took part and post a short summary to the residents' chat.")
                if await self.outbox.notify(person, key=f"clean_after:{day.id}:{person.id}", kind="cleaning_after",
                                            text=text, tz=community.timezone, buttons=after_buttons(day, locale),
                                            community_id=community.id):
                    n += 1
        return n


def _fit_caption(text: str) -> str:
    """Captions hold 1024 characters: keep whole lines that fit, as plain escaped text if cut."""
    if plain_len(text) <= CAPTION_LIMIT:
        return text
    lines, out = text.split("\n"), []
    for line in lines:
        candidate = "\n".join([*out, line])
        if plain_len(candidate) > CAPTION_LIMIT - 1:
            break
        out.append(line)
    return "\n".join(out) if out else esc(shorten(text, CAPTION_LIMIT))


def rsvp_buttons(day: CleaningDay, locale: str, answer: bool | None = None) -> list[list[tuple[str, str]]]:
    """The reminder's buttons; a person who already answered sees their answer ticked."""
    from bot.keyboards.cleaning import RsvpCb

    with use_locale(locale):
        yes = ("✅ " + _("I'll join")) if answer is True else _("🙋 I'll join")
        no = ("✅ " if answer is False else "") + _("Not this time")
        return [[(yes, RsvpCb(day=day.id, yes=True).pack()), (no, RsvpCb(day=day.id, yes=False).pack())]]


def card_buttons(day: CleaningDay, locale: str) -> list[list[tuple[str, str]]]:
    from bot.keyboards.cleaning import DayCb

    with use_locale(locale):
        return [[(_("📋 Details"), DayCb(action="view", day=day.id).pack())]]


def after_buttons(day: CleaningDay, locale: str) -> list[list[tuple[str, str]]]:
    from bot.keyboards.cleaning import DayCb

    with use_locale(locale):
        return [[(_("📝 Record attendance"), DayCb(action="record", day=day.id).pack())],
                [(_("📷 Report a problem found"), DayCb(action="report", day=day.id).pack())]]


# ---------------------------------------------------------------------------------------- sent hooks


@on_sent("cleaning_reminder_group")
async def _remember_group_post(session: AsyncSession, item: OutboxItem) -> None:
    await _remember(session, item, "reminder")


@on_sent("cleaning_card")
async def _remember_card(session: AsyncSession, item: OutboxItem) -> None:
    await _remember(session, item, "card")


async def _remember(session: AsyncSession, item: OutboxItem, kind: str) -> None:
    payload = item.payload or {}
    if item.message_id is None or payload.get("day_id") is None:
        return
    session.add(CleaningPost(day_id=int(payload["day_id"]), chat_id=item.chat_id, message_id=item.message_id,
                             kind=kind, offset=payload.get("offset"), photo=payload.get("method") == "photo",
                             locale=payload.get("locale") or "en"))


# ---------------------------------------------------------------------------------------- digest


async def cleaning_summary(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime,
                           upcoming_until_utc: datetime) -> dict[str, Any]:
    """For the daily digest: days held in [start, end) with attendance, and days coming until
    `upcoming_until_utc` (from `end_utc`) with their RSVP counts."""
    svc = CleaningService(session)
    held_rows = (await session.execute(
        select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
        .where(CleaningDay.community_id == community_id, CleaningDay.status == "held",
               CleaningDay.starts_at >= start_utc, CleaningDay.starts_at < end_utc)
        .order_by(CleaningDay.starts_at))).all()
    coming_rows = (await session.execute(
        select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
        .where(CleaningDay.community_id == community_id, CleaningDay.status == "scheduled",
               CleaningSeries.status == "active", CleaningDay.starts_at >= end_utc,
               CleaningDay.starts_at < upcoming_until_utc)
        .order_by(CleaningDay.starts_at))).all()
    held = []
    for day, series in held_rows:
        held.append({"day_id": day.id, "date": day.local_date, "starts_at": day.starts_at,
                     "place": await svc.place_name(series), "attendance": day.attendance or 0, "bags": day.bags,
                     "summary": day.summary, "photos": len(day.after_photos or [])})
    upcoming = []
    for day, series in coming_rows:
        yes, no = await svc.counts(day.id)
        upcoming.append({"day_id": day.id, "date": day.local_date, "starts_at": day.starts_at,
                         "place": await svc.place_name(series), "coming": yes, "not_coming": no})
    return {"held": held, "upcoming": upcoming}


@dataclass(frozen=True)
class CleaningDayLine:
    """A cleaning day as the desk's page lists it: when, where, RSVP counts and, once held, attendance."""

    day_id: int
    local_date: date
    starts_at: datetime
    status: str  # scheduled | skipped | cancelled | held
    place: str
    coming: int
    not_coming: int
    attendance: int | None
    bags: int | None


async def cleaning_days_between(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime,
                                *, area_id: int | None = None, statuses: Sequence[str] = ("scheduled", "held",
                                                                                          "skipped")
                                ) -> list[CleaningDayLine]:
    """Days starting in [start_utc, end_utc), soonest first, with their RSVP counts (one grouped query).
    `area_id` keeps to days that touch the area: the whole community's, the area's, or one of its buildings'.
    Read only."""
    rows: list[tuple[CleaningDay, CleaningSeries]] = [(d, s) for d, s in (await session.execute(
        select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
        .where(CleaningDay.community_id == community_id, CleaningDay.status.in_(list(statuses)),
               CleaningDay.starts_at >= start_utc, CleaningDay.starts_at < end_utc)
        .order_by(CleaningDay.starts_at, CleaningDay.id))).all()]
    if area_id is not None:
        in_area = set((await session.execute(select(Building.id).where(Building.area_id == area_id))).scalars())
        rows = [(d, s) for d, s in rows if s.scope == "community" or (s.scope == "area" and s.area_id == area_id)
                or (s.scope == "buildings" and {int(b) for b in s.building_ids} & in_area)]
    counts: dict[tuple[int, bool], int] = {}
    if rows:
        for day_id, coming, n in (await session.execute(
                select(CleaningRsvp.day_id, CleaningRsvp.coming, func.count())
                .where(CleaningRsvp.day_id.in_([d.id for d, _s in rows]))
                .group_by(CleaningRsvp.day_id, CleaningRsvp.coming))).all():
            counts[(day_id, bool(coming))] = int(n)
    svc = CleaningService(session)
    names: dict[int, str] = {}
    out = []
    for day, series in rows:
        if series.id not in names:
            names[series.id] = await svc.place_name(series)
        out.append(CleaningDayLine(day.id, day.local_date, day.starts_at, day.status, names[series.id],
                                   counts.get((day.id, True), 0), counts.get((day.id, False), 0), day.attendance,
                                   day.bags))
    return out


# ---------------------------------------------------------------------------------------- registrations


@job("cleaning_days")
async def cleaning_days_job(session: AsyncSession, ctx: JobContext) -> None:
    """Materialise occurrences, send due reminders, ask captains how past days went."""
    svc = CleaningService(session, ctx.clock)
    await svc.materialise_all()
    await svc.send_due_reminders()
    await svc.prompt_after()


__all__ = ["CleaningService", "DayClosed", "DayView", "Draft", "PlaceOption", "RsvpResult", "cleaning_summary",
           "rule_of"]


# ---------------------------------------------------------------------------------------- for the digests


@dataclass(frozen=True)
class CleaningFigures:
    """The digests' cleaning days: those held in a window (with attendance) and those coming after it, of
    series still active (with how many said they are coming)."""

    held: list[CleaningDayLine]
    upcoming: list[CleaningDayLine]


async def cleaning_figures(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime,
                           upcoming_until_utc: datetime) -> CleaningFigures:
    """Days held in [start_utc, end_utc), and days scheduled in [end_utc, upcoming_until_utc). Read only."""
    held = await cleaning_days_between(session, community_id, start_utc, end_utc, statuses=("held",))
    coming = await cleaning_days_between(session, community_id, end_utc, upcoming_until_utc, statuses=("scheduled",))
    active = set((await session.execute(
        select(CleaningDay.id).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
        .where(CleaningDay.id.in_([d.day_id for d in coming]), CleaningSeries.status == "active"))).scalars()) \
        if coming else set()
    return CleaningFigures(held, [d for d in coming if d.day_id in active])
