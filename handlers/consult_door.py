"""Door to door (入户): a captain records, for the households that have not answered, the answer given in
person, unit by unit and room by room, with an optional photo of the signed paper form. Included by
handlers/consultations.py (its router); the progress screen it returns to is there."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, ngettext
from bot.keyboards import consultations as kb
from bot.keyboards.common import edit_or_keep
from bot.notices.consultations import choice_labels
from bot.notices.consultations import error_text as _error
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.consultations import ConsultationError, ConsultationsService
from bot.services.households import HouseholdView
from handlers.consult_states import PRIVATE, Wiz
from models import Consultation

router = Router(name=__name__)


async def missing_groups(actor: Actor, cid: int, consultations: ConsultationsService
                  ) -> dict[tuple[int, int], list[HouseholdView]]:
    """Households that have not answered, per (building, unit), by room (service order)."""
    out: dict[tuple[int, int], list[HouseholdView]] = {}
    for row in await consultations.table(actor, cid):  # checks the right to go door to door
        if row.via is None:
            h = row.household
            out.setdefault((h.building_id, h.unit if h.unit is not None else -1), []).append(h)
    return out


@router.callback_query(kb.ConsultCb.filter(F.a == "dd"), PRIVATE)
async def door_to_door(query: CallbackQuery, callback_data: kb.ConsultCb, actor: Actor,
                       consultations: ConsultationsService) -> None:
    c = await consultations.get(callback_data.c)
    groups = await missing_groups(actor, c.id, consultations)
    if not groups or c.status != "open":
        await query.answer(_("Every household has answered.") if c.status == "open" else _error("closed"),
                           show_alert=True)
        return
    if len(groups) == 1:
        (b, u), flats = next(iter(groups.items()))
        await show_rooms(query, c, b, u, 0, flats)
        return
    names = await consultations.building_names(c)
    several = len({b for b, _u in groups}) > 1
    rows = []
    for (b, u), flats in sorted(groups.items()):
        unit = _("Unit {n}").format(n=u) if u >= 0 else _("No unit")
        rows.append((b, u, f"{names.get(b, '')} · {unit}" if several else unit, len(flats)))
    total = sum(len(f) for f in groups.values())
    await edit_or_keep(query, ngettext("🚪 Door to door: {n} household has not answered. Which unit?",
                                       "🚪 Door to door: {n} households have not answered. Which unit?",
                                       total).format(n=total), kb.units_kb(c.id, rows))
    await query.answer()


async def show_rooms(query: CallbackQuery, c: Consultation, b: int, u: int, page: int,
                 flats: list[HouseholdView]) -> None:
    pages = max(1, (len(flats) + kb.PAGE - 1) // kb.PAGE)
    page = min(max(page, 0), pages - 1)
    text = ngettext("🚪 {n} household has not answered here. Tap it to record its answer, given in person.",
                    "🚪 {n} households have not answered here. Tap one to record its answer, given in person.",
                    len(flats)).format(n=len(flats))
    if pages > 1:
        text += "\n" + _("Page {page} of {pages}").format(page=page + 1, pages=pages)
    await edit_or_keep(query, text, kb.rooms_kb(c.id, b, u, flats, page))
    await query.answer()


async def _missing_household(actor: Actor, consultations: ConsultationsService, cid: int,
                             hid: int) -> HouseholdView | None:
    for flats in (await missing_groups(actor, cid, consultations)).values():
        for h in flats:
            if h.id == hid:
                return h
    return None


@router.callback_query(kb.ConsultCb.filter(F.a == "hh"), PRIVATE)
async def household(query: CallbackQuery, callback_data: kb.ConsultCb, actor: Actor,
                    consultations: ConsultationsService) -> None:
    c = await consultations.get(callback_data.c)
    h = await _missing_household(actor, consultations, c.id, callback_data.h)
    if h is None or c.status != "open":
        await query.answer(_("That household has already answered.") if c.status == "open" else _error("closed"),
                           show_alert=True)
        return
    d = callback_data
    await edit_or_keep(query, _("🚪 Household {label}: what did they answer? It is marked “recorded by the captain, "
                                "in person”.").format(label=esc(h.label)) + "\n\n" + esc(c.question),
                       kb.record_kb(c.id, d.b, d.u, d.p, h.id, choice_labels(c)))
    await query.answer()


@router.callback_query(kb.ConsultCb.filter(F.a == "rc"), PRIVATE)
async def record_answer(query: CallbackQuery, callback_data: kb.ConsultCb, actor: Actor, state: FSMContext,
                        consultations: ConsultationsService) -> None:
    d = callback_data
    c = await consultations.get(d.c)
    h = await _missing_household(actor, consultations, c.id, d.h)
    if h is None:  # answered meanwhile (or a second tap): nothing is overwritten
        await query.answer(_("That household has already answered."), show_alert=True)
        return
    try:
        await consultations.record(actor, c.id, h.id, d.v)
    except ConsultationError as e:
        await query.answer(_error(e.reason) if e.reason != "choice" else _("That answer is not offered."),
                           show_alert=True)
        return
    await state.set_state(Wiz.form)
    await state.set_data({"form": {"c": c.id, "h": h.id, "b": d.b, "u": d.u, "p": d.p}})
    await edit_or_keep(query, _("✅ Household {label}: {choice}, recorded by the captain, in person.").format(
        label=esc(h.label), choice=esc(choice_labels(c)[d.v])) + "\n" +
        _("📷 If you have it, send a photo of the signed paper form."), kb.form_kb(c.id, d.b, d.u, d.p))
    await query.answer()


@router.message(Wiz.form, F.photo)
async def form_photo(message: Message, state: FSMContext, actor: Actor, consultations: ConsultationsService) -> None:
    form = dict((await state.get_data()).get("form") or {})
    await state.clear()
    assert message.photo
    try:
        await consultations.attach_form(actor, int(form["c"]), int(form["h"]), message.photo[-1].file_id)
    except ConsultationError as e:
        await message.answer(_error(e.reason))
        return
    await message.answer(_("📎 The signed form is kept with the answer."),
                         reply_markup=kb.form_kb(int(form["c"]), int(form["b"]), int(form["u"]), int(form["p"])))


@router.message(Wiz.form)
async def form_other(message: Message, state: FSMContext) -> None:
    form = dict((await state.get_data()).get("form") or {})
    await message.answer(_("Please send a photo of the signed form, or tap the button for the next household."),
                         reply_markup=kb.form_kb(int(form.get("c", 0)), int(form.get("b", 0)),
                                                 int(form.get("u", -1)), int(form.get("p", 0))))
