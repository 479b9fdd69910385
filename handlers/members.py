"""/members (who holds which role in my places, removing someone, handing a captaincy over) and
/invite (invite links, group link codes, my active invites)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.i18n import _, ngettext
from bot.keyboards.common import edit_or_keep
from bot.keyboards.households import HhCb
from bot.keyboards.members import (
    PAGE,
    InvCb,
    MemCb,
    back_to_invites,
    back_to_members,
    builder,
    finish,
    nav_row,
    page_slice,
    place_code,
    widths,
)
from bot.notices.onboarding import role_as, role_label
from bot.rendering import esc, local_time, split_blocks
from bot.services.access import ROLE_LEVEL, Actor, NotAllowed, Place, can, can_grant
from bot.services.chats import ChatsService
from bot.services.households import HouseholdsService
from bot.services.members import MembersService, PlaceInfo, RoleView
from bot.services.onboarding import OnboardingService
from models import Invite

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")
router.callback_query.filter(F.message.chat.type == "private")

LINES_PER_PAGE = 30  # people per page of the /members list


def _person(view: RoleView) -> str:
    name = esc(view.member.display_name)
    if view.member.username and view.member.data_deleted_at is None:
        name += f" (@{esc(view.member.username)})"
    return name


async def _show(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """A command answers with a new message; a button edits the message it sits on."""
    if isinstance(event, Message):
        await event.answer(text, reply_markup=markup)
    else:
        await edit_or_keep(event, text, markup)
        await event.answer()


# ---------------------------------------------------------------------------- /members


@router.message(Command("members"))
@router.callback_query(MemCb.filter(F.a == "list"))
async def members_cmd(event: Message | CallbackQuery, actor: Actor, members: MembersService,
                      state: FSMContext) -> None:
    await state.clear()
    places = await members.managed_places(actor)
    if not places:
        await _show(event, _("Only building captains, area heads and office staff can see who is in a place. "
                             "To leave your building, use /settings."), None)
        return
    if len(places) == 1:
        await _place_view(event, actor, members, places[0].place, 0, single=True)
        return
    kb = builder()
    for info in places:
        kb.button(text=info.name[:60], callback_data=MemCb(a="place", p=place_code(info.place)))
    kb.button(text=_("✖️ Close"), callback_data=MemCb(a="close"))
    await _show(event, _("👥 Whose people do you want to see?"), finish(kb, [1] * (len(places) + 1)))


@router.callback_query(MemCb.filter(F.a == "close"))
async def members_close(query: CallbackQuery) -> None:
    await edit_or_keep(query, _("Closed. Send /members to open it again."))
    await query.answer()


@router.callback_query(MemCb.filter(F.a == "place"))
async def members_place(query: CallbackQuery, callback_data: MemCb, actor: Actor, members: MembersService) -> None:
    place = await members.place_by_code(callback_data.p)
    single = len(await members.managed_places(actor)) == 1
    await _place_view(query, actor, members, place, callback_data.pg, single=single)


def _sort_key(view: RoleView) -> tuple[int, str, str]:
    return (-ROLE_LEVEL.get(view.role.role, 0), view.place_name, view.member.display_name.lower())


async def _place_view(event: Message | CallbackQuery, actor: Actor, members: MembersService, place: Place,
                      page: int, *, single: bool) -> None:
    views = sorted(await members.members_in_scope(actor, place), key=_sort_key)
    info = await members.place_info(place)
    code = place_code(place)
    page, start, end = page_slice(views, page, LINES_PER_PAGE)
    header = ngettext("👥 <b>{place}</b>: {n} role held", "👥 <b>{place}</b>: {n} roles held", len(views)).format(
        place=esc(info.name), n=len(views))
    lines = [header]
    if not views:
        lines.append(_("Nobody has joined yet. Invite people with /invite."))
    for view in views[start:end]:
        where = f" · {esc(view.place_name)}" if place.kind != "building" else ""
        lines.append(f"• {_person(view)} — {role_label(view.role.role)}{where}")
    if end - start < len(views):
        lines.append(_("Showing {a}–{b} of {n}.").format(a=start + 1, b=end, n=len(views)))
    text = split_blocks(["\n".join(lines)])[0]
    kb = builder()
    navs = nav_row(kb, len(views), page, lambda p: MemCb(a="place", p=code, pg=p), LINES_PER_PAGE)
    rows = [navs]
    if await _removable_views(actor, members, place):
        kb.button(text=_("➖ Remove someone"), callback_data=MemCb(a="rm", p=code))
        rows.append(1)
    if await _handover_buildings(actor, members, place):
        kb.button(text=_("🔁 Hand over captaincy"), callback_data=MemCb(a="ho", p=code))
        rows.append(1)
    if await _flat_building(actor, members, place) is not None:
        kb.button(text=_("🏠 Correct someone's flat"), callback_data=MemCb(a="hh", p=code))
        rows.append(1)
    if single:
        kb.button(text=_("✖️ Close"), callback_data=MemCb(a="close"))
    else:
        kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="list"))
    rows.append(1)
    await _show(event, text, finish(kb, rows))


async def _removable_views(actor: Actor, members: MembersService, place: Place) -> list[RoleView]:
    views = sorted(await members.members_in_scope(actor, place), key=_sort_key)
    out = []
    for v in views:
        if v.member.id == actor.member_id:
            continue
        role_place = await members.role_place(v.role)
        if can_grant(actor, v.role.role, role_place):
            out.append(v)
    return out


async def _handover_buildings(actor: Actor, members: MembersService, place: Place) -> list[int]:
    """Buildings in a place whose captaincy the actor may hand over."""
    if place.kind == "building":
        ids = [place.building_id] if place.building_id is not None else []
    else:
        ids = [b.id for b in await members.buildings(community_id=place.community_id,
                                                   area_id=place.area_id)]
    out = []
    for bid in ids:
        bplace = await members.building_place(bid)
        own = any(g.role == "captain" and g.building_id == bid for g in actor.grants)
        if can(actor, "handover_captain", bplace) or own:
            out.append(bid)
    return out


async def _flat_building(actor: Actor, members: MembersService, place: Place) -> int | None:
    """A building (its own /members screen) that has flats and whose members the actor manages."""
    if place.kind != "building" or place.building_id is None or not can(actor, "members", place):
        return None
    return place.building_id if await members.households.has_flats(place.building_id) else None


@router.callback_query(MemCb.filter(F.a == "hh"))
async def flat_list(query: CallbackQuery, callback_data: MemCb, actor: Actor, members: MembersService,
                    households: HouseholdsService) -> None:
    """Residents of the building with their flats; tapping one opens the picker for them."""
    place = await members.place_by_code(callback_data.p)
    building_id = await _flat_building(actor, members, place)
    if building_id is None:
        raise NotAllowed("members", place)
    views = [v for v in sorted(await members.members_in_scope(actor, place), key=_sort_key)
             if v.role.building_id == building_id]
    people = list({v.member.id: v.member for v in views}.values())
    page, start, end = page_slice(people, callback_data.pg)
    kb = builder()
    for person in people[start:end]:
        mine = await households.household_of(person.id, building_id)
        flat = mine.label if mine else _("no flat")
        label = f"{person.display_name} · {flat}"
        kb.button(text=label[:60], callback_data=HhCb(a="top", b=building_id, m=person.id, mo="cp"))
    navs = nav_row(kb, len(people), page, lambda p: MemCb(a="hh", p=callback_data.p, pg=p))
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="place", p=callback_data.p))
    await _show(query, _("Whose flat do you want to correct? They will be told."),
                finish(kb, [1] * (end - start) + [navs, 1]))


@router.callback_query(MemCb.filter(F.a == "rm"))
async def remove_list(query: CallbackQuery, callback_data: MemCb, actor: Actor, members: MembersService) -> None:
    place = await members.place_by_code(callback_data.p)
    views = await _removable_views(actor, members, place)
    if not views:
        await _show(query, _("There is nobody here you can remove."), back_to_members(callback_data.p))
        return
    page, start, end = page_slice(views, callback_data.pg)
    kb = builder()
    for v in views[start:end]:
        label = f"{v.member.display_name} · {role_label(v.role.role)}"
        if place.kind != "building":
            label += f" · {v.place_name}"
        kb.button(text=label[:60], callback_data=MemCb(a="rmask", p=callback_data.p, id=v.role.id))
    navs = nav_row(kb, len(views), page, lambda p: MemCb(a="rm", p=callback_data.p, pg=p))
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="place", p=callback_data.p))
    await _show(query, _("Whom do you want to remove? They will be told."),
                finish(kb, [1] * (end - start) + [navs, 1]))


@router.callback_query(MemCb.filter(F.a == "rmask"))
async def remove_ask(query: CallbackQuery, callback_data: MemCb, actor: Actor, members: MembersService) -> None:
    view = await members.role_view(callback_data.id)
    if not can_grant(actor, view.role.role, await members.role_place(view.role)):
        raise NotAllowed("remove_member", None, None)
    kb = builder()
    kb.button(text=_("✅ Yes, remove"), callback_data=MemCb(a="rmgo", p=callback_data.p, id=view.role.id))
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="rm", p=callback_data.p))
    await _show(query, _("Remove {name} as {role} of {place}? They will be told.").format(
        name=_person(view), role=role_as(view.role.role), place=esc(view.place_name)), finish(kb, [1, 1]))


@router.callback_query(MemCb.filter(F.a == "rmgo"))
async def remove_go(query: CallbackQuery, callback_data: MemCb, actor: Actor,
                    onboarding: OnboardingService) -> None:
    try:
        view = await onboarding.remove_from_place(actor, callback_data.id)
    except LookupError:
        # Pressed twice, or someone else removed them first.
        await query.answer(_("Already done."))
        return
    await _show(query, _("Done: {name} is no longer {role} of {place}.").format(
        name=_person(view), role=role_as(view.role.role), place=esc(view.place_name)),
        back_to_members(callback_data.p))


# ---- handing a captaincy over: building → current captain → new captain (a resident) → confirm


@router.callback_query(MemCb.filter(F.a == "ho"))
async def handover_start(query: CallbackQuery, callback_data: MemCb, actor: Actor, members: MembersService) -> None:
    place = await members.place_by_code(callback_data.p)
    ids = await _handover_buildings(actor, members, place)
    if not ids:
        raise NotAllowed("handover_captain", place, None)
    if len(ids) == 1:
        await _handover_from(query, callback_data.p, ids[0], actor, members)
        return
    page, start, end = page_slice(ids, callback_data.pg)
    kb = builder()
    for bid in ids[start:end]:
        info = await members.place_info(await members.building_place(bid))
        kb.button(text=info.name[:60], callback_data=MemCb(a="hob", p=callback_data.p, id=bid))
    navs = nav_row(kb, len(ids), page, lambda p: MemCb(a="ho", p=callback_data.p, pg=p))
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="place", p=callback_data.p))
    await _show(query, _("Which building's captaincy do you want to hand over?"),
                finish(kb, [*widths(end - start, 2), navs, 1]))


@router.callback_query(MemCb.filter(F.a == "hob"))
async def handover_building(query: CallbackQuery, callback_data: MemCb, actor: Actor,
                            members: MembersService) -> None:
    await _handover_from(query, callback_data.p, callback_data.id, actor, members)


async def _handover_from(query: CallbackQuery, code: str, building_id: int, actor: Actor,
                         members: MembersService) -> None:
    place = await members.building_place(building_id)
    captains = await members.holders("captain", place)
    if not can(actor, "handover_captain", place):
        # A captain hands over only their own captaincy.
        captains = [c for c in captains if c.id == actor.member_id]
    info = await members.place_info(place)
    if not captains:
        await _show(query, _("{building} has no captain yet. Invite one with /invite.").format(
            building=esc(info.name)), back_to_members(code))
        return
    if len(captains) == 1:
        await _handover_targets(query, code, building_id, captains[0].id, 0, actor, members)
        return
    kb = builder()
    for c in captains:
        kb.button(text=c.display_name[:60], callback_data=MemCb(a="hof", p=code, id=building_id, fr=c.id))
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="place", p=code))
    await _show(query, _("{building} has several captains. Whose captaincy is handed over?").format(
        building=esc(info.name)), finish(kb, [1] * (len(captains) + 1)))


@router.callback_query(MemCb.filter(F.a == "hof"))
async def handover_from(query: CallbackQuery, callback_data: MemCb, actor: Actor, members: MembersService) -> None:
    await _handover_targets(query, callback_data.p, callback_data.id, callback_data.fr, callback_data.pg,
                            actor, members)


async def _handover_targets(query: CallbackQuery, code: str, building_id: int, from_id: int, page: int,
                            actor: Actor, members: MembersService) -> None:
    targets = await members.handover_targets(actor, building_id)
    info = await members.place_info(await members.building_place(building_id))
    if not targets:
        await _show(query, _("Nobody else has joined {building} as a resident yet, so there is nobody to hand "
                             "the captaincy to. Invite residents first with /invite.").format(
            building=esc(info.name)), back_to_members(code))
        return
    page, start, end = page_slice(targets, page)
    kb = builder()
    for m in targets[start:end]:
        kb.button(text=m.display_name[:60], callback_data=MemCb(a="hot", p=code, id=building_id, fr=from_id,
                                                                to=m.id))
    navs = nav_row(kb, len(targets), page, lambda p: MemCb(a="hof", p=code, id=building_id, fr=from_id, pg=p))
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="place", p=code))
    await _show(query, _("Who becomes the new captain of {building}? (Residents of the building)").format(
        building=esc(info.name)), finish(kb, [1] * (end - start) + [navs, 1]))


@router.callback_query(MemCb.filter(F.a == "hot"))
async def handover_ask(query: CallbackQuery, callback_data: MemCb, actor: Actor, members: MembersService) -> None:
    # Only the captain and the candidate that were offered (a forged id → "can't find that").
    old, new = await members.handover_choice(actor, callback_data.id, callback_data.fr, callback_data.to)
    info = await members.place_info(await members.building_place(callback_data.id))
    kb = builder()
    kb.button(text=_("✅ Yes, hand over"), callback_data=MemCb(a="hog", p=callback_data.p, id=callback_data.id,
                                                              fr=callback_data.fr, to=callback_data.to))
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="place", p=callback_data.p))
    await _show(query, _("Hand the captaincy of {building} over from {old} to {new}? Both will be told.").format(
        building=esc(info.name), old=esc(old.display_name), new=esc(new.display_name)), finish(kb, [1, 1]))


@router.callback_query(MemCb.filter(F.a == "hog"))
async def handover_go(query: CallbackQuery, callback_data: MemCb, actor: Actor,
                      onboarding: OnboardingService) -> None:
    try:
        _old, new, building = await onboarding.hand_over(actor, callback_data.id, callback_data.fr, callback_data.to)
    except LookupError:
        await query.answer(_("Already done."))
        return
    await _show(query, _("✅ {name} is now the captain of {building}.").format(
        name=esc(new.display_name), building=esc(building)), back_to_members(callback_data.p))


# ---------------------------------------------------------------------------- /invite


def _invite_line(n: int, invite: Invite, place_name: str, tz: str) -> str:
    until = local_time(invite.expires_at, tz, "%Y-%m-%d %H:%M")
    if invite.purpose == "link":
        kind = _("team chat") if invite.chat_kind == "team" else _("residents' chat")
        return _("{n}. group link code · {place} · {kind} · until {until}").format(
            n=n, place=esc(place_name), kind=kind, until=until)
    uses = f"{invite.uses}/{invite.max_uses}" if invite.max_uses else str(invite.uses)
    return _("{n}. {place} · {role} · until {until} · used {uses}").format(
        n=n, place=esc(place_name), role=role_label(invite.role or ""), until=until, uses=uses)


async def _invite_place(members: MembersService, invite: Invite) -> Place:
    if invite.building_id is not None:
        return await members.building_place(invite.building_id)
    return Place(invite.community_id, invite.area_id)


@router.message(Command("invite"))
@router.callback_query(InvCb.filter(F.a == "home"))
async def invite_home(event: Message | CallbackQuery, actor: Actor, members: MembersService,
                      state: FSMContext) -> None:
    await state.clear()
    can_invite = bool(await members.invite_places(actor))
    can_link = bool(await members.link_places(actor))
    if not can_invite and not can_link:
        await _show(event, _("Only building captains, area heads and office staff can invite people. If you "
                             "want a neighbour to join, tell them to send /start to me."), None)
        return
    invites = await members.invites_by(actor)
    lines = [_("🔗 <b>Invites</b>"),
             _("Make an invite link for a new resident, volunteer or captain, or a code that links a group "
               "chat to a place.")]
    kb = builder()
    sizes: list[int] = []
    if can_invite:
        kb.button(text=_("➕ Invite someone"), callback_data=InvCb(a="places"))
    if can_link:
        kb.button(text=_("🔗 Group link code"), callback_data=InvCb(a="link"))
    sizes.append(int(can_invite) + int(can_link))
    if invites:
        lines.append("")
        lines.append(_("<b>My active invites</b>"))
        for n, invite in enumerate(invites[:PAGE], 1):
            info = await members.place_info(await _invite_place(members, invite))
            lines.append(_invite_line(n, invite, info.name, info.community.timezone))
            kb.button(text=_("🗑 Revoke {n}").format(n=n), callback_data=InvCb(a="revoke", id=invite.id))
        sizes += [4] * (-(-min(len(invites), PAGE) // 4))
        if len(invites) > PAGE:
            lines.append(_("…and {n} more. Revoke some to see them.").format(n=len(invites) - PAGE))
    # A successor (the next captain, the area head, staff) sees and may revoke what others made for
    # their places: a link made by someone who left keeps working only while its maker may still grant.
    others = await members.invites_for_my_places(actor)
    if others:
        first = min(len(invites), PAGE) + 1
        lines.append("")
        lines.append(_("<b>Made by others for your places</b>"))
        for n, invite in enumerate(others[:PAGE], first):
            info = await members.place_info(await _invite_place(members, invite))
            maker = await members.get(invite.created_by) if invite.created_by else None
            who = _("a former member") if maker is not None and maker.data_deleted_at else \
                (maker.display_name if maker is not None else _("the command line"))
            lines.append(_invite_line(n, invite, info.name, info.community.timezone) + " · "
                         + _("by {name}").format(name=esc(who)))
            kb.button(text=_("🗑 Revoke {n}").format(n=n), callback_data=InvCb(a="revoke", id=invite.id))
        sizes += [4] * (-(-min(len(others), PAGE) // 4))
        if len(others) > PAGE:
            lines.append(_("…and {n} more. Revoke some to see them.").format(n=len(others) - PAGE))
    kb.button(text=_("✖️ Close"), callback_data=InvCb(a="close"))
    sizes.append(1)
    await _show(event, "\n".join(lines), finish(kb, sizes))


@router.callback_query(InvCb.filter(F.a == "close"))
async def invite_close(query: CallbackQuery) -> None:
    await edit_or_keep(query, _("Closed. Send /invite to open it again."))
    await query.answer()


@router.callback_query(InvCb.filter(F.a == "revoke"))
async def invite_revoke(query: CallbackQuery, callback_data: InvCb, actor: Actor, members: MembersService,
                        state: FSMContext) -> None:
    await members.revoke_invite(actor, callback_data.id)
    await invite_home(query, actor, members, state)


def _places_kb(infos: list[PlaceInfo], page: int, action: str, back: InvCb) -> InlineKeyboardMarkup:
    page, start, end = page_slice(infos, page)
    kb = builder()
    for info in infos[start:end]:
        kb.button(text=info.name[:60], callback_data=InvCb(a=action, p=place_code(info.place)))
    navs = nav_row(kb, len(infos), page, lambda p: InvCb(a="places" if action == "place" else "link", pg=p))
    kb.button(text=_("⬅️ Back"), callback_data=back)
    return finish(kb, [1] * (end - start) + [navs, 1])


@router.callback_query(InvCb.filter(F.a == "places"))
async def invite_places(query: CallbackQuery, callback_data: InvCb, actor: Actor, members: MembersService) -> None:
    infos = await members.invite_places(actor)
    if not infos:
        raise NotAllowed("invite", None, None)
    if len(infos) == 1:
        await _invite_roles(query, infos[0].place, actor, members, single=True)
        return
    await _show(query, _("Where will the new person belong?"),
                _places_kb(infos, callback_data.pg, "place", InvCb(a="home")))


@router.callback_query(InvCb.filter(F.a == "place"))
async def invite_place(query: CallbackQuery, callback_data: InvCb, actor: Actor, members: MembersService) -> None:
    await _invite_roles(query, await members.place_by_code(callback_data.p), actor, members, single=False)


async def _invite_roles(query: CallbackQuery, place: Place, actor: Actor, members: MembersService, *,
                        single: bool) -> None:
    roles = members.grantable_roles(actor, place)
    if not roles:
        raise NotAllowed("invite", place, None)
    info = await members.place_info(place)
    kb = builder()
    for role in roles:
        kb.button(text=role_label(role), callback_data=InvCb(a="make", p=place_code(place), v=role))
    kb.button(text=_("⬅️ Back"), callback_data=InvCb(a="home" if single else "places"))
    await _show(query, _("{place}: invite them as…").format(place=esc(info.name)),
                finish(kb, [*widths(len(roles), 2), 1]))


@router.callback_query(InvCb.filter(F.a == "make"))
async def invite_make(query: CallbackQuery, callback_data: InvCb, actor: Actor, members: MembersService,
                      bot: Bot) -> None:
    place = await members.place_by_code(callback_data.p)
    invite = await members.create_invite(actor, role=callback_data.v, place=place)
    info = await members.place_info(place)
    me = await bot.me()
    url = f"https://t.me/{me.username}?start={invite.code}"
    text = _("🔗 Invite link for {role} of {place}:\n{url}\n\nValid until {until}, for up to {n} people. "
             "Send it to them: opening it and pressing Start is all they need to do.").format(
        role=role_as(invite.role or ""), place=esc(info.name), url=esc(url),
        until=local_time(invite.expires_at, info.community.timezone), n=invite.max_uses or "∞")
    await _show(query, text, back_to_invites())


@router.callback_query(InvCb.filter(F.a == "link"))
async def link_places(query: CallbackQuery, callback_data: InvCb, actor: Actor, members: MembersService) -> None:
    infos = await members.link_places(actor)
    if not infos:
        raise NotAllowed("link_chat", None, None)
    if len(infos) == 1:
        await _link_kinds(query, infos[0].place, members, single=True)
        return
    await _show(query, _("Which place is the group chat for?"),
                _places_kb(infos, callback_data.pg, "lplace", InvCb(a="home")))


@router.callback_query(InvCb.filter(F.a == "lplace"))
async def link_place(query: CallbackQuery, callback_data: InvCb, members: MembersService) -> None:
    await _link_kinds(query, await members.place_by_code(callback_data.p), members, single=False)


async def _link_kinds(query: CallbackQuery, place: Place, members: MembersService, *, single: bool) -> None:
    info = await members.place_info(place)
    code = place_code(place)
    kb = builder()
    kb.button(text=_("👥 Team chat"), callback_data=InvCb(a="lmake", p=code, v="team"))
    kb.button(text=_("🏠 Residents' chat"), callback_data=InvCb(a="lmake", p=code, v="residents"))
    kb.button(text=_("⬅️ Back"), callback_data=InvCb(a="home" if single else "link"))
    await _show(query, _("{place}: what kind of group is it?\n👥 Team chat: captains, volunteers and staff work "
                         "on reports there.\n🏠 Residents' chat: announcements and reminders for residents.").format(
        place=esc(info.name)), finish(kb, [2, 1]))


@router.callback_query(InvCb.filter(F.a == "lmake"))
async def link_make(query: CallbackQuery, callback_data: InvCb, actor: Actor, members: MembersService,
                    chats: ChatsService) -> None:
    if callback_data.v not in {"team", "residents"}:
        raise LookupError("chat_kind")
    place = await members.place_by_code(callback_data.p)
    invite = await members.create_invite(actor, role=None, place=place, purpose="link", chat_kind=callback_data.v)
    info = await members.place_info(place)
    kind = _("team chat") if callback_data.v == "team" else _("residents' chat")
    text = _("Add me to the group, then send this message there:\n<code>/link {code}</code>\n\nIt links the group "
             "as the {kind} of {place}. The code works once, until {until}.").format(
        code=esc(invite.code), kind=kind, place=esc(info.name),
        until=local_time(invite.expires_at, info.community.timezone))
    current = await chats.chat_for(place, callback_data.v)
    if current is not None:
        text += "\n" + _("{place} already has a {kind}; the new group will replace it.").format(
            place=esc(info.name), kind=kind)
    await _show(query, text, back_to_invites())

