"""/announce: audience, text (or photo with caption), urgency, when, an exact preview, Send. Glue only:
the rules and delivery are in bot/services/announcements.py and the outbox."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, MessageEntity
from aiogram.utils.text_decorations import html_decoration

from bot.clock import Clock
from bot.i18n import _, ngettext
from bot.keyboards import announcements as kb
from bot.keyboards.places import picked
from bot.notices.announcements import audience_name, body_fits, message_text
from bot.rendering import esc, local_time
from bot.services.access import Actor
from bot.services.announcements import BODY_LIMIT_CAPTION, BODY_LIMIT_TEXT, AnnDraft, AnnouncementsService
from bot.services.limits import DailyLimitReached
from bot.services.recurrence import parse_hhmm
from handlers.errors import limit_text
from handlers.steps import need_a_building, reply, show_choice
from models import Member

router = Router(name=__name__)

# Formatting the author made with Telegram's own tools is kept; everything else is plain escaped text.
SAFE_ENTITIES = {"bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link",
                 "blockquote", "expandable_blockquote"}


class NewAnn(StatesGroup):
    audience = State()
    text = State()
    urgency = State()
    when = State()
    confirm = State()


def body_html(text: str, entities: list[MessageEntity] | None) -> str:
    """The author's text as Telegram HTML built by the bot: text escaped, only safe formatting kept."""
    safe = [e for e in entities or [] if e.type in SAFE_ENTITIES]
    return html_decoration.unparse(text, safe).strip()


_answer = reply  # a new message in the same chat (handlers/steps.py)


async def _draft(state: FSMContext) -> AnnDraft:
    data = await state.get_data()
    if "ann" not in data:
        raise LookupError("draft")
    return AnnDraft.from_dict(data["ann"])


def text_question() -> str:
    return _("✍️ Send the announcement: text, or one photo with a caption. Bold, italic and links you format "
             "in Telegram are kept.")


@router.message(Command("announce"), F.chat.type != "private")
async def announce_in_group(message: Message) -> None:
    await message.answer(_("Please write announcements in a private chat with me: open the bot and send /announce."))


@router.message(Command("announce"))
async def announce(message: Message, state: FSMContext, actor: Actor, member: Member,
                   announcements: AnnouncementsService) -> None:
    await state.clear()
    community = await announcements.announcing_community(actor, member)
    if community is None:
        await message.answer(_("Only building captains, area heads and office staff can send announcements."))
        return
    options = await announcements.options(actor, community.id)
    draft = AnnDraft(community_id=community.id, token=uuid.uuid4().hex)
    if len(options) == 1:
        draft.audience, draft.building_ids = "buildings", [options[0].id]
        await state.set_state(NewAnn.text)
        await state.update_data(ann=draft.to_dict())
        await message.answer(_("📢 Announcement to {audience}.").format(audience=esc(options[0].name)) + "\n" +
                             text_question(), reply_markup=kb.cancel_kb())
        return
    await state.set_state(NewAnn.audience)
    await state.update_data(ann=draft.to_dict())
    await message.answer(_("📢 New announcement. Who is it for? Tap one or more buildings, or a whole group."),
                         reply_markup=kb.audience_kb(options, []))


@router.callback_query(NewAnn.audience, kb.AnnCb.filter(F.step == "aud"))
async def choose_audience(query: CallbackQuery, callback_data: kb.AnnCb, state: FSMContext, actor: Actor,
                          announcements: AnnouncementsService) -> None:
    draft = await _draft(state)
    place = picked(callback_data.v)
    if place is None:
        await query.answer(_("This button is no longer active."))  # forged or stale data
        return
    kind, place_id = place
    if kind == "building":
        draft.audience, draft.area_id = "buildings", None
        draft.building_ids = sorted(set(draft.building_ids) ^ {place_id})
        await state.update_data(ann=draft.to_dict())
        options = await announcements.options(actor, draft.community_id)
        await show_choice(query, kb.audience_kb(options, draft.building_ids))
        return
    draft.building_ids = []
    draft.audience = kind
    draft.area_id = place_id if kind in ("area", "area_captains") else None
    await _to_text(query, state, draft, announcements)


@router.callback_query(NewAnn.audience, kb.AnnCb.filter(F.step == "next"))
async def audience_next(query: CallbackQuery, state: FSMContext, announcements: AnnouncementsService) -> None:
    draft = await _draft(state)
    if await need_a_building(query, draft.building_ids):
        await _to_text(query, state, draft, announcements)


async def _to_text(query: CallbackQuery, state: FSMContext, draft: AnnDraft,
                   announcements: AnnouncementsService) -> None:
    await state.set_state(NewAnn.text)
    await state.update_data(ann=draft.to_dict())
    name = await audience_name(announcements, draft)
    if isinstance(query.message, Message):
        await query.message.edit_text(_("📢 Announcement to {audience}.").format(audience=esc(name)) + "\n" +
                                      text_question(), reply_markup=kb.cancel_kb())
    await query.answer()


@router.message(NewAnn.audience)
async def audience_typed(message: Message, state: FSMContext, actor: Actor,
                         announcements: AnnouncementsService) -> None:
    draft = await _draft(state)
    options = await announcements.options(actor, draft.community_id)
    await message.answer(_("Please tap one of the buttons.") + "\n" + _("Who is it for?"),
                         reply_markup=kb.audience_kb(options, draft.building_ids))


@router.message(NewAnn.text)
async def got_text(message: Message, state: FSMContext) -> None:
    draft = await _draft(state)
    if message.photo:
        html = body_html(message.caption or "", message.caption_entities)
        photo: str | None = message.photo[-1].file_id
    elif message.text and not message.text.startswith("/"):
        html = body_html(message.text, message.entities)
        photo = None
    else:
        await message.answer(_("I need text, or a photo with a caption.") + "\n" + text_question(),
                             reply_markup=kb.cancel_kb())
        return
    if not html:
        await message.answer(_("A photo needs a caption: what should people know?") + "\n" + text_question(),
                             reply_markup=kb.cancel_kb())
        return
    if not body_fits(html, photo is not None):
        limit = BODY_LIMIT_CAPTION if photo else BODY_LIMIT_TEXT
        await message.answer(_("That is too long: please keep it under {n} characters.").format(n=limit) + "\n" +
                             text_question(), reply_markup=kb.cancel_kb())
        return
    draft.body_html, draft.photo_file_id = html, photo
    await state.update_data(ann=draft.to_dict())
    await state.set_state(NewAnn.urgency)
    await message.answer(_("Is it urgent? Urgent announcements arrive even during quiet hours and for people who "
                           "muted announcements — use it for safety, water or power cuts."),
                         reply_markup=kb.urgency_kb())


@router.callback_query(NewAnn.urgency, kb.AnnCb.filter(F.step == "urg"))
async def choose_urgency(query: CallbackQuery, callback_data: kb.AnnCb, state: FSMContext) -> None:
    draft = await _draft(state)
    draft.urgent = callback_data.v == "1"
    await state.update_data(ann=draft.to_dict())
    await state.set_state(NewAnn.when)
    if isinstance(query.message, Message):
        await query.message.edit_text(when_question(), reply_markup=kb.when_kb())
    await query.answer()


def when_question() -> str:
    return _("When should it go out? Tap, or send a time like 18:30 or 2026-11-21 09:00.")


@router.message(NewAnn.urgency)
async def urgency_typed(message: Message) -> None:
    await message.answer(_("Please tap one of the buttons.") + "\n" + _("Is it urgent?"), reply_markup=kb.urgency_kb())


def parse_when(text: str, now: datetime, tz: str) -> datetime | None:
    """'18:30' (today, or tomorrow if passed) or '2026-11-21 09:00' in local time -> UTC."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    t = text.strip()
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T]+(\S+)", t)
    try:
        if m:
            minutes = parse_hhmm(m.group(4))
            if minutes is None:
                return None
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        else:
            minutes = parse_hhmm(t)
            if minutes is None:
                return None
            day = local_now.date()
            if datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone) <= local_now:
                day += timedelta(days=1)
    except ValueError:
        return None
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone).astimezone(UTC)


@router.callback_query(NewAnn.when, kb.AnnCb.filter(F.step == "when"))
async def choose_when(query: CallbackQuery, callback_data: kb.AnnCb, state: FSMContext, clock: Clock,
                      member: Member, announcements: AnnouncementsService) -> None:
    draft = await _draft(state)
    now = clock()
    if callback_data.v == "now":
        draft.send_at = None
    elif callback_data.v == "1h":
        draft.send_at = (now + timedelta(hours=1)).isoformat()
    else:
        tz = await announcements.timezone(draft.community_id)
        tomorrow = now.astimezone(ZoneInfo(tz)).date() + timedelta(days=1)
        draft.send_at = datetime.combine(tomorrow, time(9, 0), tzinfo=ZoneInfo(tz)).astimezone(UTC).isoformat()
    await query.answer()
    await _preview(query, state, draft, member, announcements)


@router.message(NewAnn.when)
async def typed_when(message: Message, state: FSMContext, clock: Clock, member: Member,
                     announcements: AnnouncementsService) -> None:
    draft = await _draft(state)
    now = clock()
    at = parse_when(message.text or "", now, await announcements.timezone(draft.community_id))
    if at is None or at <= now or at > now + timedelta(days=60):
        await message.answer(_("Please send a time like 18:30, or a date and time like 2026-11-21 09:00, within the "
                               "next 60 days.") + "\n" + when_question(), reply_markup=kb.when_kb())
        return
    draft.send_at = at.isoformat()
    await _preview(message, state, draft, member, announcements)


async def _preview(event: Message | CallbackQuery, state: FSMContext, draft: AnnDraft, member: Member,
                   announcements: AnnouncementsService) -> None:
    """Show the announcement exactly as recipients will see it, then what will happen, and Send."""
    await state.update_data(ann=draft.to_dict())
    await state.set_state(NewAnn.confirm)
    community = await announcements.community(draft.community_id)
    locale = announcements.members.locale_for(member, community)
    text = await message_text(announcements, draft, locale, member)
    message = event if isinstance(event, Message) else event.message
    if not isinstance(message, Message):
        return
    if draft.photo_file_id:
        await message.answer_photo(draft.photo_file_id, caption=text)
    else:
        await message.answer(text)
    audience = await announcements.audience(draft, exclude=member.id)
    people = len(audience.members)
    never = sum(1 for m in audience.members if not m.started)
    when = _("now") if not draft.send_at else local_time(
        datetime.fromisoformat(draft.send_at), community.timezone)
    lines = [_("👆 This is exactly how it will look."),
             _("To: {audience} — {people}, {chats}.").format(
                 audience=esc(await audience_name(announcements, draft)),
                 people=ngettext("{n} person", "{n} people", people).format(n=people),
                 chats=ngettext("{n} residents' chat", "{n} residents' chats", len(audience.chats)).format(
                     n=len(audience.chats)))]
    if never:
        lines.append(_("{n} of them never started the bot, so I can't write to them privately.").format(n=never))
    lines.append(_("🚨 Urgent: ignores quiet hours and mute.") if draft.urgent else
                 _("📢 Normal: waits for quiet hours; people who muted announcements don't get it."))
    lines.append(_("When: {when}").format(when=when))
    await message.answer("\n".join(lines), reply_markup=kb.confirm_kb())


@router.callback_query(NewAnn.confirm, kb.AnnCb.filter(F.step == "send"))
async def send(query: CallbackQuery, state: FSMContext, actor: Actor,
               announcements: AnnouncementsService) -> None:
    draft = await _draft(state)
    try:
        ann, created = await announcements.create(actor, draft)
    except DailyLimitReached as exc:
        # The draft stays: it can be sent after midnight, or cancelled.
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(limit_text(exc), reply_markup=kb.confirm_kb())
        return
    await state.clear()
    if not created:
        await query.answer(_("Already sent."))
        return
    if ann.status == "sending":
        counts = ann.counts or {}
        people, chats = int(counts.get("queued", 0)) - int(counts.get("chats", 0)), int(counts.get("chats", 0))
        text = _("✅ Sending to {people} and {chats}. I'll send you a delivery report when it's done.").format(
            people=ngettext("{n} person", "{n} people", people).format(n=people),
            chats=ngettext("{n} chat", "{n} chats", chats).format(n=chats))
    else:
        text = _("⏰ Scheduled for {when}. I'll send you a delivery report when it's done.").format(
            when=local_time(ann.send_at, await announcements.timezone(ann.community_id)))
    if isinstance(query.message, Message):
        await query.message.edit_text(text)
    await query.answer()


@router.message(StateFilter(NewAnn.confirm))
async def confirm_typed(message: Message) -> None:
    await message.answer(_("Please tap ✅ Send, or ✖️ Cancel."), reply_markup=kb.confirm_kb())
