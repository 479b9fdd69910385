"""/settings and /deletedata keyboards: language, notification toggles, quiet hours, leaving a building."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from models import Building

# Quiet-hour presets offered as buttons, minutes after local midnight: (start, end).
QUIET_PRESETS: list[tuple[int, int]] = [(22 * 60, 7 * 60), (23 * 60, 8 * 60), (21 * 60, 8 * 60)]


class SetCb(CallbackData, prefix="set"):
    """action: menu | lang | prefs | toggle | quiet | qset | qoff | qcustom | leave | leavego | close |
    delete | deletego; value: the action's small argument (a locale, a pref name, a preset, an id)."""

    action: str
    value: str = ""


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def quiet_label(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return _("off")
    return f"{hhmm(start)}–{hhmm(end)}"


def pref_label(name: str) -> str:
    labels = {
        "announcements": _("Announcements (not urgent)"),
        "cleaning": _("Cleaning-day reminders"),
        "digest": _("Daily digest in private"),
        "area_digest": _("My area's digest"),
        "points_public": _("Name me in public volunteer thanks"),
    }
    return labels.get(name, name)


def language_label(locale: str) -> str:
    # Each language is named in itself, so that someone who cannot read the current one finds theirs.
    return {"en": "English", "zh_Hans": "简体中文"}.get(locale, locale)


def settings_kb(*, can_leave: bool, flat: tuple[str, CallbackData] | None = None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🌐 Language"), callback_data=SetCb(action="lang"))
    kb.button(text=_("🔔 Notifications"), callback_data=SetCb(action="prefs"))
    kb.button(text=_("🌙 Quiet hours"), callback_data=SetCb(action="quiet"))
    if flat is not None:  # which flat the person lives in (handlers/households.py picks it)
        kb.button(text=flat[0], callback_data=flat[1])
    if can_leave:
        kb.button(text=_("🚪 Leave building"), callback_data=SetCb(action="leave"))
    kb.button(text=_("🗑 Delete my data"), callback_data=SetCb(action="delete"))
    kb.button(text=_("✖️ Close"), callback_data=SetCb(action="close"))
    kb.adjust(2)
    return kb.as_markup()


def back_button(kb: InlineKeyboardBuilder) -> None:
    kb.button(text=_("⬅️ Back"), callback_data=SetCb(action="menu"))


def language_kb(current: str) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for locale in ("en", "zh_Hans"):
        mark = "✅ " if locale == current else ""
        kb.button(text=mark + language_label(locale), callback_data=SetCb(action="setlang", value=locale))
    back_button(kb)
    kb.adjust(2, 1)
    return kb.as_markup()


def prefs_kb(prefs: Sequence[tuple[str, bool]]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for name, on in prefs:
        kb.button(text=("✅ " if on else "⬜ ") + pref_label(name), callback_data=SetCb(action="toggle", value=name))
    back_button(kb)
    kb.adjust(1)
    return kb.as_markup()


def quiet_kb(start: int | None, end: int | None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    mark_off = "✅ " if start is None else ""
    kb.button(text=mark_off + _("Off"), callback_data=SetCb(action="qoff"))
    for i, (s, e) in enumerate(QUIET_PRESETS):
        mark = "✅ " if (s, e) == (start, end) else ""
        kb.button(text=mark + f"{hhmm(s)}–{hhmm(e)}", callback_data=SetCb(action="qset", value=str(i)))
    kb.button(text=_("✏️ Other times"), callback_data=SetCb(action="qcustom"))
    back_button(kb)
    kb.adjust(2, 2, 1, 1)
    return kb.as_markup()


def quiet_custom_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("⬅️ Back"), callback_data=SetCb(action="quiet"))
    return kb.as_markup()


def leave_choose_kb(buildings: Sequence[Building]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for b in buildings:
        kb.button(text=b.name[:60], callback_data=SetCb(action="leaveask", value=str(b.id)))
    back_button(kb)
    kb.adjust(1)
    return kb.as_markup()


def leave_confirm_kb(building_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🚪 Yes, leave"), callback_data=SetCb(action="leavego", value=str(building_id)))
    back_button(kb)
    kb.adjust(1)
    return kb.as_markup()


def delete_confirm_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("🗑 Yes, delete my data"), callback_data=SetCb(action="deletego"))
    kb.button(text=_("✖️ No, keep it"), callback_data=SetCb(action="deletenot"))
    kb.adjust(1)
    return kb.as_markup()


def back_to_settings_kb() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("⬅️ Back to settings"), callback_data=SetCb(action="menu"))
    return kb.as_markup()
