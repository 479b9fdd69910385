"""The desk's Settings page rules: which community settings the office may change there, how a typed value
is read and checked, and the audit trail of every change (who, when, before and after)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from bot.services.access import Actor, Place
from models import Community, Member
from models.web import SettingChange


class SettingError(ValueError):
    """A value the Settings page refuses; `reason` is a key the page words in the person's language."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The scalar settings the desk edits: name -> (where it lives in community.settings, kind).
SCALARS: dict[str, tuple[tuple[str, ...], str]] = {
    "escalation.accept_hours": (("escalation", "accept_hours"), "hours"),
    "escalation.urgent_accept_hours": (("escalation", "urgent_accept_hours"), "hours"),
    "escalation.level_days": (("escalation", "level_days"), "days"),
    "digest_time": (("digest_time",), "time"),
    "weekly_day": (("weekly_day",), "weekday"),
    "weekly_time": (("weekly_time",), "time"),
    "monthly_time": (("monthly_time",), "time"),
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    who: str
    key: str
    before: str
    after: str


def _parse_scalar(kind: str, raw: str) -> object:
    raw = raw.strip()
    if kind == "hours":
        try:
            value = float(raw)
        except ValueError:
            raise SettingError("number") from None
        if not 0.5 <= value <= 720:
            raise SettingError("hours_range")
        return int(value) if value.is_integer() else value
    if kind == "days":
        if not raw.isdigit() or not 1 <= int(raw) <= 60:
            raise SettingError("days_range")
        return int(raw)
    if kind == "time":
        import re

        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", raw):
            raise SettingError("time")
        hours, minutes = raw.split(":")
        return f"{int(hours):02d}:{minutes}"
    if kind == "weekday":
        if raw.lower()[:3] not in WEEKDAYS:
            raise SettingError("weekday")
        return raw.lower()[:3]
    raise SettingError("unknown")


class CommunitySettings:
    """The Settings page's rules: staff change categories, escalation hours and report times; each change
    is validated, applied at once (the next report, tick and digest read community.settings) and recorded
    in the audit list (who, when, before → after)."""

    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def _community(self, actor: Actor, community_id: int) -> Community:
        from bot.services.access import require

        require(actor, "community_settings", Place(community_id))
        community = await self.session.get(Community, community_id, with_for_update=True)
        if community is None:
            raise LookupError("community")
        return community

    def values(self, community: Community) -> dict[str, object]:
        from bot.services.digests import DEFAULT_DIGEST_TIME, DEFAULT_MONTHLY_TIME, DEFAULT_WEEKLY
        from bot.services.triage import escalation_settings

        esc = escalation_settings(community)
        raw = community.settings or {}
        return {
            "escalation.accept_hours": _num(esc["accept_hours"]),
            "escalation.urgent_accept_hours": _num(esc["urgent_accept_hours"]),
            "escalation.level_days": _num(esc["level_days"]),
            "digest_time": raw.get("digest_time") or DEFAULT_DIGEST_TIME,
            "weekly_day": raw.get("weekly_day") or WEEKDAYS[DEFAULT_WEEKLY[0]],
            "weekly_time": raw.get("weekly_time") or DEFAULT_WEEKLY[1],
            "monthly_time": raw.get("monthly_time") or DEFAULT_MONTHLY_TIME,
        }

    async def change_category(self, actor: Actor, community_id: int, key: str, *, en: str, zh: str, emoji: str,
                              deadline_days: str, urgent: bool) -> bool:
        from bot.services.reporting import categories

        community = await self._community(actor, community_id)
        current = {c.key: c for c in categories(community)}
        if key not in current:
            raise SettingError("unknown")
        en, zh, emoji = en.strip(), zh.strip(), emoji.strip()
        if not en or not zh or len(en) > 60 or len(zh) > 60:
            raise SettingError("name")
        if len(emoji) > 8:
            raise SettingError("emoji")
        days = _parse_scalar("days", deadline_days)
        listed = [dict(key=c.key, en=c.en, zh=c.zh, emoji=c.emoji, deadline_days=c.deadline_days, urgent=c.urgent)
                  for c in current.values()]
        entry = next(e for e in listed if e["key"] == key)
        before = dict(entry)
        entry.update(en=en, zh=zh, emoji=emoji, deadline_days=days, urgent=urgent)
        if entry == before:
            return False
        # A new dict: the JSON column notices reassignment, not mutation in place.
        community.settings = {**(community.settings or {}), "categories": listed}
        changed = {k: v for k, v in entry.items() if before.get(k) != v}
        self._record(community_id, actor, f"categories.{key}", {k: before[k] for k in changed}, changed)
        return True

    async def change(self, actor: Actor, community_id: int, name: str, raw: str) -> bool:
        if name not in SCALARS:
            raise SettingError("unknown")
        path, kind = SCALARS[name]
        value = _parse_scalar(kind, raw)
        community = await self._community(actor, community_id)
        before = self.values(community)[name]
        if before == value:
            return False
        settings = {**(community.settings or {})}
        if len(path) == 2:
            settings[path[0]] = {**(settings.get(path[0]) or {}), path[1]: value}
        else:
            settings[path[0]] = value
        community.settings = settings
        self._record(community_id, actor, name, before, value)
        return True

    def _record(self, community_id: int, actor: Actor, key: str, before: object, after: object) -> None:
        import json

        self.session.add(SettingChange(community_id=community_id, member_id=actor.member_id, key=key,
                                       before=json.dumps(before, ensure_ascii=False)[:2000],
                                       after=json.dumps(after, ensure_ascii=False)[:2000], at=self.clock()))

    async def audit(self, community_id: int, limit: int = 50) -> list[AuditLine]:
        rows = (await self.session.execute(
            select(SettingChange, Member).outerjoin(Member, Member.id == SettingChange.member_id)
            .where(SettingChange.community_id == community_id)
            .order_by(SettingChange.at.desc(), SettingChange.id.desc()).limit(limit))).all()
        return [AuditLine(c.at, m.display_name if m is not None else "—", c.key, _shown(c.before), _shown(c.after))
                for c, m in rows]


def _shown(stored: str | None) -> str:
    """An audit value as a person reads it: `deadline_days: 5, urgent: true` rather than JSON."""
    import json

    try:
        value = json.loads(stored or "null")
    except ValueError:
        return stored or ""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {json.dumps(v, ensure_ascii=False).strip(chr(34))}" for k, v in value.items())
    return "—" if value is None else json.dumps(value, ensure_ascii=False).strip('"')


def _num(value: float) -> object:
    return int(value) if float(value).is_integer() else value
