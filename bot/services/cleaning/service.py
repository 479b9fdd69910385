"""Cleaning days: creating and changing series, skipping and cancelling, RSVPs, the views of /cleaning and
recording attendance after the day. What must be told to whom is recorded as events (base.py) and worded
in bot/notices/cleaning.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.services.access import Actor, Level, NotAllowed, Place
from bot.services.cleaning.base import (
    DayChanged,
    DayClosed,
    DayRecorded,
    DayView,
    Draft,
    RsvpResult,
    SeriesFacts,
    rule_of,
)
from bot.services.cleaning.schedule import CleaningSchedule
from bot.services.recurrence import to_utc
from models import CleaningDay, CleaningRsvp, CleaningSeries, Member


class CleaningService(CleaningSchedule):
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
                told += await self._tell_rsvps(day, "changed", stamp=now.strftime("%Y%m%d%H%M%S"))
            await self._counts_changed(day)
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
        told = await self._tell_rsvps(day, "skipped")
        await self._counts_changed(day)
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
            told += await self._tell_rsvps(day, "cancelled")
            await self._counts_changed(day)
        return series, True, told

    async def _tell_rsvps(self, day: CleaningDay, what: str, stamp: str = "") -> int:
        """Tell everyone who answered about an occurrence that it was skipped, cancelled or changed,
        and the residents' chats that had its reminder. Returns how many people are told."""
        rows = (await self.session.execute(select(Member).join(CleaningRsvp, CleaningRsvp.member_id == Member.id)
                                           .where(CleaningRsvp.day_id == day.id))).scalars().all()
        told = tuple(m.id for m in rows if m.data_deleted_at is None)
        chats = tuple(dict.fromkeys(p.chat_id for p in await self.posts(day.id) if p.kind == "reminder"))
        await self.events.record(DayChanged(day.id, what, stamp, told, chats))
        return len(told)

    # ------------------------------------------------------------------ RSVPs

    async def rsvp(self, actor: Actor, member: Member, day_id: int, coming: bool,
                   chat_id: int | None = None) -> RsvpResult:
        """Record one person's answer (changing it is allowed). Pressed in a residents' chat, the person
        is the one who pressed, even if the bot does not know them from the building yet."""
        day, _series = await self.get_day(day_id)
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
            await self._counts_changed(day)
        coming_n, _not = await self.counts(day.id)
        return RsvpResult(day, changed, coming_n)

    # ------------------------------------------------------------------ views

    async def facts(self, draft_or_series: Draft | CleaningSeries) -> SeriesFacts:
        """What the summary shown before Create and in the series view says."""
        if isinstance(draft_or_series, Draft):
            draft = draft_or_series
            place = await self.draft_place_name(draft)
            rule = draft.rule()
            values = (draft.start_minutes, draft.duration_minutes, draft.meeting_point, draft.tasks,
                      list(draft.reminders), draft.photo_file_id)
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
        return SeriesFacts(place, rule, start, duration, point, tasks, reminders, bool(photo), first)

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
            out.append(await self._view(day, series, member, mine))
        return out

    async def _view(self, day: CleaningDay, series: CleaningSeries, member: Member | None, mine: bool) -> DayView:
        coming = await self.coming_members(day.id)
        _yes, no = await self.counts(day.id)
        return DayView(day, series, await self.place_name(series), coming, no,
                       await self.answer_of(day.id, member.id) if member is not None else None, mine)

    async def day_view(self, actor: Actor, member: Member, day_id: int) -> DayView:
        """One day with the names of who is coming: for those who manage it only. Residents are never
        offered this view (they answer from reminders and /cleaning), and a forged one names nobody."""
        day, series = await self.get_day(day_id)
        mine = series.created_by == member.id or await self.can_manage(actor, series)
        if not mine:
            raise NotAllowed("cleanday", Place(day.community_id), Level.CAPTAIN)
        return await self._view(day, series, member, mine)

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
                out.append(await self._view(day, series, None, True))
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
        posted_before = day.status == "held"  # its summary went out then (keyed per day and chat)
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
        chats = tuple(await self.residents_chats(series))
        await self.events.record(DayRecorded(day.id, chats))
        await self._counts_changed(day)
        return day, bool(chats) and not posted_before
