"""Onboarding keyboards: pick community → area → building; approve or decline a join request."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import CancelCb
from models import Area, Building, Community


class JoinCb(CallbackData, prefix="join"):
    level: str  # c (community chosen) | a (area chosen) | b (building chosen) | back
    id: int


class JoinDecisionCb(CallbackData, prefix="jr"):
    request_id: int
    approve: bool


def communities_kb(communities: Sequence[Community]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for c in communities:
        kb.button(text=c.name[:60], callback_data=JoinCb(level="c", id=c.id))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(1)
    return kb.as_markup()


def areas_kb(areas: Sequence[Area], with_back: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for a in areas:
        kb.button(text=a.name[:60], callback_data=JoinCb(level="a", id=a.id))
    if with_back:
        kb.button(text=_("⬅️ Back"), callback_data=JoinCb(level="back", id=0))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(2)
    return kb.as_markup()


def buildings_kb(buildings: Sequence[Building], community_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for b in buildings:
        kb.button(text=b.name[:60], callback_data=JoinCb(level="b", id=b.id))
    kb.button(text=_("⬅️ Back"), callback_data=JoinCb(level="c", id=community_id))
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(3)
    return kb.as_markup()


def decision_buttons(request_id: int) -> list[list[tuple[str, str]]]:
    """Plain buttons for the outbox (the request goes to the captains as a bot-initiated message)."""
    return [[(_("✅ Approve"), JoinDecisionCb(request_id=request_id, approve=True).pack()),
             (_("❌ Decline"), JoinDecisionCb(request_id=request_id, approve=False).pack())]]
