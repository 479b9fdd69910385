"""Periods and schedules of the digests: which days a daily digest, a weekly summary and a monthly report
cover, and when each is due (in the community's time zone). Plain dates, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from models import Community

KINDS = ("daily", "weekly", "monthly")
DEFAULT_DIGEST_TIME = "08:00"
DEFAULT_WEEKLY = (4, "12:00")  # Friday 12:00 (每周五中午12:00前报送)
DEFAULT_MONTHLY_TIME = "09:00"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

def parse_request(text: str, today: date) -> tuple[str, date] | None:
    """What /digest was asked for: nothing (today), yesterday, week, month, or a date such as
    2026-11-18, 11-18, 11/18 or 11月18日. None when it is none of these."""
    raw = text.strip().lower()
    if raw in ("", "today", "今天", "今日"):
        return "daily", today
    if raw in ("yesterday", "昨天", "昨日"):
        return "daily", today - timedelta(days=1)
    if raw in ("week", "weekly", "周", "周报", "本周"):
        return "weekly", today
    if raw in ("month", "monthly", "月", "月报", "本月"):
        return "monthly", today
    cleaned = raw.replace("/", "-").replace(".", "-").replace("年", "-").replace("月", "-").rstrip("日号")
    parts = cleaned.split("-")
    try:
        if len(parts) == 3:
            return "daily", date(int(parts[0]), int(parts[1]), int(parts[2]))
        if len(parts) == 2:
            candidate = date(today.year, int(parts[0]), int(parts[1]))
            if candidate > today:  # "12-30" in January means last December
                candidate = candidate.replace(year=today.year - 1)
            return "daily", candidate
    except ValueError:
        return None
    return None


def parse_hhmm(value: Any, default: str) -> time:
    try:
        hours, minutes = str(value or default).strip().split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        hours, minutes = default.split(":")
        return time(int(hours), int(minutes))


def weekly_schedule(settings: dict[str, Any]) -> tuple[int, time]:
    """(weekday, time) of the weekly report: settings weekly_time "fri 12:00" (or "12:00" with
    weekly_day "fri"); Friday 12:00 by default."""
    raw = str(settings.get("weekly_time") or "").strip().lower()
    day_name = str(settings.get("weekly_day") or "").strip().lower()[:3]
    clock_part = raw
    if raw and raw[:3] in WEEKDAYS:
        day_name, clock_part = raw[:3], raw.split(maxsplit=1)[1] if " " in raw else ""
    weekday = WEEKDAYS.index(day_name) if day_name in WEEKDAYS else DEFAULT_WEEKLY[0]
    return weekday, parse_hhmm(clock_part or None, DEFAULT_WEEKLY[1])


def period_of(kind: str, day: date, settings: dict[str, Any] | None = None) -> tuple[date, date]:
    """The period (first, last local day) of a kind that contains `day`. A daily digest's period is its
    own date; a week starts on the weekly report's weekday (a Friday report covers the 7 days before
    it); a month is the calendar month."""
    if kind == "daily":
        return day, day
    if kind == "weekly":
        weekday, _t = weekly_schedule(settings or {})
        start = day - timedelta(days=(day.weekday() - weekday) % 7)
        return start, start + timedelta(days=6)
    if kind == "monthly":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return start, following - timedelta(days=1)
    raise ValueError(kind)


def send_moment(kind: str, start: date, community: Community) -> datetime:
    """When the digest of the period starting on `start` is due (UTC)."""
    tz = ZoneInfo(community.timezone)
    settings = community.settings or {}
    if kind == "daily":
        at = parse_hhmm(settings.get("digest_time"), DEFAULT_DIGEST_TIME)
        return datetime.combine(start, at, tz).astimezone(UTC)
    if kind == "weekly":
        _wd, at = weekly_schedule(settings)
        return datetime.combine(start + timedelta(days=7), at, tz).astimezone(UTC)
    at = parse_hhmm(settings.get("monthly_time"), DEFAULT_MONTHLY_TIME)
    _s, last = period_of("monthly", start)
    return datetime.combine(last + timedelta(days=1), at, tz).astimezone(UTC)


def previous_period(kind: str, start: date, settings: dict[str, Any] | None = None) -> tuple[date, date]:
    return period_of(kind, start - timedelta(days=1), settings)


def local_bounds(tz: ZoneInfo, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC [start, end) of local days first..last inclusive."""
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end
