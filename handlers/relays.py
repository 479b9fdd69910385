"""Relays through the bot: 📞 Put in touch on a private matter's card (the captain names the other
household), 🗳 Start a consultation on a joint matter's card, /contacts with ✉️ Message, and the
writing step both share (✉️ Write / ↩️ Reply → the next text or photo is relayed). Glue only: the rules
are in bot/services/relays.py, the words of what the other side reads in bot/notices/relays.py."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, ngettext
from bot.keyboards.common import cancel_kb
from bot.keyboards.issues import IssueCb, consult_confirm_buttons, markup
from bot.keyboards.relays import (
    MAX_ROOM_BUTTONS,
    RelayCb,
    contact_buttons,
    floors_buttons,
    rooms_buttons,
    units_buttons,
)
from bot.notices import relays as words
from bot.notices.cards import fmt_when as when_text
from bot.rendering import esc, shorten
from bot.services.access import Actor, NotAllowed
from bot.services.households import HouseholdsService
from bot.services.limits import DailyLimitReached
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from bot.services.relays import MAX_TEXT, RelayError, RelayService
from handlers.errors import limit_text
from handlers.triage import denied, go_private, headline, show
from models import Member

router = Router(name=__name__)


class RelayFlow(StatesGroup):
    household = State()  # the captain types the other side's flat ("2-301")
    text = State()  # the next text or photo goes to the other side of relay `relay_id`


def refusal(reason: str) -> str:
    return {
        "closed": _("This conversation is closed: the matter is settled or no longer a private matter."),
        "role_ended": _("This contact no longer holds that role. Please open /contacts again to see who to "
                        "write to now."),
        "not_party": _("This conversation is not yours."),
        "no_reporter": _("The reporter deleted their data, so I can't put anyone in touch with them."),
        "no_household": _("I can't find that flat in this building. Please type it like 2-301, or pick it."),
        "nobody_home": _("Nobody from there uses the bot yet, so I can't pass messages on. Please talk to them "
                         "in person."),
        "empty": _("Please write a few words or send a photo."),
        "too_long": _("That is too long: please keep it under {n} characters.").format(n=MAX_TEXT),
        "no_building": _("This report has no building, so there is nobody to put in touch or to consult."),
        "not_joint": _("A consultation is started from a joint matter (小事) that is still open."),
    }.get(reason, _("This button is no longer active."))


# ---------------------------------------------------------------------------- 📞 Put in touch


async def _picker(relays: RelayService, households: HouseholdsService, issue_id: int, building_id: int,
                  unit: int | None = None, floor: int | None = None, step: str = "u") -> list[list[tuple[str, str]]]:
    """Unit, then floor, then room — each step skipped when there is only one choice."""
    if step == "u":
        units = await households.units(building_id)
        if len(units) > 1:
            return units_buttons(issue_id, units)
        unit, step = (units[0] if units else None), "f"
    if step == "f":
        floors = await households.floors(building_id, unit)
        if len(floors) > 1:
            return floors_buttons(issue_id, unit, floors)
        floor = floors[0] if floors else None
    rooms = await households.rooms(building_id, unit, floor)
    if len(rooms) > MAX_ROOM_BUTTONS:
        return []
    return rooms_buttons(issue_id, [(h.id, h.label) for h in rooms])


@router.callback_query(IssueCb.filter(F.action == "touch"))
async def on_touch(query: CallbackQuery, callback_data: IssueCb, actor: Actor, relays: RelayService,
                   households: HouseholdsService, bot: Bot, state: FSMContext) -> None:
    try:
        issue = await relays.touch_check(actor, callback_data.id)
    except NotAllowed as exc:
        await denied(query, relays, callback_data.id, exc)
        return
    except RelayError as exc:
        await query.answer(refusal(exc.reason), show_alert=True)
        return
    assert issue.building_id is not None
    rows = await _picker(relays, households, issue.id, issue.building_id)
    head = await headline(relays, issue)
    await go_private(query, bot, state, RelayFlow.household, {"issue_id": issue.id},
                     _("📞 {headline}: who is the other side? Type their flat, like 2-301, or pick it below. I'll "
                       "put them in touch with the reporter through the bot, without names or phone numbers.")
                     .format(headline=head), rows or None)


async def _start(actor: Actor, relays: RelayService, outbox: Outbox, members: MembersService, issue_id: int,
                 household_id: int) -> str:
    try:
        started = await relays.start_issue_relay(actor, issue_id, household_id)
    except RelayError as exc:
        return refusal(exc.reason)
    if started.changed:
        await words.introduce(outbox, members, started)
        return _("🤝 Done: the reporter and the household in {flat} can now write to each other through me. "
                 "Either side can press 🤝 Settled; when both do, the report is closed.").format(
            flat=esc(started.info.household.label if started.info.household else ""))
    return _("They are already in touch about this report.")


@router.callback_query(RelayCb.filter(F.action.in_({"u", "f", "h"})), F.message.chat.type == "private")
async def on_pick(query: CallbackQuery, callback_data: RelayCb, actor: Actor, relays: RelayService,
                  households: HouseholdsService, outbox: Outbox, members: MembersService,
                  state: FSMContext) -> None:
    issue_id, arg = callback_data.id, callback_data.arg
    try:
        issue = await relays.touch_check(actor, issue_id)
    except NotAllowed as exc:
        await denied(query, relays, issue_id, exc)
        return
    except RelayError as exc:
        await query.answer(refusal(exc.reason), show_alert=True)
        return
    assert issue.building_id is not None
    if callback_data.action == "h":
        await state.clear()
        text = await _start(actor, relays, outbox, members, issue_id, int(arg) if arg.isdigit() else 0)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(text)
        return
    try:
        if callback_data.action == "u":
            rows = await _picker(relays, households, issue_id, issue.building_id,
                                 unit=int(arg) if arg.isdigit() else None, step="f")
        else:
            u, _sep, f = arg.partition(".")
            rows = await _picker(relays, households, issue_id, issue.building_id,
                                 unit=int(u) if u.isdigit() else None, floor=int(f) if f.isdigit() else None,
                                 step="r")
    except ValueError:
        rows = []
    await query.answer(None if rows else _("Please type the flat, like 2-301."))
    if rows and isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=markup(rows))
        except TelegramBadRequest:
            pass


@router.message(RelayFlow.household, F.text, ~F.text.startswith("/"))
async def household_typed(message: Message, state: FSMContext, actor: Actor, relays: RelayService, outbox: Outbox,
                          members: MembersService) -> None:
    issue_id = int((await state.get_data()).get("issue_id") or 0)
    try:
        household = await relays.find_household(actor, issue_id, message.text or "")
    except (NotAllowed, RelayError, LookupError):
        await state.clear()
        await message.answer(refusal("closed"))
        return
    if household is None:
        await message.answer(refusal("no_household"), reply_markup=cancel_kb())
        return
    await state.clear()
    await message.answer(await _start(actor, relays, outbox, members, issue_id, household.id))


# ---------------------------------------------------------------------------- 🗳 Start a consultation


@router.callback_query(IssueCb.filter(F.action == "consult"))
async def on_consult(query: CallbackQuery, callback_data: IssueCb, actor: Actor, member: Member,
                     relays: RelayService, outbox: Outbox) -> None:
    try:
        if callback_data.arg != "go":
            issue = await relays.consult_check(actor, callback_data.id)
            existing = await relays.linked_consultation(issue)
            if existing is None:
                # Nothing happens until the confirmation: the question is shown first.
                await query.answer(shorten(_("Ask every household of the building: “{question}” — agree / "
                                             "disagree / no opinion, 7 days, passes with more than 60% of all "
                                             "households.").format(question=issue.description or issue.hashtag),
                                           200), show_alert=True)
                await show(query, relays, actor, issue, consult_confirm_buttons(issue.id))
                return
        done = await relays.start_consultation(actor, member, callback_data.id)
    except NotAllowed as exc:
        await denied(query, relays, callback_data.id, exc)
        return
    except RelayError as exc:
        await query.answer(refusal(exc.reason), show_alert=True)
        return
    community = await relays.community_of(done.issue)
    deadline = when_text(done.consultation.deadline, community.timezone, relays.clock())
    if done.changed:
        await query.answer(_("🗳 Consultation started."))
        text = ngettext(
            "🗳 Consultation started for {building} about {headline}: every household is asked by the "
            "bot, and captains can record answers door to door.\n❓ {question}\n⏰ Until {deadline} · passes "
            "when more than 60% of all {households} household agree.\nThe result will show on the card and "
            "in the timeline of {ref}.",
            "🗳 Consultation started for {building} about {headline}: every household is asked by the "
            "bot, and captains can record answers door to door.\n❓ {question}\n⏰ Until {deadline} · passes "
            "when more than 60% of all {households} households agree.\nThe result will show on the card and "
            "in the timeline of {ref}.", done.households)
    else:
        await query.answer(_("A consultation is already linked to this report."))
        text = ngettext(
            "🗳 {headline} already has a consultation for {building}.\n❓ {question}\n⏰ Until {deadline} · "
            "{households} household. The result will show on the card and in the timeline of {ref}.",
            "🗳 {headline} already has a consultation for {building}.\n❓ {question}\n⏰ Until {deadline} · "
            "{households} households. The result will show on the card and in the timeline of {ref}.", done.households)
    body = text.format(building=esc(done.building), headline=await headline(relays, done.issue),
                       question=esc(done.consultation.question), deadline=deadline, households=done.households,
                       ref=done.issue.hashtag)
    await outbox.notify(member, key=f"consult_from_issue:{done.issue.id}:{done.consultation.id}:{member.id}:"
                        f"{query.id}", kind="consult_link", text=body, community_id=done.issue.community_id,
                        tz=community.timezone, urgent=True)
    await show(query, relays, actor, done.issue)


# ---------------------------------------------------------------------------- /contacts


@router.message(Command("contacts"), F.chat.type == "private")
async def contacts_cmd(message: Message, member: Member, relays: RelayService) -> None:
    contacts = await relays.contacts(member)
    if not contacts:
        await message.answer(_("Once you have joined a building, /contacts shows its captains, the area head "
                               "and the community office."))
        return
    roles = {"captain": _("Building captain"), "area_head": _("Area head"), "office": _("Community office")}
    lines = [_("📇 <b>Who to talk to</b>"), ""]
    buttons: list[tuple[str, str]] = []
    for c in contacts:
        who = c.place if c.role == "office" else f"{c.name} · {c.place}"
        line = f"<b>{esc(roles[c.role])}</b>: {esc(who)}"
        if c.hours:
            line += "\n🕘 " + esc(c.hours)
        if not c.reachable:
            line += "\n" + _("(not reachable through the bot yet)")
        lines.append(line)
        if c.reachable:
            buttons.append((c.key, _("✉️ Message {name}").format(name=c.name if c.role != "office"
                                                                     else roles["office"])))
    lines += ["", _("Messages go through the bot: your username and phone number stay private.")]
    await message.answer("\n".join(lines), reply_markup=markup(contact_buttons(buttons)) if buttons else None)


@router.message(Command("contacts"))
async def contacts_in_group(message: Message) -> None:
    await message.reply(_("Please use /contacts in our private chat."))


@router.callback_query(RelayCb.filter(F.action == "c"), F.message.chat.type == "private")
async def on_contact(query: CallbackQuery, callback_data: RelayCb, actor: Actor, member: Member,
                     relays: RelayService, state: FSMContext) -> None:
    try:
        info = await relays.open_contact(actor, member, callback_data.arg)
    except (NotAllowed, RelayError) as exc:
        reason = exc.reason if isinstance(exc, RelayError) else "role_ended"
        await query.answer(refusal(reason), show_alert=True)
        return
    await state.set_state(RelayFlow.text)
    await state.set_data({"relay_id": info.relay.id})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(words.write_prompt(info), reply_markup=cancel_kb())


# ---------------------------------------------------------------------------- writing and settling


@router.callback_query(RelayCb.filter(F.action == "w"))
async def on_write(query: CallbackQuery, callback_data: RelayCb, actor: Actor, member: Member,
                   relays: RelayService, bot: Bot, state: FSMContext) -> None:
    try:
        info = await relays.open_side(actor, member, callback_data.id)
    except RelayError as exc:
        await query.answer(refusal(exc.reason), show_alert=True)
        return
    # From the office's group chat the answer is written in the presser's private chat.
    await go_private(query, bot, state, RelayFlow.text, {"relay_id": info.relay.id}, words.write_prompt(info))


async def _relay_message(message: Message, state: FSMContext, actor: Actor, member: Member, relays: RelayService,
                         outbox: Outbox, members: MembersService, text: str | None, photo: str | None) -> None:
    relay_id = int((await state.get_data()).get("relay_id") or 0)
    try:
        sent = await relays.send(actor, member, relay_id, text, photo)
    except RelayError as exc:
        if exc.reason not in {"empty", "too_long"}:
            await state.clear()
        await message.answer(refusal(exc.reason))
        return
    except DailyLimitReached as exc:
        await state.clear()
        await message.answer(limit_text(exc))
        return
    await state.clear()
    await words.deliver(outbox, members, sent)
    await message.answer(words.sent_text(sent.info))


@router.message(RelayFlow.text, F.photo)
async def relay_photo(message: Message, state: FSMContext, actor: Actor, member: Member, relays: RelayService,
                      outbox: Outbox, members: MembersService) -> None:
    assert message.photo
    await _relay_message(message, state, actor, member, relays, outbox, members, message.caption,
                         message.photo[-1].file_id)


@router.message(RelayFlow.text, F.text, ~F.text.startswith("/"))
async def relay_text(message: Message, state: FSMContext, actor: Actor, member: Member, relays: RelayService,
                     outbox: Outbox, members: MembersService) -> None:
    await _relay_message(message, state, actor, member, relays, outbox, members, message.text, None)


@router.message(RelayFlow.text, ~F.text.startswith("/"))
async def relay_other(message: Message) -> None:
    await message.answer(_("I can pass on text and photos only. Please write, or send a photo."))


@router.callback_query(RelayCb.filter(F.action == "s"))
async def on_settled(query: CallbackQuery, callback_data: RelayCb, actor: Actor, member: Member,
                     relays: RelayService, outbox: Outbox, members: MembersService) -> None:
    try:
        done = await relays.settle_side(actor, member, callback_data.id)
    except RelayError as exc:
        await query.answer(refusal(exc.reason), show_alert=True)
        return
    if done.closed:
        await query.answer(_("🤝 Both sides say it is settled: the report is closed. Thank you!"))
    elif done.changed:
        await query.answer(_("🤝 Noted. When the other side says so too, the report is closed."))
    else:
        await query.answer(_("Already noted. Waiting for the other side."))
    if done.changed:
        await words.settled(outbox, members, done, member)
