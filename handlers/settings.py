"""/settings (language, notifications, quiet hours, leaving a building) and /deletedata."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import i18n
from bot.i18n import _
from bot.keyboards.common import MenuCb, edit_or_keep
from bot.keyboards.households import HhCb
from bot.keyboards.settings import (
    QUIET_PRESETS,
    SetCb,
    back_to_settings_kb,
    delete_confirm_kb,
    language_kb,
    language_label,
    leave_choose_kb,
    leave_confirm_kb,
    pref_label,
    prefs_kb,
    quiet_custom_kb,
    quiet_kb,
    quiet_label,
    settings_kb,
)
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.members import MembersService
from bot.services.when import read_time_range
from models import Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")
router.callback_query.filter(F.message.chat.type == "private")

# "22:30-06:30", "22.30 – 6.30", "22:30至06:30", with full-width colons as Chinese keyboards type them.


class SettingsForm(StatesGroup):
    quiet = State()


def parse_quiet(text: str) -> tuple[int, int] | None:
    """Minutes after midnight of a typed range ("22:00-07:00", "22点到7点", "晚上10点到早上7点", "10pm-7am"),
    or None when it is not one: the one reading of times every step uses (bot/services/when.py)."""
    return read_time_range(text or "")


async def _settings_view(member: Member, actor: Actor, members: MembersService) -> tuple[str, InlineKeyboardMarkup]:
    prefs = members.applicable_prefs(actor)
    lines = [
        _("⚙️ <b>Settings</b>"),
        _("🌐 Language: {language}").format(language=language_label(i18n.current_locale())),
        _("🌙 Quiet hours: {hours}").format(hours=quiet_label(member.quiet_start, member.quiet_end)),
    ]
    if prefs:
        on = [pref_label(p) for p in prefs if members.wants(member, p)]
        lines.append(_("🔔 Notifications on: {list}").format(list=", ".join(on) if on else _("none")))
    buildings = await members.resident_buildings(member)
    flat: tuple[str, HhCb] | None = None
    households = members.households
    for b in buildings:  # the flat of the first building that has flats (most people have one building)
        if (await households.count([b.id])).get(b.id):
            mine = await households.household_of(member.id, b.id)
            label = _("🏠 My flat: {label}").format(label=mine.label) if mine else _("🏠 My flat")
            flat = (label, HhCb(a="top", b=b.id, m=member.id, mo="st"))
            break
    return "\n".join(lines), settings_kb(can_leave=bool(buildings), flat=flat)


async def _edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    await edit_or_keep(query, text, markup)


@router.message(Command("settings"))
async def settings_cmd(message: Message, member: Member, actor: Actor, members: MembersService,
                       state: FSMContext) -> None:
    await state.clear()
    text, markup = await _settings_view(member, actor, members)
    await message.answer(text, reply_markup=markup)


@router.callback_query(MenuCb.filter(F.action == "settings"))
async def settings_from_menu(query: CallbackQuery, member: Member, actor: Actor, members: MembersService,
                             state: FSMContext) -> None:
    await state.clear()
    text, markup = await _settings_view(member, actor, members)
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=markup)
    await query.answer()


@router.callback_query(SetCb.filter(F.action == "menu"))
async def settings_menu(query: CallbackQuery, member: Member, actor: Actor, members: MembersService,
                        state: FSMContext) -> None:
    await state.clear()
    text, markup = await _settings_view(member, actor, members)
    await _edit(query, text, markup)
    await query.answer()


@router.callback_query(SetCb.filter(F.action == "close"))
async def settings_close(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await _edit(query, _("Settings saved. Send /settings to change them again."))
    await query.answer()


# ---------------------------------------------------------------------------- language


@router.callback_query(SetCb.filter(F.action == "lang"))
async def language_menu(query: CallbackQuery) -> None:
    await _edit(query, _("Which language should I use with you?"), language_kb(i18n.current_locale()))
    await query.answer()


@router.callback_query(SetCb.filter(F.action == "setlang"))
async def language_set(query: CallbackQuery, callback_data: SetCb, member: Member, actor: Actor,
                       members: MembersService) -> None:
    if callback_data.value not in i18n.SUPPORTED:
        await query.answer(_("This button is no longer active."))
        return
    await members.set_locale(member, callback_data.value)
    # Everything from here on, this answer included, speaks the new language.
    i18n.set_locale(callback_data.value)
    text, markup = await _settings_view(member, actor, members)
    await _edit(query, text, markup)
    await query.answer(_("Language: {language}").format(language=language_label(callback_data.value)))


# ---------------------------------------------------------------------------- notifications


def _prefs_screen(member: Member, actor: Actor, members: MembersService) -> tuple[str, InlineKeyboardMarkup]:
    names = members.applicable_prefs(actor)
    if not names:
        text = _("🔔 Once you have joined a building, you can choose here which reminders and notices "
                 "you get. Urgent messages always come.")
    else:
        text = _("🔔 Which messages do you want? Tap to switch on or off. Urgent messages (about your "
                 "reports, emergencies) always come.")
    return text, prefs_kb([(n, members.wants(member, n)) for n in names])


@router.callback_query(SetCb.filter(F.action == "prefs"))
async def prefs_menu(query: CallbackQuery, member: Member, actor: Actor, members: MembersService) -> None:
    text, markup = _prefs_screen(member, actor, members)
    await _edit(query, text, markup)
    await query.answer()


@router.callback_query(SetCb.filter(F.action == "toggle"))
async def prefs_toggle(query: CallbackQuery, callback_data: SetCb, member: Member, actor: Actor,
                       members: MembersService) -> None:
    name = callback_data.value
    if name not in members.applicable_prefs(actor):
        # An old button after a role changed, or forged data.
        await query.answer(_("This button is no longer active."))
        return
    value = not members.wants(member, name)
    await members.set_pref(member, name, value)
    text, markup = _prefs_screen(member, actor, members)
    await _edit(query, text, markup)
    await query.answer((_("{name}: on") if value else _("{name}: off")).format(name=pref_label(name)))


# ---------------------------------------------------------------------------- quiet hours


def _quiet_text(member: Member) -> str:
    return _("🌙 Quiet hours: {hours}\nDuring quiet hours I hold back messages that can wait and send them "
             "in the morning. Urgent ones still come.").format(
        hours=quiet_label(member.quiet_start, member.quiet_end))


@router.callback_query(SetCb.filter(F.action == "quiet"))
async def quiet_menu(query: CallbackQuery, member: Member, state: FSMContext) -> None:
    await state.clear()
    await _edit(query, _quiet_text(member), quiet_kb(member.quiet_start, member.quiet_end))
    await query.answer()


@router.callback_query(SetCb.filter(F.action.in_({"qoff", "qset"})))
async def quiet_set(query: CallbackQuery, callback_data: SetCb, member: Member, members: MembersService) -> None:
    if callback_data.action == "qoff":
        await members.set_quiet_hours(member, None, None)
    else:
        index = int(callback_data.value) if callback_data.value.isdigit() else -1
        if not 0 <= index < len(QUIET_PRESETS):
            await query.answer(_("This button is no longer active."))
            return
        await members.set_quiet_hours(member, *QUIET_PRESETS[index])
    await _edit(query, _quiet_text(member), quiet_kb(member.quiet_start, member.quiet_end))
    await query.answer(_("Saved."))


def _quiet_question() -> str:
    return _("Send your quiet hours as two times, start and end, like <code>22:30-06:30</code>.")


@router.callback_query(SetCb.filter(F.action == "qcustom"))
async def quiet_custom(query: CallbackQuery, state: FSMContext) -> None:
    await state.set_state(SettingsForm.quiet)
    await _edit(query, _quiet_question(), quiet_custom_kb())
    await query.answer()


@router.message(SettingsForm.quiet, F.text, ~F.text.startswith("/"))
async def quiet_typed(message: Message, member: Member, members: MembersService, state: FSMContext) -> None:
    parsed = parse_quiet(message.text or "")
    if parsed is None:
        await message.answer(_("That is not a time range I understand.") + "\n" + _quiet_question(),
                             reply_markup=quiet_custom_kb())
        return
    await members.set_quiet_hours(member, *parsed)
    await state.clear()
    await message.answer(_("Saved. ") + _quiet_text(member), reply_markup=quiet_kb(*parsed))


@router.message(StateFilter(SettingsForm.quiet), ~F.text.startswith("/"))
async def quiet_not_text(message: Message) -> None:
    await message.answer(_("Please type the times as text.") + "\n" + _quiet_question(),
                         reply_markup=quiet_custom_kb())


# ---------------------------------------------------------------------------- leaving a building


@router.callback_query(SetCb.filter(F.action == "leave"))
async def leave_menu(query: CallbackQuery, member: Member, members: MembersService) -> None:
    buildings = await members.resident_buildings(member)
    if not buildings:
        await _edit(query, _("You are not a resident of any building."), back_to_settings_kb())
    elif len(buildings) == 1:
        await _edit(query, _leave_question(buildings[0].name), leave_confirm_kb(buildings[0].id))
    else:
        await _edit(query, _("Which building do you want to leave?"), leave_choose_kb(buildings))
    await query.answer()


def _leave_question(building: str) -> str:
    return _("Leave {building}? You will stop getting its announcements and reminders. Your reports stay. "
             "To come back, ask its captain for an invite link.").format(building=esc(building))


@router.callback_query(SetCb.filter(F.action == "leaveask"))
async def leave_ask(query: CallbackQuery, callback_data: SetCb, member: Member, members: MembersService) -> None:
    building = next((b for b in await members.resident_buildings(member) if str(b.id) == callback_data.value),
                    None)
    if building is None:
        await _edit(query, _("You are not a resident of that building any more."), back_to_settings_kb())
    else:
        await _edit(query, _leave_question(building.name), leave_confirm_kb(building.id))
    await query.answer()


@router.callback_query(SetCb.filter(F.action == "leavego"))
async def leave_go(query: CallbackQuery, callback_data: SetCb, member: Member, members: MembersService) -> None:
    building = next((b for b in await members.resident_buildings(member) if str(b.id) == callback_data.value),
                    None)
    if building is None or not await members.leave_building(member, building.id):
        await _edit(query, _("You are not a resident of that building any more."), back_to_settings_kb())
        await query.answer()
        return
    await _edit(query, _("You left {building}. Thank you for being a good neighbour!").format(
        building=esc(building.name)), back_to_settings_kb())
    await query.answer()


# ---------------------------------------------------------------------------- /deletedata


def _delete_text() -> str:
    return _(
        "🗑 <b>Delete my personal data</b>\n"
        "I will remove: your name, username and phone number, your language and notification settings, "
        "and your roles (you leave your buildings and teams; reports assigned to you go back to the "
        "captains, and your invite links stop working). Messages still waiting for you are cancelled; "
        "sent ones lose your chat and their text; where you checked in on patrols is forgotten.\n"
        "What stays: your reports and their photos, anonymised: nobody will see who sent them. The "
        "community needs them for its ledger. Your patrol hours stay too, without your name.\n"
        "This cannot be undone. Delete now?"
    )


@router.message(Command("deletedata"))
async def deletedata_cmd(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(_delete_text(), reply_markup=delete_confirm_kb())


@router.callback_query(SetCb.filter(F.action == "delete"))
async def deletedata_button(query: CallbackQuery) -> None:
    await _edit(query, _delete_text(), delete_confirm_kb())
    await query.answer()


@router.callback_query(SetCb.filter(F.action == "deletenot"))
async def deletedata_cancel(query: CallbackQuery) -> None:
    await _edit(query, _("Nothing was deleted."), back_to_settings_kb())
    await query.answer()


@router.callback_query(SetCb.filter(F.action == "deletego"))
async def deletedata_go(query: CallbackQuery, member: Member, members: MembersService, state: FSMContext) -> None:
    await state.clear()
    await members.delete_data(member)
    await _edit(query, _("✅ Your personal data is deleted. Your reports stay, anonymised. If you write to me "
                         "again, I will treat you as someone new."))
    await query.answer()
