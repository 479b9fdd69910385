"""/queue: the open issues in a person's scope, filtered and paged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram import F
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.i18n import _, current_locale
from bot.keyboards.common import MenuCb
from bot.keyboards.issues import (
    QUEUE_FILTERS,
    CampaignQueueCb,
    QueueCb,
    markup,
    queue_cb,
    queue_filter_label,
    triage_buttons,
)
from bot.notices.cards import detail_view_text, status_label
from bot.notices.cards import fmt_when as when_text
from bot.notices.triage import category_label
from bot.rendering import esc, shorten
from bot.services.access import Actor, NotAllowed
from bot.services.triage import TriageService
from handlers.triage.common import (
    denied,
    is_private,
    router,
)
from models import IssueStatus

if TYPE_CHECKING:  # at run time the service arrives by name; importing campaigns here would
    # register its jobs earlier than the capability list does
    from bot.services.campaigns import CampaignsService

# ---------------------------------------------------------------------------- /queue


def queue_markup(page: Any, status: str, cat: str, community_of: dict[int, Any], cg: int = 0
                 ) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    for issue in page.issues:
        # A button's text is plain (no HTML), so the headline's words without escaping
        label = f"{issue.hashtag} {category_label(community_of.get(issue.community_id), issue.category)}"
        if issue.urgent:
            label = "❗ " + label
        rows.append([InlineKeyboardButton(text=shorten(label, 60), callback_data=queue_cb(cg,
            status=status, cat=cat, page=page.page, open=issue.id).pack())])
    filters = [InlineKeyboardButton(text=("• " if f == status else "") + queue_filter_label(f),
                                    callback_data=queue_cb(cg, status=f, cat=cat).pack()) for f in QUEUE_FILTERS]
    rows.append(filters[:3])
    rows.append(filters[3:])
    if page.categories:
        cats = [InlineKeyboardButton(text=("• " if not cat else "") + _("All kinds"),
                                     callback_data=queue_cb(cg, status=status).pack())]
        for key in page.categories[:8]:
            if len(key.encode()) > 24:
                continue
            label = category_label(next(iter(community_of.values()), None), key)
            cats.append(InlineKeyboardButton(text=("• " if key == cat else "") + shorten(label, 20),
                                             callback_data=queue_cb(cg, status=status, cat=key).pack()))
        for i in range(0, len(cats), 3):
            rows.append(cats[i:i + 3])
    if page.pages > 1:
        nav = []
        if page.page > 0:
            nav.append(InlineKeyboardButton(text="◀️", callback_data=queue_cb(cg, status=status, cat=cat,
                                                                            page=page.page - 1).pack()))
        nav.append(InlineKeyboardButton(text=f"{page.page + 1}/{page.pages}",
                                        callback_data=queue_cb(cg, status=status, cat=cat, page=page.page).pack()))
        if page.page + 1 < page.pages:
            nav.append(InlineKeyboardButton(text="▶️", callback_data=queue_cb(cg, status=status, cat=cat,
                                                                            page=page.page + 1).pack()))
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def queue_screen(triage: TriageService, actor: Actor, status: str, cat: str, page_no: int, cg: int = 0,
                       campaign: str | None = None) -> tuple[str, InlineKeyboardMarkup]:
    page = await triage.queue(actor, status=status, category=cat, page=page_no, campaign=cg)
    communities: dict[int, Any] = {}
    lines = [_("📥 <b>Open reports in your places</b> · {filter}").format(filter=queue_filter_label(status))]
    if cg and campaign is not None:
        lines[0] += " · 🎯 " + esc(campaign)
    if cat:
        first = page.issues[0] if page.issues else None
        community = await triage.community_of(first) if first else None
        lines[0] += f" · {esc(category_label(community, cat))}"
    now = triage.clock()
    for issue in page.issues:
        community = communities.get(issue.community_id) or await triage.community_of(issue)
        communities[issue.community_id] = community
        parts = [f"<b>{issue.hashtag}</b> {esc(category_label(community, issue.category))}",
                 esc(await triage.place_name(issue)), status_label(issue.status)]
        if issue.deadline_at is not None and issue.status in IssueStatus.OPEN:
            due = when_text(issue.deadline_at, community.timezone, now)
            if issue.deadline_moved and issue.first_deadline_at is not None:
                due += " " + _("(first deadline {when})").format(
                    when=when_text(issue.first_deadline_at, community.timezone, now))
            overdue = issue.deadline_at < now or issue.missed_deadline_at is not None
            parts.append(("⚠️ " if overdue else "⏰ ") + due)
        lines.append(("❗ " if issue.urgent else "· ") + " · ".join(parts))
    if not page.issues:
        lines.append(_("Nothing here. 🎉"))
    else:
        lines.append(_("{n} in all. Tap one to work on it.").format(n=page.total))
    return "\n".join(lines), queue_markup(page, status, cat, communities, cg)


@router.message(Command("queue"), F.chat.type == "private")
@router.callback_query(MenuCb.filter(F.action == "queue"))
async def queue_cmd(event: Message | CallbackQuery, actor: Actor, triage: TriageService) -> None:
    message = event if isinstance(event, Message) else event.message
    try:
        text, kb = await queue_screen(triage, actor, "open", "", 0)
    except NotAllowed:
        text, kb = _("The queue is for building captains, area heads and office staff."), None
    if isinstance(event, CallbackQuery):
        await event.answer()
    if isinstance(message, Message):
        await message.answer(text, reply_markup=kb)


@router.message(Command("queue"))
async def queue_in_group(message: Message) -> None:
    await message.answer(_("Please use /queue in a private chat with me."))


@router.callback_query(QueueCb.filter())
@router.callback_query(CampaignQueueCb.filter())
async def queue_page(query: CallbackQuery, callback_data: QueueCb | CampaignQueueCb, actor: Actor,
                     triage: TriageService, campaigns: CampaignsService) -> None:
    cg = getattr(callback_data, "cg", 0)
    message = query.message
    if not isinstance(message, Message):
        await query.answer()
        return
    if not is_private(message):
        # Queue buttons exist only in private chats; a forged one in a group shows nothing there.
        await query.answer(_("Please use /queue in a private chat with me."), show_alert=True)
        return
    status = callback_data.status if callback_data.status in QUEUE_FILTERS else "open"
    if callback_data.open:
        try:
            issue = await triage.check(actor, callback_data.open)
            text = detail_view_text(await triage.view(actor, issue.id, private=True), current_locale())
        except NotAllowed as exc:
            await denied(query, triage, callback_data.open, exc)
            return
        rows = [*triage_buttons(issue), [(_("⬅️ Queue"), queue_cb(cg, status=status, cat=callback_data.cat,
                                                                   page=callback_data.page).pack())]]
        await query.answer()
        await message.edit_text(text, reply_markup=markup(rows))
        return
    try:
        text, kb = await queue_screen(triage, actor, status, callback_data.cat, callback_data.page, cg,
                                      await campaigns.name_of(cg) if cg else None)
    except NotAllowed as exc:
        await denied(query, triage, 0, exc)
        return
    await query.answer()
    try:
        await message.edit_text(text, reply_markup=kb)
    except TelegramBadRequest:
        pass

