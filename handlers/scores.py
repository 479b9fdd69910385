"""/ranking: building scores for a month or a quarter, with the weights that made them. Staff read the
whole community; an area head their area's buildings. Glue only: bot/services/scores.py holds the rules."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.notices.scores import ranking_text
from bot.services.access import Actor, Level, NotAllowed
from bot.services.scores import ScoresService
from models import Community

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

PERIODS = ("month", "last_month", "quarter", "last_quarter")


class RankCb(CallbackData, prefix="rk"):
    c: int  # community
    p: str  # one of PERIODS


def periods_kb(community_id: int, shown: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    labels = {"month": _("This month"), "last_month": _("Last month"), "quarter": _("This quarter"),
              "last_quarter": _("Last quarter")}
    for p in PERIODS:
        if p != shown:
            kb.button(text=labels[p], callback_data=RankCb(c=community_id, p=p))
    kb.adjust(3)
    return kb.as_markup()


async def _text(scores: ScoresService, actor: Actor, community: Community, period: str) -> str:
    today = scores.clock().astimezone(ZoneInfo(community.timezone)).date()
    if period == "last_month":
        day, kind = today.replace(day=1) - timedelta(days=1), "month"
    elif period == "quarter":
        day, kind = today, "quarter"
    elif period == "last_quarter":
        first = today.replace(month=3 * ((today.month - 1) // 3) + 1, day=1)
        day, kind = first - timedelta(days=1), "quarter"
    else:
        day, kind = today, "month"
    ranking = await scores.visible(actor, await scores.ranking(community, kind, day))
    return ranking_text(ranking)


@router.message(Command("ranking"))
async def ranking_cmd(message: Message, actor: Actor, scores: ScoresService) -> None:
    communities = await scores.communities_for(actor)
    if not communities:
        raise NotAllowed("scores", None, Level.AREA_HEAD)
    community = communities[0]
    await message.answer(await _text(scores, actor, community, "month"), reply_markup=periods_kb(community.id, "month"))


@router.callback_query(RankCb.filter())
async def ranking_period(query: CallbackQuery, callback_data: RankCb, actor: Actor, scores: ScoresService) -> None:
    if callback_data.p not in PERIODS:
        raise LookupError("period")
    community = next((c for c in await scores.communities_for(actor) if c.id == callback_data.c), None)
    if community is None:
        raise NotAllowed("scores", None, Level.AREA_HEAD)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(await _text(scores, actor, community, callback_data.p),
                                      reply_markup=periods_kb(community.id, callback_data.p))
