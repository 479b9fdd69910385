"""Albums: Telegram sends each photo of an album as its own message with one media_group_id. Each item
is stored in the draft at once (durable); a short debounce per album then asks the next question once,
through bot.deferred (a session of its own, like an update's)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.types import Message

from bot.deferred import Deferred, run_deferred
from bot.i18n import use_locale
from bot.services.reporting import Draft
from handlers.reporting.questions import Report, ask, load_draft, photos_lead, take_photo, with_lead

log = logging.getLogger(__name__)
router = Router(name=__name__)

ALBUM_DELAY = 1.2  # seconds of quiet after the last album item before answering once


@router.message(StateFilter(None, Report.photos, Report.category), F.photo, F.media_group_id)
async def album_item(message: Message, state: FSMContext, bot: Bot, dispatcher: Dispatcher) -> None:
    """One photo of an album: store it now, answer once when the album is complete."""
    draft = await load_draft(state) if await state.get_state() else Draft()
    if await state.get_state() is None:
        await state.set_state(Report.photos)
    _dropped, lead = take_photo(draft, message)
    draft.album = str(message.media_group_id)
    draft.album_seq += 1
    data = draft.to_dict()
    if lead:
        data["album_lead"] = lead
    await state.update_data(data)
    albums.schedule(dispatcher, bot, state.key, str(message.media_group_id), message)


@dataclass
class _Pending:
    message: Message
    bot: Bot
    dispatcher: Dispatcher
    key: StorageKey
    bumped: asyncio.Event = field(default_factory=asyncio.Event)
    flush: bool = False
    task: asyncio.Task[None] | None = None


class AlbumCollector:
    """Debounce per (chat, media_group_id): answer once, ALBUM_DELAY after the album's last item."""

    def __init__(self) -> None:
        self.pending: dict[tuple[int, str], _Pending] = {}

    def schedule(self, dispatcher: Dispatcher, bot: Bot, key: StorageKey, album: str, message: Message) -> None:
        k = (key.chat_id, album)
        pending = self.pending.get(k)
        if pending is not None:
            pending.message = message
            pending.bumped.set()
            return
        pending = _Pending(message, bot, dispatcher, key)
        self.pending[k] = pending
        pending.task = asyncio.create_task(self._wait_then_answer(k, pending), name=f"album-{album}")

    async def _wait_then_answer(self, k: tuple[int, str], pending: _Pending) -> None:
        try:
            while not pending.flush:
                pending.bumped.clear()
                try:
                    await asyncio.wait_for(pending.bumped.wait(), ALBUM_DELAY)
                except TimeoutError:
                    break
            await _album_complete(pending, k[1])
        except Exception:
            log.exception("album %s could not be answered", k[1])
        finally:
            self.pending.pop(k, None)

    async def settle(self) -> None:
        """Answer every album now (tests, shutdown): no waiting for the debounce."""
        while self.pending:
            for pending in list(self.pending.values()):
                pending.flush = True
                pending.bumped.set()
            await asyncio.gather(*(p.task for p in list(self.pending.values()) if p.task), return_exceptions=True)


albums = AlbumCollector()


async def settle_albums() -> None:
    await albums.settle()


async def _album_complete(pending: _Pending, album: str) -> None:
    """Ask the next question once for a whole album, after the updates that brought the photos."""

    async def answer(later: Deferred) -> None:
        state, services = later.state, later.services
        data = await state.get_data()
        draft = Draft.from_dict(data)
        if draft.album != album or await state.get_state() not in (Report.photos.state, Report.category.state):
            return
        member = await services.members.by_telegram_id(pending.key.user_id)
        if member is None:
            return
        communities = await services.members.member_communities(member)
        locale = services.members.locale_for(
            member, communities[0] if communities else None, later.settings.default_locale
        )
        draft.album = None
        lead = str(data.get("album_lead") or "")
        await state.update_data({"album_lead": None})
        with use_locale(locale):
            await ask(
                pending.message.as_(pending.bot),
                state,
                draft,
                services.reporting,
                member,
                lead=with_lead(photos_lead(draft), lead).strip(),
            )

    await run_deferred(pending.dispatcher, pending.key, answer)
