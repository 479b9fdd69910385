"""Recurrence rules and reminder offsets for cleaning days: pure date arithmetic, no database. Their
words ("every 2nd Saturday of the month", "the day before at 19:00") are bot/notices/recurrence.py's.

A rule yields local calendar dates; a start time (minutes after local midnight) in the community's
time zone turns a date into a UTC moment. Reminder offsets are small strings so that a series stores
them as JSON and a captain can type them:

    "3d"        3 days before, at the start time
    "1d@19:00"  the day before at 19:00 (the evening reminder)
    "0d@08:00"  on the day at 08:00 (the morning reminder)
    "2h"        2 hours before the start
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

FREQS = ("once", "weekly", "monthly_nth", "monthly_day")
DEFAULT_REMINDERS = ("3d", "1d@19:00", "0d@08:00")
MAX_REMINDER_DAYS = 14
_OFFSET = re.compile(r"^\s*(?:(\d{1,2})\s*d(?:\s*@?\s*(\d{1,2})[:.：](\d{2}))?|(\d{1,2})\s*h)\s*$", re.I)


@dataclass(frozen=True)
class Rule:
    """How a series repeats. `start` is the first occurrence (and the anchor of every-N-weeks)."""

    freq: str
    start: date
    interval: int = 1  # weeks between occurrences (weekly)
    nth: int | None = None  # 1..4, or -1 for the last weekday of the month (monthly_nth)
    weekday: int | None = None  # 0 Monday .. 6 Sunday (monthly_nth)
    day: int | None = None  # 1..31, clamped to the month's last day (monthly_day)
    until: date | None = None

    def __post_init__(self) -> None:
        if self.freq not in FREQS:
            raise ValueError(f"unknown frequency {self.freq!r}")
        if self.freq == "weekly" and not 1 <= self.interval <= 8:
            raise ValueError("interval must be 1..8 weeks")
        if self.freq == "monthly_nth" and (self.nth not in (1, 2, 3, 4, -1) or self.weekday is None
                                           or not 0 <= self.weekday <= 6):
            raise ValueError("monthly_nth needs nth in 1..4 or -1 and a weekday")
        if self.freq == "monthly_day" and (self.day is None or not 1 <= self.day <= 31):
            raise ValueError("monthly_day needs a day 1..31")

    def dates(self, after: date, until: date) -> Iterator[date]:
        """Occurrence dates d with after <= d <= until (and d >= start, d <= self.until)."""
        last = min(until, self.until) if self.until else until
        first = max(after, self.start)
        if first > last:
            return
        if self.freq == "once":
            if first <= self.start <= last:
                yield self.start
            return
        if self.freq == "weekly":
            step = 7 * self.interval
            skip = max(0, (first - self.start).days + step - 1) // step
            d = self.start + timedelta(days=skip * step)
            while d <= last:
                if d >= first:
                    yield d
                d += timedelta(days=step)
            return
        year, month = first.year, first.month
        while date(year, month, 1) <= last:
            d = self._in_month(year, month)
            if first <= d <= last:
                yield d
            month += 1
            if month == 13:
                year, month = year + 1, 1

    def _in_month(self, year: int, month: int) -> date:
        days = calendar.monthrange(year, month)[1]
        if self.freq == "monthly_day":
            assert self.day is not None
            return date(year, month, min(self.day, days))  # the 31st is the 30th in April, 28/29 in Feb
        assert self.nth is not None and self.weekday is not None
        if self.nth == -1:
            d = date(year, month, days)
            return d - timedelta(days=(d.weekday() - self.weekday) % 7)
        d = date(year, month, 1)
        d += timedelta(days=(self.weekday - d.weekday()) % 7)
        return d + timedelta(weeks=self.nth - 1)

    def next_on_or_after(self, day: date) -> date | None:
        for d in self.dates(day, day + timedelta(days=800)):
            return d
        return None


def nth_of(day: date) -> int:
    """Which weekday of its month a date is (1..5): 12 Dec 2026 is the 2nd Saturday."""
    return (day.day - 1) // 7 + 1


def first_weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def to_utc(day: date, minutes: int, tz: str) -> datetime:
    """A local wall-clock time on a date as an aware UTC datetime. A time in a DST gap (02:30 on the
    spring-forward night) resolves to the clock time after the jump, as people's phones show it."""
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=ZoneInfo(tz))
    return local.astimezone(UTC)


def parse_hhmm(text: str) -> int | None:
    """'9', '9:00', '09.30', '19：00', '930' -> minutes after midnight; None when not a time."""
    t = text.strip().lower().replace("：", ":").replace(".", ":").replace("h", ":")
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?", t) or re.fullmatch(r"(\d{1,2})(\d{2})", t)
    if not m:
        return None
    h, mi = int(m.group(1)), int(m.group(2) or 0)
    if h > 23 or mi > 59:
        return None
    return h * 60 + mi


def fmt_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# ------------------------------------------------------------------------------------- reminders


def parse_offset(text: str) -> str | None:
    """Normalise one reminder offset ('1d 19:00' -> '1d@19:00'); None when it is not one."""
    m = _OFFSET.match(text)
    if not m:
        return None
    if m.group(4) is not None:
        hours = int(m.group(4))
        return f"{hours}h" if 1 <= hours <= 72 else None
    days = int(m.group(1))
    if days > MAX_REMINDER_DAYS:
        return None
    if m.group(2) is None:
        return f"{days}d" if days >= 1 else None
    h, mi = int(m.group(2)), int(m.group(3))
    if h > 23 or mi > 59:
        return None
    return f"{days}d@{h:02d}:{mi:02d}"


def parse_offsets(text: str) -> list[str] | None:
    """A comma/space separated list of offsets, deduplicated; None when any part is not understood."""
    parts = [p for p in re.split(r"[,，;；\n]+", text) if p.strip()]
    if not parts or len(parts) > 5:
        return None
    out: list[str] = []
    for part in parts:
        offset = parse_offset(part)
        if offset is None:
            return None
        if offset not in out:
            out.append(offset)
    return out


def reminder_at(offset: str, day: date, start_minutes: int, tz: str) -> datetime:
    """When a reminder for an occurrence is due, in UTC."""
    if offset.endswith("h"):
        return to_utc(day, start_minutes, tz) - timedelta(hours=int(offset[:-1]))
    days_part, _sep, at = offset.partition("@")
    days = int(days_part.rstrip("d"))
    minutes = start_minutes if not at else int(at[:2]) * 60 + int(at[3:5])
    return to_utc(day - timedelta(days=days), minutes, tz)


__all__ = ["DEFAULT_REMINDERS", "FREQS", "Rule", "first_weekday_on_or_after", "fmt_hhmm", "nth_of",
           "parse_hhmm", "parse_offset", "parse_offsets", "reminder_at", "to_utc"]
