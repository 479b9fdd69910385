"""The rules every part of triage shares: the limits, the community's settings (escalation, the three
ways, verification), deadlines and dates, and what an action returns. No words: the labels of reasons,
ways and levels are in bot/notices/triage.py."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.services.lifecycle import WORKABLE
from bot.services.reporting import category
from models import Community, Issue, IssueStatus

ESCALATION_DEFAULTS: dict[str, float] = {"accept_hours": 24, "urgent_accept_hours": 2, "level_days": 7}
# Deadlines fall at the end of a working day, local time; reminders go out in the morning.
DEADLINE_HOUR = 18
REMIND_HOUR = 8
AUTO_CLOSE_AFTER = timedelta(days=7)
TOP_LEVEL = 2  # 0 building captains, 1 area head, 2 office staff
REJECT_REASONS = ("not_a_problem", "not_ours", "duplicate")
TRIAGE_KINDS = ("office", "joint", "residents")
MAX_NOTE = 1000
QUEUE_PAGE = 5
# A resolved issue still waits for the reporter, and a verifying one for the office: both stay in the queue.
QUEUE_STATUSES = (*WORKABLE, *IssueStatus.AWAITING)
VERIFY_DEFAULT = "default"
# The construction category (违章搭建) always needs a look on site under the default rule.
VERIFY_CATEGORIES = ("construction",)


class InvalidInput(ValueError):
    """Input a person typed that cannot be used; `reason` picks the one-line explanation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Outcome:
    issue: Issue
    changed: bool
    # For duplicates: the original the followers were merged into.
    other: Issue | None = None


@dataclass
class QueuePage:
    issues: list[Issue]
    page: int
    pages: int
    total: int
    categories: list[str] = field(default_factory=list)


def verification_required(community: Community, issue: Issue) -> bool:
    """Whether a confirmed fix waits for the office's check before it is closed out (see module doc)."""
    raw = (community.settings or {}).get("verification", VERIFY_DEFAULT)
    if raw == "none":
        return False
    if raw == "all":
        return True
    if isinstance(raw, list):
        return issue.category in {str(k) for k in raw}
    return bool(issue.urgent or category(community, issue.category).urgent
                or issue.category in VERIFY_CATEGORIES or issue.assigned_to_office
                or issue.escalation_level >= TOP_LEVEL or issue.triage == "office")




TRIAGE_DEFAULTS: dict[str, Any] = {"captains_decide": False, "office_days": 3}


def triage_settings(community: Community) -> dict[str, Any]:
    """`community.settings["triage"]`: captains_decide (bool), office_days (the office's deadline)."""
    raw = (community.settings or {}).get("triage") or {}
    out = dict(TRIAGE_DEFAULTS)
    if isinstance(raw, dict):
        if isinstance(raw.get("captains_decide"), bool):
            out["captains_decide"] = raw["captains_decide"]
        days = raw.get("office_days")
        if isinstance(days, int) and not isinstance(days, bool) and 0 <= days <= 60:
            out["office_days"] = days
    return out


def escalation_settings(community: Community) -> dict[str, float]:
    raw = (community.settings or {}).get("escalation") or {}
    out = dict(ESCALATION_DEFAULTS)
    for key in out:
        value = raw.get(key) if isinstance(raw, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            out[key] = float(value)
    return out


def end_of_day(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(DEADLINE_HOUR), tzinfo=ZoneInfo(tz)).astimezone(UTC)


# Work per tick is bounded so that a backlog never loads the whole ledger; the rest waits a tick.
TICK_BATCH = 2000


def deadline_after_days(now: datetime, days: int, tz: str) -> datetime:
    """`days` working days from now, at the end of that local day (+0 d means today 18:00)."""
    local = now.astimezone(ZoneInfo(tz))
    return end_of_day(local.date() + timedelta(days=days), tz)


def parse_date(text: str, now: datetime, tz: str) -> date:
    """A date typed by a person: 2026-11-25, 2026/11/25, 11-25, 25.11, 25.11.2026, 11月25日."""
    s = text.strip().replace("年", "-").replace("月", "-").replace("日", "").replace("号", "")
    today = now.astimezone(ZoneInfo(tz)).date()
    m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", s)
    try:
        if m:
            d = date(int(m[1]), int(m[2]), int(m[3]))
        elif m := re.fullmatch(r"(\d{1,2})[-/](\d{1,2})", s):
            d = date(today.year, int(m[1]), int(m[2]))
            if d < today:
                d = date(today.year + 1, d.month, d.day)
        elif m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?", s):
            d = date(int(m[3]) if m[3] else today.year, int(m[2]), int(m[1]))
            if not m[3] and d < today:
                d = date(today.year + 1, d.month, d.day)
        else:
            raise InvalidInput("date_format")
    except ValueError as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput("date_format") from None
    if d < today:
        raise InvalidInput("date_past")
    if d > today + timedelta(days=366):
        raise InvalidInput("date_far")
    return d



def category_days(community: Community | None, key: str) -> int:
    return int(category(community, key).deadline_days)
