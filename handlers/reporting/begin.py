"""Starting a report: /report, the menu's button, and `begin_report` for the other capabilities that
start one pre-filled (a patrol finding, a cleaning-day problem)."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.keyboards.common import MenuCb
from bot.keyboards.reporting import photos_kb
from bot.services.reporting import Draft, ReportingService
from handlers.reporting.questions import Report, no_community_text, photos_question, save_draft
from models import Member

router = Router(name=__name__)


async def begin_report(
    message_or_query: Message | CallbackQuery,
    state: FSMContext,
    *,
    building_id: int | None = None,
    shift_id: int | None = None,
    cleaning_day_id: int | None = None,
) -> None:
    """Start the report flow, optionally pre-filled (a patrol finding, a cleaning-day problem): the
    building is then known and the issue is linked to the shift / cleaning day."""
    await state.clear()
    draft = Draft(
        building_id=building_id, place_done=building_id is not None, shift_id=shift_id, cleaning_day_id=cleaning_day_id
    )
    await state.set_state(Report.photos)
    await save_draft(state, draft)
    message = message_or_query if isinstance(message_or_query, Message) else message_or_query.message
    if isinstance(message_or_query, CallbackQuery):
        await message_or_query.answer()
        if not isinstance(message, Message) or message.chat.type != "private":
            # Pressed in a group: the flow continues in the presser's private chat.
            bot = message_or_query.bot
            assert bot is not None
            with contextlib.suppress(TelegramForbiddenError, TelegramBadRequest):
                await bot.send_message(message_or_query.from_user.id, photos_question(), reply_markup=photos_kb())
            return
    if isinstance(message, Message):
        await message.answer(photos_question(), reply_markup=photos_kb())


@router.message(Command("report"))
async def cmd_report(message: Message, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    if await reporting.community_for(member) is None:
        await state.clear()
        await message.answer(no_community_text())
        return
    await begin_report(message, state)


@router.callback_query(MenuCb.filter(F.action == "report"))
async def menu_report(query: CallbackQuery, state: FSMContext, member: Member, reporting: ReportingService) -> None:
    if await reporting.community_for(member) is None:
        await query.answer(no_community_text(), show_alert=True)
        return
    await begin_report(query, state)
