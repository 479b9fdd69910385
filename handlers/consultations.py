"""Consultations: a household's answer from the buttons of the private message (or a reminder); the
/consult wizard (places, question, plan, choices, deadline, rule, secret ballot, preview); the author's
and captains' screens (progress, door to door by unit and room, close early). Glue only: the rules are in
bot/services/consultations.py, the words residents and chats read in bot/notices/consultations.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.clock import Clock
from bot.i18n import _, ngettext, use_locale
from bot.keyboards import consultations as kb
from bot.keyboards.common import edit_or_keep
from bot.notices.consultations import choice_labels, invitation, rule_text, tally_lines, vote_reply
from bot.notices.consultations import error_text as _error
from bot.rendering import esc, local_time, shorten
from bot.services.access import Actor, NotAllowed
from bot.services.consultations import (
    MAX_CHOICES,
    ConsultationError,
    ConsultationsService,
    Tally,
    parse_deadline,
)
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from bot.services.triage import deadline_after_days
from handlers.consult_door import missing_groups, show_rooms
from handlers.consult_door import router as door_router
from handlers.consult_states import PRIVATE, Wiz
from models import Consultation, Member

router = Router(name=__name__)


class VoteCb(CallbackData, prefix="cv"):
    consultation: int
    choice: int


REFUSALS = {
    "closed": lambda: _("This consultation is closed."),
    "no_household": lambda: _("Tell me which flat you live in (/settings) to answer for your household."),
    "choice": lambda: _("That answer is not offered."),
}


@router.callback_query(VoteCb.filter(), F.message.chat.type == "private")
async def vote(query: CallbackQuery, callback_data: VoteCb, actor: Actor, member: Member,
               consultations: ConsultationsService, members: MembersService, outbox: Outbox) -> None:
    # Callback data is untrusted: the service re-loads the consultation, checks the choice exists,
    # the deadline, the member's household in its buildings and the resident's right there.
    try:
        done = await consultations.vote_from_bot(actor, member, callback_data.consultation, callback_data.choice)
    except ConsultationError as e:
        await query.answer(REFUSALS.get(e.reason, REFUSALS["closed"])(), show_alert=True)
        return
    except (NotAllowed, LookupError):
        await query.answer(_("This consultation is not for your building."), show_alert=True)
        return
    c, tz = done.consultation, done.community.timezone
    text = vote_reply(c, done.household.label, done.choice, member.first_name, tz)
    await query.answer(_("Thank you, your household's answer is saved."))
    if query.message is not None:
        await query.message.answer(text)
    for other in done.others:
        with use_locale(members.locale_for(other, done.community)):
            await outbox.notify(other, key=f"consult:{c.id}:hh:{done.household.id}:{other.id}:{query.id}",
                                kind="consult_household", tz=tz, community_id=c.community_id,
                                text=vote_reply(c, done.household.label, done.choice, member.first_name, tz))


# ------------------------------------------------------------------------------------------ /consult


def question_q() -> str:
    return _("❓ What do you ask the households? Type the question in one message, e.g. “Turn the bare yard "
             "into a garden with benches, as in the plan?”")


def plan_q() -> str:
    return _("📎 Is there a plan to look at (公示设计方案)? Send photos, or the design as a PDF or image file. "
             "It goes out with the question.")


def choices_q() -> str:
    return _("🔘 The choices: tap for agree / disagree / no opinion, or type your own, one per line "
             "(2 to 6).")


def deadline_q() -> str:
    return _("⏰ Until when can households answer? Type a date, with a time if you like: 2026-11-27 18:00, "
             "11-27, 11月27日 18:00. Without a time, it closes at 18:00.")


def rule_q(pct: int) -> str:
    return _("📏 When does it pass? The plans' rule: more than {pct}% of ALL households agree (households "
             "that do not answer count as not agreeing).").format(pct=pct)


def threshold_q() -> str:
    return _("Type the threshold as a whole number from 1 to 99, e.g. 66 for “more than 66%”.")


def secret_q() -> str:
    return _("🔒 Secret ballot? Then nobody — not even the office — sees what a household answered, only the "
             "counts and who has answered.")


def _wiz_answer_target(event: Message | CallbackQuery) -> Message | None:
    m = event if isinstance(event, Message) else event.message
    return m if isinstance(m, Message) else None


async def _ask(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Buttons edit the wizard's message in place; typed answers get a new message."""
    if isinstance(event, CallbackQuery):
        await edit_or_keep(event, text, markup)
        await event.answer()
    else:
        await event.answer(text, reply_markup=markup)


async def _draft(state: FSMContext) -> dict[str, Any]:
    data = await state.get_data()
    if "cd" not in data:
        raise LookupError("draft")
    return dict(data["cd"])


async def _save(state: FSMContext, draft: dict[str, Any], step: State | None = None) -> None:
    await state.update_data(cd=draft)
    if step is not None:
        await state.set_state(step)


async def _next(event: Message | CallbackQuery, state: FSMContext, draft: dict[str, Any], step: str,
                consultations: ConsultationsService, member: Member, members: MembersService) -> None:
    """After a step: the following one, or straight back to the preview when editing one field."""
    if draft.get("editing"):
        await _preview(event, state, draft, consultations, member, members)
        return
    order = ["question", "plan", "choices", "deadline", "rule", "secret"]
    following = order[order.index(step) + 1] if step in order[:-1] else None
    if following is None:
        await _preview(event, state, draft, consultations, member, members)
        return
    await _go(event, state, draft, following)


async def _go(event: Message | CallbackQuery, state: FSMContext, draft: dict[str, Any], field: str) -> None:
    screens: dict[str, tuple[State, str, InlineKeyboardMarkup]] = {
        "question": (Wiz.question, question_q(), kb.cancel_kb()),
        "plan": (Wiz.plan, plan_q(), kb.plan_kb(len(draft.get("plan") or []))),
        "choices": (Wiz.choices, choices_q(), kb.choices_kb()),
        "deadline": (Wiz.deadline, deadline_q(), kb.deadline_kb()),
        "rule": (Wiz.rule, rule_q(int(draft.get("pct", 60))), kb.rule_kb(int(draft.get("pct", 60)))),
        "secret": (Wiz.secret, secret_q(), kb.secret_kb()),
    }
    step, text, markup = screens[field]
    await _save(state, draft, step)
    await _ask(event, text, markup)


@router.message(Command("consult"), F.chat.type != "private")
async def consult_in_group(message: Message) -> None:
    await message.answer(_("Please start consultations in a private chat with me: open the bot and send /consult."))


@router.message(Command("consult"))
async def consult(message: Message, state: FSMContext, actor: Actor, consultations: ConsultationsService) -> None:
    await state.clear()
    running = await consultations.visible(actor)
    options = await consultations.options(actor)
    if not running and not options:
        await message.answer(_("Only building captains, area heads and office staff can start a consultation. "
                               "Residents get each consultation from me in private."))
        return
    if not running:
        await _start_wizard(message, state, options)
        return
    lines = [_("🗳 <b>Consultations</b>")]
    builder = InlineKeyboardBuilder()
    for c in running:
        t = await consultations.tally(c.id)
        word = _("open") if c.status == "open" else _("closed")
        lines.append(ngettext("· {question} — {answered} of {total} household answered ({state})",
                              "· {question} — {answered} of {total} households answered ({state})",
                              t.households).format(
            question=esc(shorten(c.question, 60)), answered=t.answered, total=t.households, state=word))
        builder.button(text=_("📊 {question}").format(question=shorten(c.question, 40)),
                       callback_data=kb.ConsultCb(a="pr", c=c.id))
    if options:
        builder.button(text=_("➕ New consultation"), callback_data=kb.WizCb(step="new"))
    builder.adjust(1)
    await message.answer("\n".join(lines), reply_markup=builder.as_markup())


@router.callback_query(kb.WizCb.filter(F.step == "new"), PRIVATE)
async def new_from_list(query: CallbackQuery, state: FSMContext, actor: Actor,
                        consultations: ConsultationsService) -> None:
    options = await consultations.options(actor)
    if not options:
        raise NotAllowed("consult")
    await state.clear()
    await _start_wizard(query, state, options)


async def _start_wizard(event: Message | CallbackQuery, state: FSMContext, options: list[Any]) -> None:
    draft: dict[str, Any] = {"plan": [], "choices": [], "rule": "all", "pct": 60, "secret": False}
    if len(options) == 1:
        o = options[0]
        draft.update(place=o.token, name=o.name, community_id=o.community_id, buildings=list(o.building_ids))
        await _save(state, draft)
        await _go(event, state, draft, "question")
        return
    await _save(state, draft, Wiz.place)
    await _ask(event, _("🗳 New consultation. Which households are asked?"), kb.places_kb(options))


@router.callback_query(Wiz.place, kb.WizCb.filter(F.step == "place"), PRIVATE)
async def choose_place(query: CallbackQuery, callback_data: kb.WizCb, state: FSMContext, actor: Actor,
                       consultations: ConsultationsService) -> None:
    draft = await _draft(state)
    o = await consultations.option(actor, callback_data.v)  # only a place the bot offered
    draft.update(place=o.token, name=o.name if o.kind != "community" else _("the whole community"),
                 community_id=o.community_id, buildings=list(o.building_ids))
    await _go(query, state, draft, "question")


@router.message(Wiz.place)
async def place_typed(message: Message, actor: Actor, consultations: ConsultationsService) -> None:
    await message.answer(_("Please tap one of the buttons.") + "\n" + _("Which households are asked?"),
                         reply_markup=kb.places_kb(await consultations.options(actor)))


@router.message(Wiz.question)
async def got_question(message: Message, state: FSMContext, consultations: ConsultationsService,
                       member: Member, members: MembersService) -> None:
    text = (message.text or "").strip()
    if not text or text.startswith("/") or len(text) > 1000:
        why = _("That is too long: please keep it under 1000 characters.") if len(text) > 1000 else \
            _("I need the question as text.")
        await message.answer(why + "\n" + question_q(), reply_markup=kb.cancel_kb())
        return
    draft = await _draft(state)
    draft["question"] = text
    await _next(message, state, draft, "question", consultations, member, members)


@router.message(Wiz.plan, F.photo | F.document)
async def got_plan(message: Message, state: FSMContext) -> None:
    draft = await _draft(state)
    plan = list(draft.get("plan") or [])
    if message.photo:
        plan.append({"kind": "photo", "file_id": message.photo[-1].file_id})
    else:
        doc = message.document
        assert doc is not None
        mime = doc.mime_type or ""
        if mime != "application/pdf" and not mime.startswith("image/"):
            await message.answer(_("Please send the plan as photos, a PDF or an image file.") + "\n" + plan_q(),
                                 reply_markup=kb.plan_kb(len(plan)))
            return
        plan.append({"kind": "document", "file_id": doc.file_id})
    if len(plan) > 10:
        await message.answer(_("That is enough: at most 10 files.") + "\n" + plan_q(),
                             reply_markup=kb.plan_kb(len(plan) - 1))
        return
    group = message.media_group_id
    earlier = group is not None and any(p.get("group") == group for p in plan[:-1])
    plan[-1]["group"] = group
    draft["plan"] = plan
    await _save(state, draft)
    if earlier:
        return  # one answer per album, not one per photo
    await message.answer(_("📎 Got it. Send more, or tap Done."), reply_markup=kb.plan_kb(len(plan)))


@router.callback_query(Wiz.plan, kb.WizCb.filter(F.step == "plan"), PRIVATE)
async def plan_done(query: CallbackQuery, state: FSMContext, consultations: ConsultationsService,
                    member: Member, members: MembersService) -> None:
    draft = await _draft(state)
    await _next(query, state, draft, "plan", consultations, member, members)


@router.message(Wiz.plan)
async def plan_typed(message: Message, state: FSMContext) -> None:
    draft = await _draft(state)
    await message.answer(_("I need photos or a file here — or tap the button if there is no plan.") + "\n" +
                         plan_q(), reply_markup=kb.plan_kb(len(draft.get("plan") or [])))


@router.callback_query(Wiz.choices, kb.WizCb.filter(F.step == "choices"), PRIVATE)
async def default_choices(query: CallbackQuery, state: FSMContext, consultations: ConsultationsService,
                          member: Member, members: MembersService) -> None:
    draft = await _draft(state)
    draft["choices"] = []
    await _next(query, state, draft, "choices", consultations, member, members)


@router.message(Wiz.choices)
async def typed_choices(message: Message, state: FSMContext, consultations: ConsultationsService,
                        member: Member, members: MembersService) -> None:
    lines = [x.strip() for x in (message.text or "").splitlines() if x.strip()]
    if (message.text or "").startswith("/") or not 2 <= len(lines) <= MAX_CHOICES or \
            any(len(x) > 40 for x in lines) or len(set(lines)) != len(lines):
        await message.answer(_("Please type 2 to 6 different choices, one per line, each under 40 characters.") +
                             "\n" + choices_q(), reply_markup=kb.choices_kb())
        return
    draft = await _draft(state)
    draft["choices"] = lines
    await _next(message, state, draft, "choices", consultations, member, members)


@router.callback_query(Wiz.deadline, kb.WizCb.filter(F.step == "dl"), PRIVATE)
async def deadline_tapped(query: CallbackQuery, callback_data: kb.WizCb, state: FSMContext, clock: Clock,
                          consultations: ConsultationsService, member: Member, members: MembersService) -> None:
    draft = await _draft(state)
    days = 14 if callback_data.v == "14" else 7
    tz = await consultations.timezone(int(draft["community_id"]))
    draft["deadline"] = deadline_after_days(clock(), days, tz).isoformat()
    await _next(query, state, draft, "deadline", consultations, member, members)


@router.message(Wiz.deadline)
async def deadline_typed(message: Message, state: FSMContext, clock: Clock,
                         consultations: ConsultationsService, member: Member, members: MembersService) -> None:
    draft = await _draft(state)
    try:
        at = parse_deadline(message.text or "", clock(), await consultations.timezone(int(draft["community_id"])))
    except ConsultationError as e:
        await message.answer(_error(e.reason) + "\n" + deadline_q(), reply_markup=kb.deadline_kb())
        return
    draft["deadline"] = at.isoformat()
    await _next(message, state, draft, "deadline", consultations, member, members)


@router.callback_query(Wiz.rule, kb.WizCb.filter(F.step == "rule"), PRIVATE)
async def rule_tapped(query: CallbackQuery, callback_data: kb.WizCb, state: FSMContext,
                      consultations: ConsultationsService, member: Member, members: MembersService) -> None:
    draft = await _draft(state)
    if callback_data.v == "pct":
        await _save(state, draft, Wiz.threshold)
        await _ask(query, threshold_q(), kb.cancel_kb())
        return
    draft["rule"] = "answered" if callback_data.v == "answered" else "all"
    await _next(query, state, draft, "rule", consultations, member, members)


@router.message(Wiz.rule)
async def rule_typed(message: Message, state: FSMContext) -> None:
    pct = int((await _draft(state)).get("pct", 60))
    await message.answer(_("Please tap one of the buttons.") + "\n" + rule_q(pct), reply_markup=kb.rule_kb(pct))


@router.message(Wiz.threshold)
async def threshold_typed(message: Message, state: FSMContext) -> None:
    text = (message.text or "").strip().rstrip("%％")
    if not text.isdigit() or not 1 <= int(text) <= 99:
        await message.answer(_("That is not a whole number from 1 to 99.") + "\n" + threshold_q(),
                             reply_markup=kb.cancel_kb())
        return
    draft = await _draft(state)
    draft["pct"] = int(text)
    await _save(state, draft, Wiz.rule)
    await message.answer(rule_q(int(text)), reply_markup=kb.rule_kb(int(text)))


@router.callback_query(Wiz.secret, kb.WizCb.filter(F.step == "secret"), PRIVATE)
async def secret_tapped(query: CallbackQuery, callback_data: kb.WizCb, state: FSMContext,
                        consultations: ConsultationsService, member: Member, members: MembersService) -> None:
    draft = await _draft(state)
    draft["secret"] = callback_data.v == "1"
    await _next(query, state, draft, "secret", consultations, member, members)


@router.message(Wiz.secret)
async def secret_typed(message: Message) -> None:
    await message.answer(_("Please tap one of the buttons.") + "\n" + secret_q(), reply_markup=kb.secret_kb())


def _as_consultation(draft: dict[str, Any]) -> Consultation:
    """An unsaved Consultation for the preview: the words are the ones residents will read."""
    return Consultation(question=draft.get("question", ""), choices=list(draft.get("choices") or []),
                        rule=draft.get("rule", "all"), threshold_pct=int(draft.get("pct", 60)),
                        secret=bool(draft.get("secret")), deadline=datetime.fromisoformat(draft["deadline"]),
                        status="open", plan=list(draft.get("plan") or []))


async def _preview(event: Message | CallbackQuery, state: FSMContext, draft: dict[str, Any],
                   consultations: ConsultationsService, member: Member, members: MembersService) -> None:
    draft["editing"] = False
    await _save(state, draft, Wiz.confirm)
    community = await consultations.community(int(draft["community_id"]))
    tz = community.timezone
    c = _as_consultation(draft)
    target = _wiz_answer_target(event)
    if isinstance(event, CallbackQuery):
        await event.answer()
    if target is None:
        return
    households = sum((await consultations.households.count(list(draft.get("buildings") or []))).values())
    photos = sum(1 for p in c.plan if p.get("kind") == "photo")
    docs = len(c.plan) - photos
    # The buttons residents will tap, shown as text: a button here would do nothing.
    buttons = "  ".join(f"[{esc(label)}]" for label in choice_labels(c))
    await target.answer(invitation(c, tz, _("1-101 (example)")) + "\n" + buttons)
    lines = [_("👆 This is how residents will see it."),
             ngettext("To: {place} — {n} household, every member in private, and a post with the live tally in the "
                      "residents' chats.",
                      "To: {place} — {n} households, every member in private, and a post with the live tally in the "
                      "residents' chats.", households).format(place=esc(str(draft.get("name", ""))), n=households),
             _("Plan: {photos}, {docs}").format(
                 photos=ngettext("{n} photo", "{n} photos", photos).format(n=photos),
                 docs=ngettext("{n} file", "{n} files", docs).format(n=docs)) if c.plan else _("Plan: none"),
             _("Choices: {choices}").format(choices=esc(" / ".join(choice_labels(c)))),
             _("Until: {when}").format(when=local_time(c.deadline, tz)),
             _("Rule: {rule}").format(rule=rule_text(c)),
             _("🔒 Secret ballot") if c.secret else _("🔓 Open ballot: you and the captains see each household's "
                                                      "answer; the chats see only counts.")]
    await target.answer("\n".join(lines), reply_markup=kb.confirm_kb())


@router.callback_query(Wiz.confirm, kb.WizCb.filter(F.step == "edit"), PRIVATE)
async def edit(query: CallbackQuery, callback_data: kb.WizCb, state: FSMContext,
               consultations: ConsultationsService, member: Member, members: MembersService) -> None:
    draft = await _draft(state)
    if callback_data.v == "":
        await _ask(query, _("✏️ What do you want to change?"), kb.edit_kb())
        return
    if callback_data.v == "back" or callback_data.v not in ("question", "plan", "choices", "deadline", "rule",
                                                            "secret"):
        await _preview(query, state, draft, consultations, member, members)
        return
    draft["editing"] = True
    if callback_data.v == "plan":
        draft["plan"] = []  # the plan is sent again from scratch ("No plan" removes it)
    await _go(query, state, draft, callback_data.v)


@router.callback_query(Wiz.confirm, kb.WizCb.filter(F.step == "send"), PRIVATE)
async def send(query: CallbackQuery, state: FSMContext, actor: Actor, member: Member,
               consultations: ConsultationsService) -> None:
    draft = await _draft(state)
    # The service re-checks the right to consult every building at this moment (a role may have ended).
    o = await consultations.option(actor, str(draft.get("place")))
    try:
        c = await consultations.start(
            actor, building_ids=list(o.building_ids), question=str(draft["question"]),
            deadline=datetime.fromisoformat(draft["deadline"]), choices=list(draft.get("choices") or []),
            plan=[{"kind": p["kind"], "file_id": p["file_id"]} for p in draft.get("plan") or []],
            rule=str(draft.get("rule", "all")), threshold_pct=int(draft.get("pct", 60)),
            secret=bool(draft.get("secret")), author=member)
    except ConsultationError as e:
        await query.answer(_error(e.reason), show_alert=True)
        return
    await state.clear()
    t = await consultations.tally(c.id)
    text = _("✅ Sent. Every household member there gets the question privately within a minute or so (quiet hours "
             "respected), and the residents' chats get a post with the live tally. Reminders go 2 days before and "
             "on the morning of the deadline; the result comes to you at the deadline.")
    await edit_or_keep(query, text, kb.progress_kb(c.id, missing=t.households - t.answered, can_close=False,
                                                   is_open=True))
    await query.answer()


@router.message(Wiz.confirm)
async def confirm_typed(message: Message) -> None:
    await message.answer(_("Please tap ✅ Send, ✏️ Edit or ✖️ Cancel."), reply_markup=kb.confirm_kb())


# ------------------------------------------------------------------------------ the author's screens


def progress_text(c: Consultation, t: Tally, tz: str) -> str:
    lines = [_("📊 <b>{question}</b>").format(question=esc(c.question)),
             _("Until {when}").format(when=local_time(c.deadline, tz)) if c.status == "open" else
             _("Closed {when}").format(when=local_time(c.closed_at, tz)), "", *tally_lines(c, t)]
    if t.passed:
        lines.append(_("✅ So far the rule is met."))
    else:
        lines.append(_("⏳ So far the rule is not met."))
    if c.status == "open" and t.decided:
        lines.append(_("The outcome can no longer change, whatever the other households answer."))
    if c.secret:
        lines.append(_("🔒 Secret ballot: only counts and who has answered."))
    return "\n".join(lines)


async def _show_progress(query: CallbackQuery, cid: int, actor: Actor, consultations: ConsultationsService) -> None:
    c, t, can_close = await consultations.progress(actor, cid)
    tz = await consultations.timezone(c.community_id)
    await edit_or_keep(query, progress_text(c, t, tz), kb.progress_kb(
        c.id, missing=t.households - t.answered, can_close=can_close, is_open=c.status == "open"))


@router.callback_query(kb.ConsultCb.filter(F.a == "pr"), PRIVATE)
async def progress(query: CallbackQuery, callback_data: kb.ConsultCb, actor: Actor,
                   consultations: ConsultationsService, state: FSMContext) -> None:
    if await state.get_state() == Wiz.form.state:
        await state.clear()
    await _show_progress(query, callback_data.c, actor, consultations)
    await query.answer()


@router.callback_query(kb.ConsultCb.filter(F.a == "u"), PRIVATE)
async def unit(query: CallbackQuery, callback_data: kb.ConsultCb, actor: Actor,
               consultations: ConsultationsService, state: FSMContext) -> None:
    if await state.get_state() == Wiz.form.state:
        await state.clear()
    c = await consultations.get(callback_data.c)
    if c.status != "open":
        await query.answer(_error("closed"), show_alert=True)
        return
    flats = (await missing_groups(actor, c.id, consultations)).get((callback_data.b, callback_data.u), [])
    if not flats:  # the last one of this unit was just recorded: back to the progress
        await _show_progress(query, c.id, actor, consultations)
        await query.answer(_("Every household here has answered."))
        return
    await show_rooms(query, c, callback_data.b, callback_data.u, callback_data.p, flats)


@router.callback_query(kb.ConsultCb.filter(F.a == "cl"), PRIVATE)
async def close_ask(query: CallbackQuery, callback_data: kb.ConsultCb, actor: Actor,
                    consultations: ConsultationsService) -> None:
    c, t, can_close = await consultations.progress(actor, callback_data.c)
    if not can_close:
        await query.answer(_error("not_author" if actor.member_id != c.author_id else
                                  "closed" if c.status != "open" else "can_still_change"), show_alert=True)
        return
    tz = await consultations.timezone(c.community_id)
    await edit_or_keep(query, progress_text(c, t, tz) + "\n\n" + _("Close it now and send the result?"),
                       kb.close_kb(c.id))
    await query.answer()


@router.callback_query(kb.ConsultCb.filter(F.a == "clgo"), PRIVATE)
async def close_go(query: CallbackQuery, callback_data: kb.ConsultCb, actor: Actor, clock: Clock,
                   consultations: ConsultationsService) -> None:
    try:
        result = await consultations.close(callback_data.c, actor=actor)  # the service decides
    except ConsultationError as e:
        await query.answer(_error(e.reason), show_alert=True)
        return
    if result is None:
        await query.answer(_("Already closed."))
        return
    # Closing recorded ConsultationClosed: its notice (bot/notices/consultations.py) sent the result.
    c = await consultations.get(callback_data.c)
    tz = await consultations.timezone(c.community_id)
    await edit_or_keep(query, progress_text(c, result.tally, tz) + "\n\n" +
                       _("🔒 Closed. The result goes to the residents' chats and the office now."))
    await query.answer()


# Door to door (handlers/consult_door.py): after this router's own handlers, as when they were one module.
router.include_router(door_router)
