"""Patrol time and input rules: local wall times in the community's zone (DST gaps and folds), the
limits of dropping and checking in, and the parsers of what planners type. No words here: the names of days
and months are in bot/notices/patrols.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from math import asin, cos, radians, sin, sqrt
from zoneinfo import ZoneInfo

from models import AssignmentStatus

DROP_LIMIT = timedelta(hours=12)
CHECKIN_EARLY = timedelta(minutes=30)
NO_CHECKIN_AFTER = timedelta(minutes=15)
AUTO_CLOSE_AFTER = timedelta(hours=2)
DEFAULT_WEEKS = 4
MAX_WEEKS = 12
ROSTER_HOUR = 8  # Monday morning, local time; a community may set settings.patrol_roster_hour
CHECKPOINT_RADIUS_M = 150  # a shared location this close to a checkpoint counts as being at it
HELD = (AssignmentStatus.ACTIVE, AssignmentStatus.INVITED)


class PatrolError(Exception):
    """A rule said no. reason: full | too_late | started | cancelled | already | not_on_shift | overlap |
    gone | own | not_volunteer | not_checked_in | window | invalid."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve_local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """A local wall time as UTC. A time in a DST gap moves forward to the next valid minute (01:30
    on London's spring-forward day is 02:00 BST); an ambiguous one takes the first occurrence."""
    naive = datetime.combine(day, time(minute // 60, minute % 60))
    for step in range(0, 24 * 60):
        candidate = naive + timedelta(minutes=step)
        aware = candidate.replace(tzinfo=tz, fold=0)
        back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if back == candidate:  # exists (fold=0 is the first of two when ambiguous)
            return aware.astimezone(UTC)
    raise ValueError("no valid local time")  # pragma: no cover - no zone skips a whole day


def shift_window(day: date, start_minute: int, end_minute: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end in UTC; an end at or before the start is on the next day."""
    start = resolve_local(day, start_minute, tz)
    end_day = day + timedelta(days=1) if end_minute <= start_minute else day
    end = resolve_local(end_day, end_minute, tz)
    return start, max(end, start + timedelta(minutes=1))


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_time(text: str) -> int | None:
    """'19:00', '19.00', '1900', '19', '19：00' -> minutes after midnight."""
    t = text.strip().replace("：", ":").replace(".", ":").replace(" ", "")
    if t.isdigit() and len(t) in (3, 4):
        t = f"{t[:-2]}:{t[-2:]}"
    parts = t.split(":")
    if len(parts) == 1:
        parts.append("00")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    h, m = int(parts[0]), int(parts[1])
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return h * 60 + m


def parse_people(text: str) -> tuple[int, int] | None:
    """'2-4', '2–4', '2 to 4', '2~4', '3' -> (min, max)."""
    t = text.strip().lower().replace("–", "-").replace("—", "-").replace("~", "-").replace("～", "-")
    t = t.replace("to", "-").replace("至", "-").replace("到", "-").replace(" ", "")
    parts = [p for p in t.split("-") if p]
    if not parts or len(parts) > 2 or not all(p.isdigit() for p in parts):
        return None
    low, high = int(parts[0]), int(parts[-1])
    if not (1 <= low <= high <= 50):
        return None
    return low, high


def parse_date(text: str, today: date) -> date | None:
    """'2026-12-31', '12-31', '31.12', '12/31' -> a date today or later (the year rolls over)."""
    t = text.strip().replace("/", "-").replace(".", "-").replace("月", "-").replace("日", "")
    parts = [p for p in t.split("-") if p]
    try:
        if len(parts) == 3:
            return date(int(parts[0]), int(parts[1]), int(parts[2]))
        if len(parts) == 2:
            a, b = int(parts[0]), int(parts[1])
            month, day_ = (a, b) if a <= 12 else (b, a)
            d = date(today.year, month, day_)
            return d if d >= today else date(today.year + 1, month, day_)
    except ValueError:
        return None
    return None


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = radians(lat1), radians(lat2)
    a = sin((p2 - p1) / 2) ** 2 + cos(p1) * cos(p2) * sin(radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_000 * asin(sqrt(a))
