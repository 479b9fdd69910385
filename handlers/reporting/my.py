"""/my: the reports a person filed or follows, a page at a time."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import _, current_locale
from bot.keyboards.common import MenuCb
from bot.keyboards.reporting import MyCb, my_kb
from bot.notices.cards import fmt_date, status_label
from bot.rendering import render
from bot.services.reporting import ReportingService, category
from models import Community, Member

router = Router(name=__name__)


async def _my_page(member: Member, reporting: ReportingService, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    result = await reporting.my_issues(member, page)
    if not result.total:
        return _("You have no reports yet. Send /report to report a problem."), None
    community_cache: dict[int, Community | None] = {}
    rows, labels = [], []
    for issue in result.items:
        if issue.community_id not in community_cache:
            community_cache[issue.community_id] = await reporting.community_of(issue)
        community = community_cache[issue.community_id]
        cat = category(community, issue.category)
        tz = getattr(community, "timezone", "UTC")
        rows.append(
            {
                "emoji": cat.emoji,
                "ref": issue.hashtag,
                "label": cat.label(current_locale()),
                "status": status_label(issue.status),
                "date": fmt_date(issue.created_at, tz),
                "mine": issue.reporter_id == member.id,
            }
        )
        labels.append(f"{issue.hashtag} {cat.emoji} {status_label(issue.status)}")
    text = render("reporting_my.html.j2", rows=rows, page=result.page + 1, pages=result.pages)
    return text, my_kb(result.items, labels, result.page, result.pages)


@router.message(Command("my"))
async def cmd_my(message: Message, member: Member, reporting: ReportingService) -> None:
    text, kb = await _my_page(member, reporting, 0)
    await message.answer(text, reply_markup=kb)


@router.callback_query(MenuCb.filter(F.action == "my"))
async def menu_my(query: CallbackQuery, member: Member, reporting: ReportingService) -> None:
    text, kb = await _my_page(member, reporting, 0)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=kb)


@router.callback_query(MyCb.filter())
async def my_page(query: CallbackQuery, callback_data: MyCb, member: Member, reporting: ReportingService) -> None:
    text, kb = await _my_page(member, reporting, callback_data.page)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(text, reply_markup=kb)
