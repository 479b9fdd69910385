"""Campaigns: callback data and keyboards of /campaign (the wizard, the list, a campaign's screen) and of
the issue card's 🎯 Campaign menu."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import add_cancel, wizard_step
from bot.keyboards.common import cancel_kb as cancel_kb  # the steps' lone ✖️ Cancel
from bot.keyboards.issues import CampaignQueueCb, cb
from bot.keyboards.places import PlaceButton, picker_kb
from bot.services.campaigns import IssueChoice
from bot.services.reporting import Category
from models import Area, Building, Campaign


class CampCb(CallbackData, prefix="cp"):
    """step: cat (toggle a category, v=index) | place (v=c | a<id> | b<id>) | next | start (v=today) |
    end (v=4w) | phases (v=tpl | none | ok | edit) | skip | go | new | view (id) | list | xlsx (id)"""

    step: str
    v: str = ""
    id: int = 0


class IssueCampCb(CallbackData, prefix="ic"):
    """On an issue card: toggle the issue in campaign `c` (a: add | rm)."""

    a: str
    i: int
    c: int



def categories_kb(cats: Sequence[Category], chosen: Sequence[str], locale: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i, c in enumerate(cats):
        mark = "✅ " if c.key in chosen else ""
        kb.button(text=f"{mark}{c.button(locale)}"[:60], callback_data=CampCb(step="cat", v=str(i)))
    if chosen:
        kb.button(text=_("➡️ Next"), callback_data=CampCb(step="next"))
    add_cancel(kb)
    kb.adjust(2)
    return kb.as_markup()


def places_kb(areas: Sequence[Area], buildings: Sequence[Building], area_ids: Sequence[int],
              building_ids: Sequence[int]) -> InlineKeyboardMarkup:
    buttons = [PlaceButton("community", "", "c"),
               *(PlaceButton("area", a.name, f"a{a.id}", a.id in area_ids) for a in areas),
               *(PlaceButton("building", b.name, f"b{b.id}", b.id in building_ids) for b in buildings)]
    return picker_kb(buttons, lambda v: CampCb(step="place", v=v),
                     CampCb(step="next") if area_ids or building_ids else None, (1, 2))


def start_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("Today"), CampCb(step="start", v="today"))], 2)


def end_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("In 4 weeks"), CampCb(step="end", v="4w"))], 2)


def phases_kb(has_phases: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if has_phases:
        kb.button(text=_("✅ Use these phases"), callback_data=CampCb(step="phases", v="ok"))
        kb.button(text=_("✏️ Change dates or instructions"), callback_data=CampCb(step="phases", v="edit"))
    else:
        kb.button(text=_("🗓 Four phases (template)"), callback_data=CampCb(step="phases", v="tpl"))
    kb.button(text=_("No phases"), callback_data=CampCb(step="phases", v="none"))
    add_cancel(kb)
    kb.adjust(1)
    return kb.as_markup()


def skip_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("Skip"), CampCb(step="skip"))], 2)


def confirm_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("✅ Start the campaign"), CampCb(step="go"))], 1)


def list_kb(campaigns: Sequence[Campaign], may_create: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for c in campaigns:
        mark = "🎯 " if c.status == "running" else "🏁 "
        kb.button(text=(mark + c.name)[:60], callback_data=CampCb(step="view", id=c.id))
    if may_create:
        kb.button(text=_("➕ New campaign"), callback_data=CampCb(step="new"))
    kb.adjust(1)
    return kb.as_markup()


def campaign_kb(campaign: Campaign, may_export: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("📥 Its open reports"), callback_data=CampaignQueueCb(cg=campaign.id))
    if may_export:
        kb.button(text=_("📊 Spreadsheet of its issues"), callback_data=CampCb(step="xlsx", id=campaign.id))
    kb.button(text=_("⬅️ All campaigns"), callback_data=CampCb(step="list"))
    kb.adjust(1)
    return kb.as_markup()


def issue_rows(issue_id: int, choices: Sequence[IssueChoice]) -> list[list[tuple[str, str]]]:
    """The card's 🎯 Campaign menu: each running campaign with ✅ when the issue is in it; a tap toggles."""
    rows: list[list[tuple[str, str]]] = []
    for ch in choices:
        label = ("✅ " if ch.member else "➕ ") + ch.campaign.name
        rows.append([(label[:60], IssueCampCb(a="rm" if ch.member else "add", i=issue_id, c=ch.campaign.id).pack())])
    rows.append([(_("⬅️ Back"), cb("back", issue_id))])
    return rows
