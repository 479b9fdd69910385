"""Which flat (户) a person lives in: the picker shown after joining a building, from /settings, and to
captains correcting someone in /members. Tap the unit, then the floor, then the flat — or type it
("2-301", "2单元301"); a wrong flat gets one line and the same question. Glue only: the rules (who may
set whose flat) are in bot/services/households.py."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, use_locale
from bot.keyboards.households import MODES, HhCb
from bot.rendering import esc
from bot.services.access import Actor, NotAllowed, Place, require
from bot.services.households import HouseholdsService, HouseholdView
from bot.services.members import MembersService
from bot.services.onboarding import OnboardingService
from bot.services.outbox import Outbox
from models import Building, Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")

ROOMS_PER_SCREEN = 24  # more flats than this on one floor (or in a numbered building) are grouped
GROUP = 20


class HouseholdPick(StatesGroup):
    """Data `hhp` = [building id, member id, mode]: typed flats are looked up there."""

    choosing = State()


def _n(v: int | None) -> int:
    return -1 if v is None else v


def _v(n: int) -> int | None:
    return None if n < 0 else n


async def has_households(households: HouseholdsService, building_id: int) -> bool:
    return bool((await households.count([building_id])).get(building_id))


def _rows(n: int, per_row: int) -> list[int]:
    """Row widths for n buttons, per_row to a row, the last row holding what is left."""
    return [per_row] * (n // per_row) + ([n % per_row] if n % per_row else [])


def _way_out(kb: InlineKeyboardBuilder, b: int, m: int, mode: str) -> None:
    """The way out fits what the picker is for: a resident may skip and come back in /settings, a captain
    may not live there at all, a correction can be cancelled."""
    labels = {"jr": _("Skip for now"), "rq": _("Skip for now"), "jc": _("I don't live here"),
              "st": _("✖️ Cancel"), "cp": _("✖️ Cancel")}
    kb.button(text=labels[mode], callback_data=HhCb(a="no", b=b, m=m, mo=mode))


async def picker(households: HouseholdsService, building: Building, member_id: int, mode: str, *,
                 unit: int = -1, floor: int = -1, group: int = -1, whose: str | None = None
                 ) -> tuple[str, InlineKeyboardMarkup]:
    """The question on screen: unit, then floor, then flat (each step skipped when there is one choice)."""
    b, m = building.id, member_id
    head = _("For {name}: ").format(name=esc(whose)) if whose else ""
    typed = _("or type the flat, like 2-301.")
    kb = InlineKeyboardBuilder()
    widths: list[int] = []
    back: HhCb | None = None
    units = await households.units(b)
    if unit < 0 and len(units) > 1:
        text = head + _("🏠 Which flat in {building} do you live in? Tap the unit (entrance), {typed}").format(
            building=esc(building.name), typed=typed)
        for u in units:
            kb.button(text=_("Unit {n}").format(n=u) if u is not None else "—",
                      callback_data=HhCb(a="u", b=b, m=m, mo=mode, u=_n(u)))
        widths += _rows(len(units), 4)
    else:
        chosen_unit = _v(unit) if unit >= 0 else units[0] if units else None
        floors = await households.floors(b, chosen_unit)
        where = esc(building.name) + (" · " + _("unit {n}").format(n=chosen_unit) if chosen_unit is not None else "")
        if len(units) > 1:
            back = HhCb(a="top", b=b, m=m, mo=mode)
        if floor < 0 and len(floors) > 1:
            text = head + _("🏠 {where}: which floor? Tap it, {typed}").format(where=where, typed=typed)
            for f in floors:
                kb.button(text=_("Floor {n}").format(n=f) if f is not None else "—",
                          callback_data=HhCb(a="f", b=b, m=m, mo=mode, u=_n(chosen_unit), f=_n(f)))
            widths += _rows(len(floors), 5)
        else:
            chosen_floor = _v(floor) if floor >= 0 else floors[0] if floors else None
            rooms = await households.rooms(b, chosen_unit, chosen_floor)
            if chosen_floor is not None:
                where += " · " + _("floor {n}").format(n=chosen_floor)
            if len(floors) > 1:
                back = HhCb(a="u", b=b, m=m, mo=mode, u=_n(chosen_unit))
            if len(rooms) > ROOMS_PER_SCREEN and group < 0:
                text = head + _("🏠 {where}: which flat? Tap its range, {typed}").format(where=where, typed=typed)
                groups = [rooms[i:i + GROUP] for i in range(0, len(rooms), GROUP)]
                for gi, g in enumerate(groups):
                    kb.button(text=f"{g[0].room}–{g[-1].room}",
                              callback_data=HhCb(a="g", b=b, m=m, mo=mode, u=_n(chosen_unit), f=_n(chosen_floor),
                                                 g=gi))
                widths += _rows(len(groups), 3)
            else:
                if group >= 0:
                    rooms = rooms[group * GROUP:(group + 1) * GROUP]
                    back = HhCb(a="f", b=b, m=m, mo=mode, u=_n(chosen_unit), f=_n(chosen_floor))
                text = head + _("🏠 {where}: which flat? Tap it, {typed}").format(where=where, typed=typed)
                for r in rooms:
                    kb.button(text=r.label, callback_data=HhCb(a="r", b=b, m=m, mo=mode, h=r.id))
                widths += _rows(len(rooms), 4)
    last = 0
    if back is not None:
        kb.button(text=_("⬅️ Back"), callback_data=back)
        last += 1
    _way_out(kb, b, m, mode)
    kb.adjust(*widths, last + 1)
    return text, kb.as_markup()


async def ask(message: Message, state: FSMContext, households: HouseholdsService, building: Building,
              member_id: int, mode: str, *, whose: str | None = None, edit: bool = False) -> None:
    """Show the first question of the picker (as a new message, or by editing `message`)."""
    assert mode in MODES
    text, markup = await picker(households, building, member_id, mode, whose=whose)
    await state.set_state(HouseholdPick.choosing)
    await state.update_data(hhp=[building.id, member_id, mode])
    if edit:
        await message.edit_text(text, reply_markup=markup)
    else:
        await message.answer(text, reply_markup=markup)


async def _target(households: HouseholdsService, actor: Actor, member: Member, member_id: int) -> Member:
    if member_id == member.id:
        return member
    person = await households.member(member_id)
    if person is None or person.data_deleted_at is not None:
        raise LookupError("member")
    return person


async def _chosen(households: HouseholdsService, onboarding: OnboardingService, members: MembersService,
                  outbox: Outbox, actor: Actor, member: Member, mode: str, person: Member, h: HouseholdView | None,
                  building: Building) -> str:
    """Do what the mode asks once a flat is chosen (or skipped: h None); the words to show."""
    if mode == "rq":
        _req, info, is_new = await onboarding.ask_to_join(member, building.id, h.label if h else None)
        if h is not None:
            await households.set_for(actor, member, h.id)
        text = (_("I've asked the captains of {building} to confirm. I'll tell you as soon as they do.") if is_new
                else _("Your request to join {building} is already with its captains. I'll tell you as soon as "
                       "they answer.")).format(building=esc(info.name))
        if h is not None:
            text += "\n" + _("🏠 Your flat: {label}.").format(label=esc(h.label))
        return text
    if h is None:
        if mode == "jc":
            await households.clear_for(actor, person, building.id)
            return _("All right: you are not counted in any flat of {building}.").format(building=esc(building.name))
        if mode in ("st", "cp"):
            return _("Nothing was changed.")
        return _("All right. You can say which flat you live in later, in /settings.")
    await households.set_for(actor, person, h.id)
    if mode == "cp":
        community = await households.community(building.community_id)
        with use_locale(members.locale_for(person, community)):
            note = _("🏠 The captain of {building} recorded you in flat {label}. If that is wrong, change it in "
                     "/settings.").format(building=esc(building.name), label=esc(h.label))
        await outbox.notify(person, key=f"household_set:{person.id}:{h.id}:{int(households.clock().timestamp())}",
                            kind="household_set", text=note, community_id=community.id, tz=community.timezone)
        return _("✅ {name} is now in flat {label} of {building}.").format(
            name=esc(person.display_name), label=esc(h.label), building=esc(building.name))
    return _("✅ You are in flat {label} of {building}. Your household has one voice in consultations and "
             "surveys; change it any time in /settings.").format(label=esc(h.label), building=esc(building.name))


async def _check(households: HouseholdsService, actor: Actor, member: Member, cb: HhCb) -> Member:
    """Callback data is untrusted: the mode must be one the bot offers, and whoever presses may set this
    person's flat in this building (re-checked by the service when the flat is set)."""
    if cb.mo not in MODES or (cb.mo == "cp") != (cb.m != member.id):
        raise NotAllowed("members")
    person = await _target(households, actor, member, cb.m)
    if cb.mo == "cp":
        building = await households.building(cb.b)
        require(actor, "members", Place(building.community_id, building.area_id, building.id))
    if cb.mo != "rq" and not await households.may_choose(person.id, cb.b):
        raise NotAllowed("members")
    return person


@router.callback_query(HhCb.filter(F.a.in_({"top", "u", "f", "g"})))
async def step(query: CallbackQuery, callback_data: HhCb, actor: Actor, member: Member,
               households: HouseholdsService, state: FSMContext) -> None:
    person = await _check(households, actor, member, callback_data)
    building = await households.building(callback_data.b)
    cb = callback_data
    unit = -1 if cb.a == "top" else cb.u
    floor = cb.f if cb.a in ("f", "g") else -1
    group = cb.g if cb.a == "g" else -1
    whose = person.display_name if cb.mo == "cp" else None
    text, markup = await picker(households, building, person.id, cb.mo, unit=unit, floor=floor, group=group,
                                whose=whose)
    await state.set_state(HouseholdPick.choosing)
    await state.update_data(hhp=[building.id, person.id, cb.mo])
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


@router.callback_query(HhCb.filter(F.a.in_({"r", "no"})))
async def choose(query: CallbackQuery, callback_data: HhCb, actor: Actor, member: Member,
                 households: HouseholdsService, onboarding: OnboardingService, members: MembersService,
                 outbox: Outbox, state: FSMContext) -> None:
    person = await _check(households, actor, member, callback_data)
    building = await households.building(callback_data.b)
    h = None
    if callback_data.a == "r":
        h = await households.get(callback_data.h)
        if h is None or h.building_id != building.id:  # only a flat of the building the picker is for
            raise LookupError("household")
    await state.clear()
    text = await _chosen(households, onboarding, members, outbox, actor, member, callback_data.mo, person, h,
                         building)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text)


@router.message(HouseholdPick.choosing, ~F.text.startswith("/"))
async def typed(message: Message, actor: Actor, member: Member, households: HouseholdsService,
                onboarding: OnboardingService, members: MembersService, outbox: Outbox, state: FSMContext) -> None:
    building_id, member_id, mode = (await state.get_data()).get("hhp") or [0, 0, "st"]
    cb = HhCb(a="r", b=int(building_id), m=int(member_id), mo=str(mode))
    person = await _check(households, actor, member, cb)
    building = await households.building(cb.b)
    h = await households.find(building.id, message.text or "") if message.text else None
    whose = person.display_name if cb.mo == "cp" else None
    if h is None:
        await message.answer(_("There is no flat “{typed}” in {building}. Type it like 2-301, or tap below.").format(
            typed=esc((message.text or "")[:20]), building=esc(building.name)))
        await ask(message, state, households, building, person.id, cb.mo, whose=whose)
        return
    await state.clear()
    await message.answer(await _chosen(households, onboarding, members, outbox, actor, member, cb.mo, person, h,
                                       building))
