"""/start (with or without an invite), joining a building from buttons, /help, /privacy, /cancel."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.commands import visible
from bot.config import Settings
from bot.i18n import _
from bot.keyboards.common import CancelCb, MenuCb, main_menu
from bot.keyboards.start import JoinCb, JoinDecisionCb, areas_kb, buildings_kb, communities_kb
from bot.notices.onboarding import role_as, role_label
from bot.rendering import esc
from bot.services.access import Actor, Level
from bot.services.households import HouseholdsService
from bot.services.members import InviteError, MembersService
from bot.services.onboarding import OnboardingService
from handlers.households import ask as ask_household
from handlers.households import has_households
from models import Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")



class Joining(StatesGroup):
    """Choosing a place with the buttons; data `join` = [level, id] of the question on screen:
    ["start", 0] which community, ["c", community] which area (or building), ["a", area] which building."""

    choosing = State()

def invite_error_text(reason: str) -> str:
    texts = {
        "unknown": _("This invite link is not valid. Please ask for a new one."),
        "expired": _("This invite link has expired. Please ask for a new one."),
        "revoked": _("This invite link was withdrawn by the person who made it."),
        "used_up": _("This invite link has been used as many times as allowed. Please ask for a new one."),
        "purpose": _("This code is for linking a group chat: send it in the group as /link CODE."),
        "stale": _("This invite link no longer works: the person who made it can no longer invite people "
                   "there. Please ask your building captain for a new one."),
    }
    return texts.get(reason, texts["unknown"])


def privacy_text(retention_days: int) -> str:
    return _(
        "🔒 <b>What I store and who sees it</b>\n"
        "• Your Telegram name and id, your language and settings, and the places and roles you hold.\n"
        "• What you report: photos, description, place, and when. Captains and office staff of your "
        "community see that you reported it; group chats and other residents never do.\n"
        "• Your phone number only if you share your own contact with me.\n"
        "• Messages I send you are kept for {days} days after delivery, then deleted.\n"
        "Delete your personal data at any time with /deletedata: your name, username, phone, settings "
        "and roles go, messages still waiting for you are cancelled, and sent ones lose your chat and "
        "their text. What stays, without your name: your reports and their photos (kept in the "
        "community's ledger for as long as it keeps its records) and the hours you patrolled."
    ).format(days=retention_days)


async def _roles_line(members: MembersService, member: Member) -> str:
    views = await members.roles_of(member)
    if not views:
        return ""
    parts = [f"{esc(v.place_name)} ({role_label(v.role.role)})" for v in views[:6]]
    return _("You are in: {places}.").format(places=", ".join(parts))


@router.message(CommandStart(deep_link=True))
async def start_with_code(message: Message, command: CommandObject, member: Member, actor: Actor,
                          members: MembersService, onboarding: OnboardingService, households: HouseholdsService,
                          state: FSMContext) -> None:
    await state.clear()
    first = await members.mark_privacy_seen(member)
    try:
        joined = await onboarding.join_with_invite(member, (command.args or "").strip())
    except InviteError as exc:
        await message.answer(invite_error_text(exc.reason))
        await _greet(message, member, await members.actor(member), members, state, first=first)
        return
    actor = await members.actor(member)
    community = esc(joined.place.community.name)
    if joined.newly:
        text = _("Hi {name}! You joined {place} as {role}.").format(
            name=esc(member.display_name), place=esc(joined.place.name), role=role_as(joined.invite.role or ""))
    else:
        text = _("Hi {name}! You are already {role} of {place}.").format(
            name=esc(member.display_name), place=esc(joined.place.name), role=role_as(joined.invite.role or ""))
    text += "\n" + _("I help {community} keep the neighbourhood in shape: report a problem with a photo, "
                     "follow what happens to it, get reminders for cleaning days and patrols.").format(
        community=community)
    if first:
        text += "\n" + _("What I store and who sees it: /privacy")
    await message.answer(text, reply_markup=main_menu(actor.top_level))
    role = joined.invite.role or ""
    building_id = joined.invite.building_id
    if joined.newly and building_id is not None and role in ("resident", "captain") and \
            await has_households(households, building_id) and \
            await households.household_of(member.id, building_id) is None:
        # One question more, with a way past it: the household is one voice in consultations and surveys.
        await ask_household(message, state, households, await households.building(building_id),
                            member.id, "jr" if role == "resident" else "jc")


@router.message(CommandStart())
async def start(message: Message, member: Member, actor: Actor, members: MembersService,
                state: FSMContext) -> None:
    await state.clear()
    first = await members.mark_privacy_seen(member)
    await _greet(message, member, actor, members, state, first=first)


async def _greet(message: Message, member: Member, actor: Actor, members: MembersService, state: FSMContext, *,
                 first: bool) -> None:
    name = esc(member.display_name if member.first_name else message.from_user.first_name  # type: ignore[union-attr]
               if message.from_user else "")
    communities = await members.member_communities(member)
    if communities or actor.is_admin:
        lines = [_("Hi {name}! I help {community} keep the neighbourhood in shape: report a problem with a "
                   "photo, follow what happens to it, get reminders for cleaning days and patrols.").format(
            name=name, community=esc(communities[0].name) if communities else _("your community"))]
        roles = await _roles_line(members, member)
        if roles:
            lines.append(roles)
        if first:
            lines.append(_("What I store and who sees it: /privacy"))
        await message.answer("\n".join(lines), reply_markup=main_menu(actor.top_level))
        return
    all_communities = await members.communities()
    intro = _("Hi {name}! I help residents, volunteers and building captains look after their "
              "neighbourhood together.").format(name=name)
    if first:
        intro += "\n" + _("What I store and who sees it: /privacy")
    if not all_communities:
        await message.answer(intro + "\n\n" + _(
            "No community has been set up here yet. Ask your community office for an invite link."))
        return
    await message.answer(intro)
    await ask_join(message, state, members)


async def _join_question(members: MembersService, level: str, place_id: int) -> tuple[str, InlineKeyboardMarkup]:
    """The joining question after choosing `level` `place_id` ("start": none yet)."""
    if level == "a":
        place = await members.area_place(place_id)
        return _("Which building?"), buildings_kb(await members.buildings(area_id=place_id), place.community_id)
    if level == "c":
        areas = await members.areas(place_id)
        if len(areas) == 1:
            return _("Which building?"), buildings_kb(await members.buildings(area_id=areas[0].id), place_id)
        return _("Which area?"), areas_kb(areas, with_back=True)
    return _("Which community do you live in?"), communities_kb(await members.communities())


async def ask_join(message: Message, state: FSMContext, members: MembersService, level: str = "start",
                   place_id: int = 0) -> None:
    """Ask (again) the joining question the person is at, as a new message."""
    text, markup = await _join_question(members, level, place_id)
    await state.set_state(Joining.choosing)
    await state.update_data(join=[level, place_id])
    await message.answer(text, reply_markup=markup)


async def _join_step(query: CallbackQuery, state: FSMContext, members: MembersService, level: str,
                     place_id: int) -> None:
    text, markup = await _join_question(members, level, place_id)
    await state.set_state(Joining.choosing)
    await state.update_data(join=[level, place_id])
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)
    await query.answer()


@router.callback_query(JoinCb.filter(F.level == "back"))
async def join_back(query: CallbackQuery, state: FSMContext, members: MembersService) -> None:
    await _join_step(query, state, members, "start", 0)


@router.callback_query(JoinCb.filter(F.level == "c"))
async def join_community(query: CallbackQuery, callback_data: JoinCb, state: FSMContext,
                         members: MembersService) -> None:
    if not await members.areas(callback_data.id):
        await query.answer(_("This community has no areas yet."), show_alert=True)
        return
    await _join_step(query, state, members, "c", callback_data.id)


@router.callback_query(JoinCb.filter(F.level == "a"))
async def join_area(query: CallbackQuery, callback_data: JoinCb, state: FSMContext, members: MembersService) -> None:
    await _join_step(query, state, members, "a", callback_data.id)


@router.message(Joining.choosing, ~F.text.startswith("/"))
async def join_wrong_input(message: Message, state: FSMContext, members: MembersService) -> None:
    level, place_id = (await state.get_data()).get("join") or ["start", 0]
    await message.answer(_("Please choose with the buttons."))
    await ask_join(message, state, members, str(level), int(place_id))


@router.callback_query(JoinCb.filter(F.level == "b"))
async def join_building(query: CallbackQuery, callback_data: JoinCb, member: Member, state: FSMContext,
                        onboarding: OnboardingService, households: HouseholdsService) -> None:
    await state.clear()
    if await has_households(households, callback_data.id) and \
            await households.household_of(member.id, callback_data.id) is None and \
            isinstance(query.message, Message):
        # After the building, the flat (unit → floor → room); the request goes to the captains with it.
        await query.answer()
        await ask_household(query.message, state, households,
                            await households.building(callback_data.id), member.id, "rq", edit=True)
        return
    _request, info, is_new = await onboarding.ask_to_join(member, callback_data.id)
    if is_new:
        text = _("I've asked the captains of {building} to confirm. I'll tell you as soon as they do.")
    else:
        text = _("Your request to join {building} is already with its captains. I'll tell you as soon as "
                 "they answer.")
    if isinstance(query.message, Message):
        await query.message.edit_text(text.format(building=esc(info.name)))
    await query.answer()


@router.callback_query(JoinDecisionCb.filter())
async def join_decision(query: CallbackQuery, callback_data: JoinDecisionCb, actor: Actor,
                        onboarding: OnboardingService) -> None:
    request, person, building, changed = await onboarding.decide(actor, callback_data.request_id,
                                                                 callback_data.approve)
    who = esc(person.display_name)
    if request.status == "approved":
        text = _("✅ {name} joined {building} as a resident.").format(name=who, building=esc(building))
    else:
        text = _("❌ The request of {name} to join {building} was declined.").format(
            name=who, building=esc(building))
    if isinstance(query.message, Message) and changed:
        await query.message.edit_text(text)
    await query.answer(_("Done.") if changed else _("Already decided."))


@router.message(Command("help"))
@router.callback_query(MenuCb.filter(F.action == "help"))
async def help_(event: Message | CallbackQuery, actor: Actor) -> None:
    level = actor.top_level
    lines = [_("<b>What I can do for you</b>")]
    for command in visible(level):
        lines.append(f"/{command.name} — {command.description}")
    if level == Level.NONE:
        lines.append(_("To join your building, open the invite link your captain sent, or send /start."))
    message = event if isinstance(event, Message) else event.message
    if isinstance(message, Message):
        await message.answer("\n".join(lines))
    if isinstance(event, CallbackQuery):
        await event.answer()


@router.message(Command("privacy"))
async def privacy(message: Message, settings: Settings) -> None:
    await message.answer(privacy_text(settings.outbox_retention_days))


@router.message(Command("cancel"))
async def cancel(message: Message, state: FSMContext, actor: Actor) -> None:
    had = await state.get_state()
    await state.clear()
    if had:
        await message.answer(_("Cancelled. Nothing was sent."), reply_markup=main_menu(actor.top_level))
    else:
        await message.answer(_("There is nothing to cancel."), reply_markup=main_menu(actor.top_level))


@router.callback_query(CancelCb.filter())
async def cancel_button(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    if isinstance(query.message, Message):
        await query.message.edit_text(_("Cancelled. Nothing was sent."))
    await query.answer()
