"""📄 Rectification notice from the card: the requirement is asked in private, then the PDF is built in a
worker thread (font subsetting takes a moment) and sent through the outbox. Glue only: the rule is in
bot/services/notices.py, the content and the PDF in bot/notices/rectification.py."""

from __future__ import annotations

import asyncio
import base64
import io
import logging

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.i18n import _
from bot.keyboards.common import cancel_kb
from bot.keyboards.issues import IssueCb
from bot.notices.rectification import build_pdf, notice_of
from bot.services.access import Actor, NotAllowed
from bot.services.notices import NoticeService
from bot.services.outbox import Outbox
from bot.services.triage import InvalidInput
from handlers.triage import denied, go_private, headline, input_error

log = logging.getLogger(__name__)
router = Router(name=__name__)


class NoticeFlow(StatesGroup):
    requirement = State()


@router.callback_query(IssueCb.filter(F.action == "notice"))
async def on_notice(query: CallbackQuery, callback_data: IssueCb, actor: Actor, notices: NoticeService,
                    bot: Bot, state: FSMContext) -> None:
    try:
        issue = await notices.check(actor, callback_data.id)
    except NotAllowed as exc:
        await denied(query, notices, callback_data.id, exc)
        return
    await go_private(query, bot, state, NoticeFlow.requirement, {"issue_id": issue.id},
                     _("📄 {headline}: what must the responsible party do? (e.g. \"Remove the goods from the fire "
                       "exit\"). The deadline is the issue's.").format(headline=await headline(notices, issue)))


@router.message(NoticeFlow.requirement)
async def notice_requirement(message: Message, state: FSMContext, actor: Actor, notices: NoticeService,
                             outbox: Outbox, bot: Bot) -> None:
    if message.text is None or message.text.startswith("/"):
        await message.answer(_("Please write it as a text message."), reply_markup=cancel_kb())
        return
    issue_id = int((await state.get_data())["issue_id"])
    try:
        notice = notice_of(await notices.prepare(actor, issue_id, message.text))
    except InvalidInput as exc:
        await message.answer(input_error(exc.reason), reply_markup=cancel_kb())
        return
    await state.clear()
    photo: bytes | None = None
    if notice.photo_file_id:
        try:
            buffer = io.BytesIO()
            await bot.download(notice.photo_file_id, destination=buffer)
            photo = buffer.getvalue()
        except Exception:
            log.info("rectification notice: the before photo could not be fetched; left out")
    data = await asyncio.to_thread(build_pdf, notice, photo)
    await outbox.enqueue(key=notice.key, kind="issue_notice", chat_id=message.chat.id,
                         text=_("📄 Rectification notice {filename}: print it, sign it and hand it over.").format(
                             filename=notice.filename),
                         document={"b64": base64.b64encode(data).decode(), "filename": notice.filename})
    await message.answer(_("📄 The notice is ready; it follows in a moment. It is recorded on the issue."))
