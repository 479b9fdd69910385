"""Daily caps against abuse: how many urgent reports, announcements, invites and relayed answers one
person may make in a day. A cap is a community setting (`community.settings["limits"]`, see
LIMIT_DEFAULTS and the README); the day is the community's local day, so a cap resets at local
midnight. Counts come from the rows already in the database (created today), never from memory, so
every worker and a restart see the same number.

Rules only: the words of a refusal are the handlers' (handlers/errors.py `limit_text`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Community

URGENT_REPORTS = "urgent_reports_per_day"
ANNOUNCEMENTS = "announcements_per_day"
INVITES = "invites_per_day"
ANSWERS = "answers_per_issue_per_day"
RELAYS = "relays_per_day"  # messages a resident sends through the bot (private matters, /contacts)

LIMIT_DEFAULTS: dict[str, int] = {URGENT_REPORTS: 5, ANNOUNCEMENTS: 10, INVITES: 50, ANSWERS: 10, RELAYS: 10}


class DailyLimitReached(Exception):
    """`kind` (one of LIMIT_DEFAULTS) reached `limit` today; it resets at `resets_at` (UTC), the next
    local midnight in `tz`. `now` is when it was refused (for "tomorrow 00:00")."""

    def __init__(self, kind: str, limit: int, resets_at: datetime, tz: str, now: datetime) -> None:
        super().__init__(kind)
        self.kind = kind
        self.limit = limit
        self.resets_at = resets_at
        self.tz = tz
        self.now = now


def daily_limit(community: Community | None, kind: str) -> int:
    """The community's cap for `kind`: a whole number ≥ 0 in settings["limits"][kind] (0 = no cap),
    else the default. A malformed value falls back to the default rather than lifting the cap."""
    raw: Any = ((community.settings or {}).get("limits") if community is not None else None) or {}
    value = raw.get(kind) if isinstance(raw, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return LIMIT_DEFAULTS[kind]


def day_window(now: datetime, tz: str) -> tuple[datetime, datetime]:
    """(start of today, start of tomorrow) in the community's time zone, as aware datetimes."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    start = datetime.combine(today, time(0), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


async def enforce_daily(session: AsyncSession, community: Community, kind: str, now: datetime,
                        count_since: Callable[[datetime], Select[Any]]) -> None:
    """Raise DailyLimitReached when `count_since(start of today)` (a SELECT of one count) has already
    reached the cap. Call it before adding today's next row, in the same transaction."""
    limit = daily_limit(community, kind)
    if limit == 0:
        return
    start, end = day_window(now, community.timezone)
    done = int((await session.execute(count_since(start))).scalar_one() or 0)
    if done >= limit:
        raise DailyLimitReached(kind, limit, end, community.timezone, now)


__all__ = ["ANNOUNCEMENTS", "ANSWERS", "INVITES", "LIMIT_DEFAULTS", "RELAYS", "URGENT_REPORTS", "DailyLimitReached",
           "daily_limit", "day_window", "enforce_daily"]
