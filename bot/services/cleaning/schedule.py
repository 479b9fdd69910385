"""Cleaning days over time: occurrences materialised ahead, reminder moments turned into a ReminderDue
event (worded in bot/notices/cleaning.py), the captain asked how a past day went, the start of a new series
fixed from its rule."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from bot.services.access import Place
from bot.services.cleaning.base import (
    AFTER_PROMPT_WINDOW,
    HORIZON,
    AfterDayDue,
    CleaningBase,
    Draft,
    ReminderDue,
    rule_of,
)
from bot.services.recurrence import first_weekday_on_or_after, reminder_at, to_utc
from models import CleaningDay, CleaningSeries, Member


class CleaningSchedule(CleaningBase):
    async def today(self, community_id: int) -> date:
        """Today's date where the community is."""
        return self.clock().astimezone(ZoneInfo(await self._tz(community_id))).date()

    async def fix_start(self, draft: Draft, minutes: int) -> bool:
        """Set the draft's start time and fix its first date from the rule. False when a one-off day's
        moment has passed already."""
        tz = await self._tz(draft.community_id)
        now = self.clock()
        today = now.astimezone(ZoneInfo(tz)).date()
        draft.start_minutes = minutes
        if draft.freq == "once":
            assert draft.start_date is not None
            return to_utc(draft.start_date, minutes, tz) > now
        if draft.freq == "weekly":
            assert draft.weekday is not None
            first = first_weekday_on_or_after(today, draft.weekday)
            if to_utc(first, minutes, tz) <= now:
                first += timedelta(days=7)
            draft.start_date = first
        else:
            draft.start_date = today
        return True

    async def next_day(self, series_id: int) -> CleaningDay | None:
        return (await self.session.execute(select(CleaningDay).where(
            CleaningDay.series_id == series_id, CleaningDay.status == "scheduled",
            CleaningDay.starts_at > self.clock()).order_by(CleaningDay.starts_at).limit(1))).scalar_one_or_none()

    async def _future_days(self, series: CleaningSeries) -> list[CleaningDay]:
        return list((await self.session.execute(select(CleaningDay).where(
            CleaningDay.series_id == series.id, CleaningDay.status == "scheduled",
            CleaningDay.starts_at > self.clock()).order_by(CleaningDay.starts_at))).scalars())

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

    async def materialise_all(self) -> int:
        rows = (await self.session.execute(select(CleaningSeries).where(CleaningSeries.status == "active"))).scalars()
        return sum([await self.materialise(s) for s in list(rows)])

    async def send_due_reminders(self) -> int:
        """Turn due reminder moments into reminders. When several moments of one occurrence are due
        (the series was created late, or the bot was down), only the latest is sent. Returns how many
        chats and people were reminded."""
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

    async def _send_reminder(self, day: CleaningDay, series: CleaningSeries, offset: str) -> int:
        chats = await self.residents_chats(series)
        people = await self.residents(series)
        author = await self.session.get(Member, series.created_by) if series.created_by else None
        await self.events.record(ReminderDue(
            day.id, offset, tuple(chats), tuple(m.id for m in people),
            author.id if author is not None and author.started else None))
        return len(chats) + len(people)

    async def prompt_after(self) -> int:
        """Ask the captain how it went, once, after each occurrence ends. Returns how many were asked."""
        now = self.clock()
        rows = (await self.session.execute(
            select(CleaningDay, CleaningSeries).join(CleaningSeries, CleaningSeries.id == CleaningDay.series_id)
            .where(CleaningDay.status == "scheduled", CleaningDay.after_prompted.is_(False),
                   CleaningDay.ends_at <= now, CleaningDay.ends_at > now - AFTER_PROMPT_WINDOW))).all()
        n = 0
        for day, series in rows:
            day.after_prompted = True
            people: list[Member] = []
            author = await self.session.get(Member, series.created_by) if series.created_by else None
            if author is not None:
                people = [author]
            else:
                for b in await self.target_buildings(series):
                    people += await self.members.holders("captain", Place(b.community_id, b.area_id, b.id))
            coming, _no = await self.counts(day.id)
            asked = tuple(p.id for p in {p.id: p for p in people}.values() if p.data_deleted_at is None)
            await self.events.record(AfterDayDue(day.id, asked, coming))
            n += len(asked)
        return n
