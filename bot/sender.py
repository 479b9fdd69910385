"""Delivering side of the outbox: claims due rows and sends them at Telegram's pace.

Limits honoured: SEND_RATE overall, 1 message/s per private chat, 20/min per group, and every 429's
retry_after. Rows are claimed with one `UPDATE … RETURNING` (atomic on SQLite and PostgreSQL) under a
lease, one row per chat at a time (a chat's urgent rows before its others, each kind in order; chats with
urgent rows first, then chats with a digest due, then the rest), so
several instances share the work and a dead instance's claims are taken over when the lease runs out.
Results are written back in small batches. Delivery is at-least-once: a crash repeats at most the sends
in flight at that moment.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
import uuid
from collections import deque
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)
from aiogram.types.media_union import MediaUnion
from sqlalchemy import Integer, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.services.chats import migrate_chat
from bot.services.outbox import REARMED, SENT_HOOKS
from models import ChatState, OutboxItem, OutboxStatus

if TYPE_CHECKING:
    from aiogram.types import MediaUnion  # the album items' type, as send_media_group declares it

log = logging.getLogger(__name__)

# How long a claimed row stays with the instance that claimed it; after that another instance (or this
# one restarted after a crash) takes it over. OUTBOX_LEASE_SECONDS shortens it for crash tests.
LEASE = timedelta(seconds=float(os.environ.get("OUTBOX_LEASE_SECONDS", "120")))
MAX_ATTEMPTS = 12
PRIVATE_INTERVAL = 1.0  # Telegram: about one message per second to one chat
GROUP_INTERVAL = 3.0  # 20 messages a minute to one group
DIGEST_KIND_PREFIX = "digest_"  # outbox kinds digest_daily, digest_weekly, digest_monthly (bot/services/digests.py)
PERMANENT_MARKERS = ("blocked", "chat not found", "kicked", "deactivated", "user not found",
                     "not enough rights", "have no rights", "bot is not a member", "peer_id_invalid",
                     "group chat was upgraded")


def markup_from(buttons: list[list[Any]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    rows = []
    for row in buttons:
        out = []
        for b in row:
            if isinstance(b, dict):
                out.append(InlineKeyboardButton(**b))
            else:
                out.append(InlineKeyboardButton(text=b[0], callback_data=b[1]))
        rows.append(out)
    return InlineKeyboardMarkup(inline_keyboard=rows)


class RateLimiter:
    """The overall rate as a virtual schedule (GCRA): send n is due at start + n/rate.

    A token bucket that only refills to a small capacity loses every sleep's overshoot (at 28/s it
    delivered ~26.5/s); a schedule that advances by exact intervals does not. `slack` bounds the
    catch-up burst after a late wake-up, so that any sliding second holds at most rate + slack + 1
    sends (Telegram counts a sliding second: a bigger burst at SEND_RATE 28 meant a stream of 429s)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.interval = 1.0 / rate
        # Half a send at Telegram-like rates; a few ms worth at high rates so the loop need not sleep
        # for every single send.
        self.slack = max(0.5, rate / 50 - 1) * self.interval
        self.next_at = time.monotonic()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                self.next_at = max(self.next_at, now - self.slack)
                wait = self.next_at - now
                if wait > 0:
                    await asyncio.sleep(wait)
                self.next_at += self.interval
                return

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        sessions: async_sessionmaker[AsyncSession],
        *,
        rate: float = 28.0,
        clock: Clock = system_clock,
        concurrency: int = 64,
        poll_interval: float = 0.5,
        instance: str | None = None,
        private_interval: float = PRIVATE_INTERVAL,
        group_interval: float = GROUP_INTERVAL,
    ) -> None:
        self.bot = bot
        self.sessions = sessions
        self.clock = clock
        self.limiter = RateLimiter(rate)
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.instance = instance or uuid.uuid4().hex[:12]
        self.private_interval = private_interval
        self.group_interval = group_interval
        self.next_allowed: dict[int, float] = {}
        self.unreachable: set[int] = set()
        self.in_flight: set[int] = set()  # chat ids with a claimed row here
        self.results: deque[tuple[OutboxItem, str, dict[str, Any]]] = deque()
        self.stats = {"sent": 0, "retry_after": 0, "failed": 0, "errors": 0, "expired": 0}
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._recent_429: deque[float] = deque(maxlen=8)

    # ------------------------------------------------------------------ lifecycle

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with self.sessions() as session:
            rows = (await session.execute(
                select(ChatState.chat_id).where(ChatState.unreachable.is_not(None)))).scalars()
            self.unreachable = set(rows)
        flusher = asyncio.create_task(self._flush_loop())
        try:
            while not self._stop.is_set():
                try:
                    claimed = await self.claim_once()
                except Exception:
                    # The database away for a moment, a deadlock, a failover: never stop delivering.
                    log.exception("claiming outbox items failed; retrying")
                    claimed = 0
                if not claimed:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                    except TimeoutError:
                        pass
        finally:
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=15)
            self._stop.set()
            await flusher
            await self._flush()

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def drain(self, limit_seconds: float = 30.0) -> None:
        """Send everything due now and return (tests, CLI commands)."""
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            claimed = await self.claim_once()
            if self._tasks:
                await asyncio.wait(self._tasks)
            await self._flush()
            if not claimed and not self._tasks:
                return

    # ------------------------------------------------------------------ claiming

    async def claim_once(self, limit: int = 200) -> int:
        now = self.clock()
        free = self.concurrency * 4 - len(self.in_flight)
        if free <= 0:
            return 0
        limit = min(limit, free)
        async with self.sessions() as session:
            busy = select(OutboxItem.chat_id).where(
                OutboxItem.status == OutboxStatus.SENDING, OutboxItem.lease_until > now)
            # A chat whose head item waits for a retry (429, 5xx, network) keeps its order: newer
            # items of that chat wait too. Deferred items (quiet hours) carry no error and block nothing.
            waiting = select(OutboxItem.chat_id).where(
                OutboxItem.status == OutboxStatus.PENDING, OutboxItem.last_error.is_not(None),
                OutboxItem.not_before > now)
            due = or_(
                and_(OutboxItem.status == OutboxStatus.PENDING, OutboxItem.not_before <= now),
                and_(OutboxItem.status == OutboxStatus.SENDING, OutboxItem.lease_until <= now),
            )
            # Chats this instance is still sending to, or has sent to but not yet recorded: never claim
            # them again here, even when a slow moment let their lease run out (that would send twice).
            mine = list(self.in_flight | {result[0].chat_id for result in self.results})
            # One row per chat: its oldest due urgent row if it has one (a fire-lane card must not wait
            # behind two dozen relayed answers to the same group), else its oldest due row; so within
            # one urgency a chat's messages stay in order. Across chats: urgent first, then chats with a
            # digest waiting (at 08:00 a thousand offices' digests must not queue behind the morning's
            # announcements and relays), then the rest, oldest first.
            first_per_chat = (
                select(func.coalesce(func.min(case((OutboxItem.urgent.is_(True), OutboxItem.id))),
                                     func.min(OutboxItem.id)))
                .where(due, OutboxItem.chat_id.not_in(busy), OutboxItem.chat_id.not_in(waiting),
                       OutboxItem.chat_id.not_in(mine))
                .group_by(OutboxItem.chat_id)
                .order_by(func.max(OutboxItem.urgent.cast(Integer)).desc(),
                          func.max(case((OutboxItem.kind.startswith(DIGEST_KIND_PREFIX, autoescape=True), 1),
                                        else_=0)).desc(),
                          func.min(OutboxItem.id))
                .limit(limit)
            )
            # Several instances claim at once: lock the chosen rows in id order and skip those another
            # instance holds (PostgreSQL; SQLite has one writer and ignores the clause). Without it, two
            # claims locking overlapping rows in different orders deadlocked.
            claimable = (
                select(OutboxItem.id).where(OutboxItem.id.in_(first_per_chat), due)
                .order_by(OutboxItem.id).with_for_update(skip_locked=True)
            )
            stmt = (
                update(OutboxItem)
                .where(OutboxItem.id.in_(claimable), due)
                .values(status=OutboxStatus.SENDING, claimed_by=self.instance, lease_until=now + LEASE,
                        attempts=OutboxItem.attempts + 1)
                .returning(OutboxItem)
                .execution_options(synchronize_session=False)
            )
            # RETURNING keeps no order (PostgreSQL returns rows as it updated them): start the sends in
            # the order the claim chose them — urgent, then digests, then the oldest.
            items = sorted((await session.execute(stmt)).scalars(), key=lambda i: (
                not i.urgent, not (i.kind or "").startswith(DIGEST_KIND_PREFIX), i.id))
            if items:  # in the claim's transaction: on SQLite a second one would take the write lock again
                await self._refresh_unreachable(session, {item.chat_id for item in items})
            await session.commit()
        for item in items:
            self.in_flight.add(item.chat_id)
            task = asyncio.create_task(self._deliver(item))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(items)

    async def _refresh_unreachable(self, session: AsyncSession, chat_ids: set[int]) -> None:
        """What the database says about these chats wins over this instance's memory: another
        instance may have found a chat blocked, and a person who unblocked the bot and wrote to it
        again is reachable again (see bot.services.outbox.chat_alive)."""
        rows = (await session.execute(select(ChatState.chat_id).where(
            ChatState.chat_id.in_(chat_ids), ChatState.unreachable.is_not(None)))).scalars()
        gone = set(rows)
        self.unreachable -= chat_ids - gone
        self.unreachable |= gone

    # ------------------------------------------------------------------ sending

    async def _deliver(self, item: OutboxItem) -> None:
        async with self._sem:
            try:
                outcome, extra = await self._attempt(item)
            except Exception as exc:  # never let one message kill the sender
                log.exception("outbox item %s crashed the sender", item.id)
                outcome, extra = "retry", {"error": f"{type(exc).__name__}: {exc}"}
            self.results.append((item, outcome, extra))
            self.in_flight.discard(item.chat_id)
            if len(self.results) >= 50:
                self._wake.set()

    async def _attempt(self, item: OutboxItem) -> tuple[str, dict[str, Any]]:
        if item.expires_at is not None and item.expires_at <= self.clock():
            return "expired", {}
        if item.chat_id in self.unreachable:
            return "failed", {"error": "chat unreachable (earlier permanent failure)"}
        wait = self.next_allowed.get(item.chat_id, 0.0) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        await self.limiter.acquire()
        interval = self.private_interval if item.chat_id > 0 else self.group_interval
        self.next_allowed[item.chat_id] = time.monotonic() + interval
        try:
            message = await self._send(item)
        except TelegramRetryAfter as exc:
            self.stats["retry_after"] += 1
            self.next_allowed[item.chat_id] = time.monotonic() + exc.retry_after
            self._recent_429.append(time.monotonic())
            if len(self._recent_429) >= 3 and time.monotonic() - self._recent_429[-3] < 1.0:
                self.limiter.pause(float(exc.retry_after))  # looks like the overall limit
            return "later", {"delay": float(exc.retry_after), "error": "429 retry_after"}
        except TelegramMigrateToChat as exc:
            return "migrated", {"to": exc.migrate_to_chat_id}
        except (TelegramForbiddenError, TelegramNotFound) as exc:
            return "failed", {"error": exc.message, "permanent": True}
        except TelegramBadRequest as exc:
            text = exc.message.lower()
            if "message is not modified" in text:
                return "sent", {}
            if any(marker in text for marker in PERMANENT_MARKERS):
                return "failed", {"error": exc.message, "permanent": True}
            if "message to edit not found" in text or "message can't be edited" in text:
                return "failed", {"error": exc.message}
            log.error("outbox item %s refused by Telegram: %s", item.id, exc.message)
            return "failed", {"error": exc.message}
        except (TelegramServerError, TelegramNetworkError, TimeoutError, OSError) as exc:
            self.stats["errors"] += 1
            return "retry", {"error": f"{type(exc).__name__}: {exc}"}
        sent: dict[str, Any] = {"message_id": getattr(message, "message_id", None)}
        sizes = getattr(message, "photo", None)
        if isinstance(sizes, list) and sizes:
            # An uploaded photo's file_id, for a hook that keeps it (the desk's "after" photo).
            sent["file_id"] = sizes[-1].file_id
        return "sent", sent

    async def _send(self, item: OutboxItem) -> Any:
        p = item.payload
        method = p.get("method", "message")
        markup = markup_from(p.get("buttons"))
        reply = ReplyParameters(message_id=p["reply_to"], allow_sending_without_reply=True) \
            if p.get("reply_to") else None
        chat = item.chat_id
        if method == "message":
            # Link previews follow the bot's default (off, set in bot.app.create_bot).
            return await self.bot.send_message(chat, p["text"], reply_markup=markup, reply_parameters=reply)
        if method == "photo":
            # A file_id, or a file the bot made (a digest chart): {"path": ...} or {"b64": ..., "filename": ...}.
            photo = _input_file(p["photo"]) if isinstance(p["photo"], dict) else p["photo"]
            return await self.bot.send_photo(chat, photo, caption=p.get("caption"), reply_markup=markup,
                                             reply_parameters=reply)
        if method == "album":
            media: list[MediaUnion] = [InputMediaPhoto(media=fid, caption=p.get("caption") if i == 0 else None)
                     for i, fid in enumerate(p["photos"])]
            messages: list[Message] = await self.bot.send_media_group(chat, media, reply_parameters=reply)
            return messages[0] if messages else None
        if method == "document":
            doc = p["document"]
            if "path" in doc:
                file: Any = FSInputFile(doc["path"], filename=doc.get("filename"))
            elif "file_id" in doc:
                file = doc["file_id"]
            else:
                file = BufferedInputFile(base64.b64decode(doc["b64"]), filename=doc.get("filename", "file"))
            return await self.bot.send_document(chat, file, caption=p.get("caption"), reply_markup=markup,
                                                reply_parameters=reply)
        if method == "edit":
            if p.get("caption"):
                return await self.bot.edit_message_caption(
                    chat_id=chat, message_id=p["message_id"], caption=p["text"], reply_markup=markup)
            return await self.bot.edit_message_text(
                text=p["text"], chat_id=chat, message_id=p["message_id"], reply_markup=markup)
        raise ValueError(f"unknown outbox method {method!r}")

    # ------------------------------------------------------------------ recording results

    async def _flush_loop(self) -> None:
        while not self._stop.is_set() or self.results:
            await asyncio.sleep(0.1)
            try:
                if self.results:
                    await self._flush()
                    # A chat's next item can only be claimed once this one is recorded: look now
                    # rather than at the next poll.
                    self._wake.set()
            except Exception:
                log.exception("could not record outbox results; will retry")
                await asyncio.sleep(1)

    async def _flush(self) -> None:
        if not self.results:
            return
        batch = []
        while self.results:
            batch.append(self.results.popleft())
        # Rows in id order: two instances recording at once then lock rows in the same order and
        # cannot deadlock each other (PostgreSQL).
        batch.sort(key=lambda result: result[0].id)
        now = self.clock()
        try:
            async with self.sessions() as session:
                for item, outcome, extra in batch:
                    await self._record(session, item, outcome, extra, now)
                await session.commit()
        except Exception:
            # Keep the results for the next attempt: dropping them would leave the rows claimed until
            # their lease runs out and then send them a second time.
            self.results.extendleft(reversed(batch))
            raise

    async def _record(self, session: AsyncSession, item: OutboxItem, outcome: str, extra: dict[str, Any],
                      now: datetime) -> None:
        mine = and_(OutboxItem.id == item.id, OutboxItem.status == OutboxStatus.SENDING)
        if outcome == "sent":
            self.stats["sent"] += 1
            # An edit whose text changed while it was being sent goes back to pending (the newer text is
            # still due); every other row is sent. SET expressions read the row as it was.
            rearmed = OutboxItem.last_error == REARMED
            await session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(
                status=case((rearmed, OutboxStatus.PENDING), else_=OutboxStatus.SENT), sent_at=now,
                message_id=extra.get("message_id"), lease_until=None, last_error=None,
                attempts=case((rearmed, 0), else_=OutboxItem.attempts)))
            hook = SENT_HOOKS.get(item.kind)
            if hook is not None:
                item.message_id = extra.get("message_id")
                if extra.get("file_id"):
                    item.payload = {**(item.payload or {}), "sent_file_id": extra["file_id"]}
                await hook(session, item)
        elif outcome == "expired":
            self.stats["expired"] += 1
            await session.execute(update(OutboxItem).where(mine).values(
                status=OutboxStatus.EXPIRED, lease_until=None, last_error="moment passed"))
        elif outcome == "later":
            await session.execute(update(OutboxItem).where(mine).values(
                status=OutboxStatus.PENDING, lease_until=None, attempts=OutboxItem.attempts - 1,
                not_before=now + timedelta(seconds=extra["delay"]), last_error=extra["error"]))
        elif outcome == "migrated":
            new_id = int(extra["to"])
            await self._migrate(session, item.chat_id, new_id)
            await session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(
                status=OutboxStatus.PENDING, chat_id=new_id, lease_until=None, not_before=now))
        elif outcome == "retry" and item.attempts < MAX_ATTEMPTS:
            delay = min(2 ** item.attempts, 300)
            await session.execute(update(OutboxItem).where(mine).values(
                status=OutboxStatus.PENDING, lease_until=None, last_error=extra.get("error"),
                not_before=now + timedelta(seconds=delay)))
        else:
            self.stats["failed"] += 1
            await session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(
                status=OutboxStatus.FAILED, lease_until=None, last_error=str(extra.get("error"))[:500]))
            if extra.get("permanent"):
                await self._mark_unreachable(session, item.chat_id, str(extra.get("error")), now)

    async def _mark_unreachable(self, session: AsyncSession, chat_id: int, reason: str, now: datetime) -> None:
        self.unreachable.add(chat_id)
        state = await session.get(ChatState, chat_id)
        if state is None:
            session.add(ChatState(chat_id=chat_id, unreachable=reason[:64], updated_at=now))
        else:
            state.unreachable = reason[:64]
        # Everything else queued for that chat fails now instead of being tried one by one.
        await session.execute(update(OutboxItem).where(
            OutboxItem.chat_id == chat_id, OutboxItem.status == OutboxStatus.PENDING).values(
            status=OutboxStatus.FAILED, last_error=reason[:500]))

    async def _migrate(self, session: AsyncSession, old: int, new: int) -> None:
        await migrate_chat(session, old, new)
        self.next_allowed.pop(old, None)


def _input_file(spec: dict[str, Any]) -> Any:
    if "path" in spec:
        return FSInputFile(spec["path"], filename=spec.get("filename"))
    if "file_id" in spec:
        return spec["file_id"]
    return BufferedInputFile(base64.b64decode(spec["b64"]), filename=spec.get("filename", "file"))
