"""Enqueueing side of the persistent outbox. Services only enqueue; bot/sender.py delivers.

Every message the bot sends on its own is written here in the same transaction as the change that
caused it, under a deduplication key unique per kind, subject and recipient, so enqueueing twice
(a double tick, a retried update) is harmless. Quiet hours defer non-urgent private messages; an item
whose moment has passed expires instead of arriving late.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from models import ChatState, Member, OutboxItem, OutboxStatus

# One button: (text, callback_data) or {"text": ..., "url": ...}
Button = tuple[str, str] | dict[str, str]
Buttons = Sequence[Sequence[Button]]

# Hooks run by the sender, in the transaction that marks an item sent: kind -> hook(session, item).
SentHook = Callable[[AsyncSession, OutboxItem], Awaitable[None]]
REARMED = "re-armed while sending"  # an edit changed while the sender held its older text
SENT_HOOKS: dict[str, SentHook] = {}


def on_sent(kind: str) -> Callable[[SentHook], SentHook]:
    def register(fn: SentHook) -> SentHook:
        SENT_HOOKS[kind] = fn
        return fn

    return register


def buttons_payload(buttons: Buttons | None) -> list[list[Any]] | None:
    if not buttons:
        return None
    rows: list[list[Any]] = []
    for row in buttons:
        out: list[Any] = []
        for b in row:
            out.append(dict(b) if isinstance(b, dict) else [str(b[0]), str(b[1])])
        rows.append(out)
    return rows


@dataclass(frozen=True)
class QuietHours:
    start: int  # minutes after local midnight
    end: int
    tz: ZoneInfo

    def release_time(self, now: datetime) -> datetime | None:
        """When a message due `now` may go out, or None if `now` is outside quiet hours."""
        local = now.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        if self.start == self.end:
            return None
        inside = (self.start <= minute < self.end) if self.start < self.end else (
            minute >= self.start or minute < self.end)
        if not inside:
            return None
        end_local = datetime.combine(local.date(), time(self.end // 60, self.end % 60), tzinfo=self.tz)
        if end_local <= local:
            end_local = datetime.combine(local.date() + timedelta(days=1),
                                         time(self.end // 60, self.end % 60), tzinfo=self.tz)
        return end_local.astimezone(now.tzinfo)


class Outbox:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    async def enqueue(
        self,
        *,
        key: str,
        kind: str,
        chat_id: int,
        text: str | None = None,
        photo: str | dict[str, Any] | None = None,  # a file_id, or {"b64"|"path": ...} for a made file
        photos: Sequence[str] | None = None,
        document: dict[str, Any] | None = None,
        buttons: Buttons | None = None,
        reply_to: int | None = None,
        member_id: int | None = None,
        community_id: int | None = None,
        urgent: bool = False,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
        batch: str | None = None,
        quiet: QuietHours | None = None,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Write one outbox row unless its key exists. Returns True when a row was added."""
        now = self.clock()
        due = max(not_before or now, now)
        deferred = False
        if quiet is not None and not urgent and chat_id > 0:
            release = quiet.release_time(due)
            if release is not None:
                due, deferred = release, True
        payload: dict[str, Any] = {"method": "message", "text": text}
        if photos and len(photos) > 1:
            payload = {"method": "album", "photos": list(photos)[:10], "caption": text}
        elif photos or photo:
            payload = {"method": "photo", "photo": photo or next(iter(photos or [])), "caption": text}
        elif document is not None:
            payload = {"method": "document", "document": document, "caption": text}
        if reply_to:
            payload["reply_to"] = reply_to
        markup = buttons_payload(buttons)
        if markup:
            payload["buttons"] = markup
        if extra:
            payload.update(extra)
        values = dict(
            dedup_key=key[:200], kind=kind, chat_id=chat_id, member_id=member_id,
            community_id=community_id, payload=payload, urgent=urgent, batch=batch,
            status=OutboxStatus.PENDING, not_before=due, deferred=deferred, expires_at=expires_at,
            created_at=now, attempts=0,
        )
        return await self._insert_ignore(values)

    async def enqueue_edit(
        self, *, key: str, kind: str, chat_id: int, message_id: int, text: str,
        caption: bool = False, buttons: Buttons | None = None, community_id: int | None = None,
        delay: timedelta = timedelta(seconds=0), urgent: bool = False,
    ) -> None:
        """Edit a message in place, last write wins: a pending edit with the same key is replaced, a
        sent one is re-armed. `delay` coalesces rapid changes (Telegram allows ~20 edits/min/group).
        `urgent` lets a coalesced live count overtake a long batch (else it waits behind every message
        queued before it: a 3,000-resident reminder held the residents' chat count for two minutes)."""
        now = self.clock()
        payload: dict[str, Any] = {"method": "edit", "message_id": message_id, "text": text,
                                   "caption": caption, "buttons": buttons_payload(buttons) or []}
        existing = (await self.session.execute(
            select(OutboxItem).where(OutboxItem.dedup_key == key[:200]))).scalar_one_or_none()
        if existing is None:
            await self._insert_ignore(dict(
                dedup_key=key[:200], kind=kind, chat_id=chat_id, payload=payload,
                community_id=community_id, status=OutboxStatus.PENDING, not_before=now + delay,
                created_at=now, attempts=0, urgent=urgent, deferred=False))
            return
        # A pending edit keeps its due time, also once it is due and waits to be claimed: pushing it back
        # on every change starved it while changes kept coming (17 taps a second: two edits in two minutes).
        keep_due = existing.status == OutboxStatus.PENDING
        existing.payload = payload
        existing.chat_id = chat_id
        existing.urgent = urgent
        if existing.status == OutboxStatus.SENDING:
            # The sender holds the older text: it puts the row back instead of marking it sent
            # (bot/sender.py, _record), so this newer text still goes out, after `delay`.
            existing.last_error = REARMED
            existing.not_before = now + delay
        else:
            existing.status = OutboxStatus.PENDING
            existing.attempts = 0
            existing.not_before = existing.not_before if keep_due else now + delay
            existing.last_error = None

    async def _insert_ignore(self, values: dict[str, Any]) -> bool:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        ins: Any = postgresql.insert(OutboxItem) if dialect == "postgresql" else sqlite.insert(OutboxItem)
        stmt = ins.values(**values).on_conflict_do_nothing(index_elements=["dedup_key"])
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def notify(
        self, member: Member, *, key: str, kind: str, text: str | None = None, tz: str | None = None,
        **kwargs: Any,
    ) -> bool:
        """Enqueue a private message to a member, honouring quiet hours and erased data."""
        if member.data_deleted_at is not None:
            return False
        quiet = None
        if member.quiet_start is not None and member.quiet_end is not None:
            quiet = QuietHours(member.quiet_start, member.quiet_end, ZoneInfo(tz or "UTC"))
        return await self.enqueue(key=key, kind=kind, chat_id=member.telegram_id, text=text,
                                  member_id=member.id, quiet=quiet, **kwargs)

    async def cancel(self, key_prefix: str) -> int:
        """Drop pending items whose key starts with a prefix (a cancelled shift's reminders)."""
        result = await self.session.execute(
            update(OutboxItem)
            .where(OutboxItem.dedup_key.startswith(key_prefix, autoescape=True),
                   OutboxItem.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.EXPIRED, last_error="cancelled"))
        return int(getattr(result, "rowcount", 0) or 0)

    async def batch_report(self, batch: str) -> dict[str, int]:
        """Delivery figures of a batch (an announcement): sent / pending / deferred / failed / expired."""
        rows = (await self.session.execute(
            select(OutboxItem.status, OutboxItem.deferred, OutboxItem.last_error)
            .where(OutboxItem.batch == batch))).all()
        report = {"total": 0, "sent": 0, "pending": 0, "deferred": 0, "failed": 0, "blocked": 0,
                  "expired": 0}
        for status, deferred, error in rows:
            report["total"] += 1
            if status == OutboxStatus.SENT:
                report["sent"] += 1
            elif status == OutboxStatus.FAILED:
                report["failed"] += 1
                if error and ("blocked" in error or "not found" in error or "kicked" in error):
                    report["blocked"] += 1
            elif status == OutboxStatus.EXPIRED:
                report["expired"] += 1
            elif deferred:
                report["deferred"] += 1
            else:
                report["pending"] += 1
        return report

    async def unreachable(self, chat_id: int) -> str | None:
        state = await self.session.get(ChatState, chat_id)
        return state.unreachable if state else None


async def chat_alive(session: AsyncSession, chat_id: int) -> None:
    """The chat spoke to the bot (a person unblocked it and wrote, a group re-added it): sending to
    it works again, so forget an earlier permanent failure."""
    await session.execute(update(ChatState).where(
        ChatState.chat_id == chat_id, ChatState.unreachable.is_not(None)).values(unreachable=None))
