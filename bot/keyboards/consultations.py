"""Consultations: callback data and keyboards of the /consult wizard and the captain's screens."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import add_cancel, wizard_step
from bot.keyboards.common import cancel_kb as cancel_kb  # the steps' lone ✖️ Cancel
from bot.keyboards.places import PlaceButton, picker_kb
from bot.services.consultations import ConsultOption
from bot.services.households import HouseholdView

PAGE = 24  # rooms per page of the door-to-door list: never a 100-button list


class WizCb(CallbackData, prefix="cw"):
    """step: new | place (v=token) | plan (v=done) | choices (v=default) | dl (v=7/14 days) |
    rule (v=all|answered|pct) | secret (v=0|1) | send | edit (v=field)"""

    step: str
    v: str = ""


class ConsultCb(CallbackData, prefix="ck"):
    """a: pr (progress) | dd (door to door: the units) | u (rooms of building b, unit u, page p) |
    hh (household h: what did they answer) | rc (record choice v for household h) | cl (close early) |
    clgo (confirm the close)"""

    a: str
    c: int
    b: int = 0
    u: int = -1
    p: int = 0
    h: int = 0
    v: int = 0



def places_kb(options: Sequence[ConsultOption]) -> InlineKeyboardMarkup:
    return picker_kb([PlaceButton(o.kind, o.name, o.token) for o in options[:30]],
                     lambda v: WizCb(step="place", v=v), None)


def plan_kb(count: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if count:
        kb.button(text=_("✅ Done ({n} attached)").format(n=count), callback_data=WizCb(step="plan", v="done"))
    else:
        kb.button(text=_("➡️ No plan to attach"), callback_data=WizCb(step="plan", v="done"))
    add_cancel(kb)
    kb.adjust(1)
    return kb.as_markup()


def choices_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("Agree / Disagree / No opinion"), WizCb(step="choices", v="default"))], 1)


def deadline_kb() -> InlineKeyboardMarkup:
    return wizard_step([
        (_("In 7 days, 18:00"), WizCb(step="dl", v="7")),
        (_("In 14 days, 18:00"), WizCb(step="dl", v="14")),
    ], 2, 1)


def rule_kb(pct: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("More than {pct}% of ALL households agree").format(pct=pct),
              callback_data=WizCb(step="rule", v="all"))
    kb.button(text=_("More than {pct}% of those who answered").format(pct=pct),
              callback_data=WizCb(step="rule", v="answered"))
    kb.button(text=_("✏️ Another threshold"), callback_data=WizCb(step="rule", v="pct"))
    add_cancel(kb)
    kb.adjust(1)
    return kb.as_markup()


def secret_kb() -> InlineKeyboardMarkup:
    return wizard_step([
        (_("🔓 Open ballot"), WizCb(step="secret", v="0")),
        (_("🔒 Secret ballot"), WizCb(step="secret", v="1")),
    ], 2, 1)


def confirm_kb() -> InlineKeyboardMarkup:
    return wizard_step([(_("✅ Send"), WizCb(step="send")), (_("✏️ Edit"), WizCb(step="edit"))], 3)


def edit_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for field, label in (("question", _("Question")), ("plan", _("Plan")), ("choices", _("Choices")),
                         ("deadline", _("Until when")), ("rule", _("Rule")), ("secret", _("Secret ballot"))):
        kb.button(text=label, callback_data=WizCb(step="edit", v=field))
    kb.button(text=_("⬅️ Back to the preview"), callback_data=WizCb(step="edit", v="back"))
    kb.adjust(3, 3, 1)
    return kb.as_markup()


def progress_kb(cid: int, *, missing: int, can_close: bool, is_open: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if is_open and missing:
        kb.button(text=_("🚪 Door to door ({n} not answered)").format(n=missing),
                  callback_data=ConsultCb(a="dd", c=cid))
    kb.button(text=_("🔄 Refresh"), callback_data=ConsultCb(a="pr", c=cid))
    if can_close:
        kb.button(text=_("🔒 Close now"), callback_data=ConsultCb(a="cl", c=cid))
    kb.adjust(1)
    return kb.as_markup()


def units_kb(cid: int, groups: Sequence[tuple[int, int, str, int]]) -> InlineKeyboardMarkup:
    """(building id, unit or -1, label, households missing) per group."""
    kb = InlineKeyboardBuilder()
    for b, u, label, n in groups[:40]:
        kb.button(text=f"{label} ({n})"[:60], callback_data=ConsultCb(a="u", c=cid, b=b, u=u))
    kb.button(text=_("⬅️ Progress"), callback_data=ConsultCb(a="pr", c=cid))
    kb.adjust(2)
    return kb.as_markup()


def rooms_kb(cid: int, b: int, u: int, flats: Sequence[HouseholdView], page: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    pages = max(1, (len(flats) + PAGE - 1) // PAGE)
    page = min(max(page, 0), pages - 1)
    shown = flats[page * PAGE:(page + 1) * PAGE]
    for h in shown:
        kb.button(text=h.label[:20], callback_data=ConsultCb(a="hh", c=cid, b=b, u=u, p=page, h=h.id))
    sizes = [4] * ((len(shown) + 3) // 4)
    nav = 0
    if page > 0:
        kb.button(text=_("◀️ Previous"), callback_data=ConsultCb(a="u", c=cid, b=b, u=u, p=page - 1))
        nav += 1
    if page < pages - 1:
        kb.button(text=_("Next ▶️"), callback_data=ConsultCb(a="u", c=cid, b=b, u=u, p=page + 1))
        nav += 1
    if nav:
        sizes.append(nav)
    kb.button(text=_("⬅️ Units"), callback_data=ConsultCb(a="dd", c=cid))
    kb.button(text=_("📊 Progress"), callback_data=ConsultCb(a="pr", c=cid))
    sizes.append(2)
    kb.adjust(*sizes)
    return kb.as_markup()


def record_kb(cid: int, b: int, u: int, p: int, h: int, labels: Sequence[str]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i, label in enumerate(labels):
        kb.button(text=label[:40], callback_data=ConsultCb(a="rc", c=cid, b=b, u=u, p=p, h=h, v=i))
    kb.button(text=_("⬅️ Back"), callback_data=ConsultCb(a="u", c=cid, b=b, u=u, p=p))
    kb.adjust(1)
    return kb.as_markup()


def form_kb(cid: int, b: int, u: int, p: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("⏭ No photo — next household"), callback_data=ConsultCb(a="u", c=cid, b=b, u=u, p=p))
    kb.adjust(1)
    return kb.as_markup()


def close_kb(cid: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🔒 Yes, close it now"), callback_data=ConsultCb(a="clgo", c=cid))
    kb.button(text=_("⬅️ Progress"), callback_data=ConsultCb(a="pr", c=cid))
    kb.adjust(1)
    return kb.as_markup()
