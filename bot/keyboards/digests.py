"""Buttons of /digest: another day, the week, the month; and the issue buttons under a digest."""

from __future__ import annotations

from datetime import date, timedelta

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import CancelCb
from bot.keyboards.issues import cb as issue_cb

MAX_ISSUE_BUTTONS = 4


class DigestCb(CallbackData, prefix="dg"):
    """kind: daily | weekly | monthly | pick (ask for a date); day: YYYYMMDD; area: 0 = community."""

    kind: str
    day: int = 0
    area: int = 0


def pack_day(d: date) -> int:
    return d.year * 10_000 + d.month * 100 + d.day


def unpack_day(value: int) -> date | None:
    """The date packed in a button, or None when the data is not a date (callback data is untrusted)."""
    try:
        return date(value // 10_000, value // 100 % 100, value % 100)
    except ValueError:
        return None


def issue_buttons(issues: list[tuple[int, str]]) -> list[list[tuple[str, str]]]:
    """Rows of buttons that open the cards of the issues a digest lists first (id, reference)."""
    buttons = [(f"📄 #{ref}", issue_cb("details", issue_id)) for issue_id, ref in issues[:MAX_ISSUE_BUTTONS]]
    return [buttons[i:i + 2] for i in range(0, len(buttons), 2)]


def digest_nav(day: date, area_id: int | None, *, reports: bool,
               issues: list[tuple[int, str]] | None = None) -> InlineKeyboardMarkup:
    """Under an on-demand digest: the cards it mentions, the day before, another date, the reports."""
    kb = InlineKeyboardBuilder()
    for row in issue_buttons(issues or []):
        kb.row(*[_button(text, data) for text, data in row])
    area = area_id or 0
    kb.row(_button(_("◀️ Day before"), DigestCb(kind="daily", day=pack_day(day - timedelta(days=1)),
                                                   area=area).pack()),
           _button(_("📅 Another date"), DigestCb(kind="pick", area=area).pack()))
    if reports:
        # The reports of the latest period that includes the digest's "yesterday".
        before = pack_day(day - timedelta(days=1))
        kb.row(_button(_("📈 Weekly summary"), DigestCb(kind="weekly", day=before).pack()),
               _button(_("📆 Monthly report"), DigestCb(kind="monthly", day=before).pack()))
    return kb.as_markup()


def pick_kb(today: date, area_id: int | None) -> InlineKeyboardMarkup:
    """The question "which day?": today, yesterday, or type a date; ✖️ leaves."""
    area = area_id or 0
    kb = InlineKeyboardBuilder()
    kb.row(_button(_("Today"), DigestCb(kind="daily", day=pack_day(today), area=area).pack()),
           _button(_("Yesterday"), DigestCb(kind="daily", day=pack_day(today - timedelta(days=1)),
                                            area=area).pack()))
    kb.row(_button(_("✖️ Cancel"), CancelCb().pack()))
    return kb.as_markup()


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)
