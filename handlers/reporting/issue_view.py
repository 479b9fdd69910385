"""A person's own view of an issue: /issue (or a reference typed alone), the view and details buttons,
and the view's buttons: follow, withdraw, edit the description."""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InaccessibleMessage, InputMediaPhoto, Message

from bot.i18n import _, use_locale
from bot.keyboards.issues import IssueCb
from bot.keyboards.reporting import cancel_kb, issue_view_kb, withdraw_confirm_kb
from bot.notices.cards import detail_text
from bot.rendering import esc
from bot.services.access import Actor, can
from bot.services.cards import CardService
from bot.services.lifecycle import IssueAction, allows
from bot.services.reporting import MAX_DESCRIPTION, ReportingService, issue_place, parse_reference
from handlers.reporting.questions import IssueEdit, too_long, with_lead
from models import Issue, Member

router = Router(name=__name__)


async def show_issue(
    message: Message | InaccessibleMessage | None,
    issue: Issue,
    *,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
    bot: Bot | None = None,
    chat_id: int | None = None,
) -> None:
    """A person's own view: the photos, then the detail with the timeline and their buttons, in `message`'s
    chat or (from a group card, where the pressed message may be gone) in the private chat `chat_id`."""
    may_see = reporting.may_see_reporter(actor, issue)
    if chat_id is None:
        assert message is not None
        chat, private = message.chat.id, message.chat.type == "private"
    else:
        chat, private = chat_id, True
    detail = await detail_text(cards, issue, locale, may_see, private=private)
    photos = await reporting.photos(issue)
    kb = issue_view_kb(
        issue,
        is_reporter=issue.reporter_id == member.id,
        is_follower=await reporting.is_follower(member, issue),
        may_triage=can(actor, "triage", issue_place(issue)),
    )
    target_bot = bot or (message.bot if message is not None else None)
    assert target_bot is not None
    if len(photos) == 1:
        await target_bot.send_photo(chat, photos[0], caption=issue.hashtag)
    elif photos:
        await target_bot.send_media_group(
            chat,
            [InputMediaPhoto(media=p, caption=issue.hashtag if i == 0 else None) for i, p in enumerate(photos[:10])],
        )
    await target_bot.send_message(chat, detail, reply_markup=kb)


@router.message(Command("issue"))
async def cmd_issue(
    message: Message,
    command: CommandObject,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
) -> None:
    ref = (command.args or "").strip()
    if not ref:
        await message.answer(_("Send the reference after the command, for example: /issue NC0042"))
        return
    await _show_reference(message, ref, member, actor, locale, reporting, cards)


@router.message(StateFilter(None), F.text.regexp(r"^\s*#?[A-Za-z]{2,4}\d{4,7}\s*$"))
async def reference_text(
    message: Message, member: Member, actor: Actor, locale: str, reporting: ReportingService, cards: CardService
) -> None:
    await _show_reference(message, message.text or "", member, actor, locale, reporting, cards)


async def _show_reference(
    message: Message,
    ref: str,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
) -> None:
    issue = await reporting.by_reference(ref) if parse_reference(ref) else None
    # An issue someone may not see answers exactly like a missing one: references are guessable.
    if issue is None or not await reporting.can_view(actor, member, issue):
        await message.answer(
            _(
                "I can't find an issue {ref} that you may see. Check the reference, e.g. /issue NC0042, or open /my."
            ).format(ref=esc(ref.strip()[:20]))
        )
        return
    await show_issue(message, issue, member=member, actor=actor, locale=locale, reporting=reporting, cards=cards)


@router.callback_query(IssueCb.filter(F.action.in_({"view", "details"})))
async def view_issue(
    query: CallbackQuery,
    callback_data: IssueCb,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
    bot: Bot,
) -> None:
    issue = await reporting.viewable(actor, member, callback_data.id)
    message = query.message
    private = isinstance(message, Message) and message.chat.type == "private"
    if not private:
        # From a group card: the detail goes to the presser's private chat, never into the group, and
        # speaks the presser's language rather than the group's.
        own = reporting.members.locale_for(member, await reporting.community_of(issue))
        try:
            with use_locale(own):
                await show_issue(
                    message,
                    issue,
                    member=member,
                    actor=actor,
                    locale=own,  # type: ignore[arg-type]
                    reporting=reporting,
                    cards=cards,
                    bot=bot,
                    chat_id=query.from_user.id,
                )
        except (TelegramForbiddenError, TelegramBadRequest):
            me = await bot.me()
            await query.answer(
                _("Please open a private chat with me first: @{bot}").format(bot=me.username), show_alert=True
            )
            return
        await query.answer(_("I sent you the details in a private chat."))
        return
    await query.answer()
    assert isinstance(message, Message)
    await show_issue(message, issue, member=member, actor=actor, locale=locale, reporting=reporting, cards=cards)


@router.callback_query(IssueCb.filter(F.action == "follow"))
async def follow(
    query: CallbackQuery, callback_data: IssueCb, member: Member, actor: Actor, reporting: ReportingService
) -> None:
    issue, newly = await reporting.follow(member, actor, callback_data.id)
    text = _("You now follow {ref}. I'll tell you when it changes.") if newly else _("You already follow {ref}.")
    await query.answer(text.format(ref=issue.hashtag))
    if isinstance(query.message, Message) and query.message.chat.type == "private":
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_reply_markup(
                reply_markup=issue_view_kb(
                    issue,
                    is_reporter=issue.reporter_id == member.id,
                    is_follower=True,
                    may_triage=can(actor, "triage", issue_place(issue)),
                )
            )


@router.callback_query(IssueCb.filter(F.action == "withdraw"))
async def withdraw(query: CallbackQuery, callback_data: IssueCb, member: Member, reporting: ReportingService) -> None:
    issue = await reporting.get(callback_data.id)
    if issue.reporter_id != member.id:
        await query.answer(_("Only the person who reported it can withdraw it."), show_alert=True)
        return
    if not isinstance(query.message, Message):
        await query.answer()
        return
    if callback_data.arg != "yes":
        if not allows(IssueAction.WITHDRAW, issue):
            await query.answer(
                _("{ref} is already being handled, so it can't be withdrawn.").format(ref=issue.hashtag),
                show_alert=True,
            )
            return
        await query.answer()
        await query.message.answer(
            _("Withdraw {ref}? The captains will not handle it.").format(ref=issue.hashtag),
            reply_markup=withdraw_confirm_kb(issue.id),
        )
        return
    issue, changed = await reporting.withdraw(member, issue.id)
    await query.answer()
    if changed:
        text = _("↩️ {ref} is withdrawn. Thank you for letting us know.")
    elif issue.status == "withdrawn":
        text = _("{ref} was already withdrawn.")
    else:
        text = _("{ref} is already being handled, so it can't be withdrawn.")
    with contextlib.suppress(TelegramBadRequest):
        await query.message.edit_text(text.format(ref=issue.hashtag), reply_markup=None)


@router.callback_query(IssueCb.filter(F.action == "edit"))
async def edit_issue(
    query: CallbackQuery, callback_data: IssueCb, state: FSMContext, member: Member, reporting: ReportingService
) -> None:
    issue = await reporting.get(callback_data.id)
    if issue.reporter_id != member.id:
        await query.answer(_("Only the person who reported it can change it."), show_alert=True)
        return
    if not allows(IssueAction.EDIT, issue):
        await query.answer(
            _("{ref} is already being handled, so it can't be changed any more.").format(ref=issue.hashtag),
            show_alert=True,
        )
        return
    await state.set_state(IssueEdit.description)
    await state.update_data({"edit_issue": issue.id})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_edit_question(issue), reply_markup=cancel_kb())


def _edit_question(issue: Issue) -> str:
    return _("Send the new description for {ref} (up to 1000 characters).").format(ref=issue.hashtag)


@router.message(IssueEdit.description, F.text, ~F.text.startswith("/"))
async def edit_issue_text(
    message: Message,
    state: FSMContext,
    member: Member,
    actor: Actor,
    locale: str,
    reporting: ReportingService,
    cards: CardService,
) -> None:
    issue = await reporting.get(int((await state.get_data()).get("edit_issue") or 0))
    text = (message.text or "").strip()
    if len(text) > MAX_DESCRIPTION:
        await message.answer(with_lead(too_long(len(text)), _edit_question(issue)), reply_markup=cancel_kb())
        return
    await state.clear()
    issue, changed = await reporting.edit_description(member, issue.id, text)
    if not changed and not allows(IssueAction.EDIT, issue):
        await message.answer(
            _("{ref} is already being handled, so it can't be changed any more.").format(ref=issue.hashtag)
        )
        return
    await message.answer(_("✅ The description of {ref} is updated.").format(ref=issue.hashtag))
    await show_issue(message, issue, member=member, actor=actor, locale=locale, reporting=reporting, cards=cards)


@router.message(IssueEdit.description, ~F.text.startswith("/"))
async def wrong_edit_issue(message: Message, state: FSMContext, reporting: ReportingService) -> None:
    issue = await reporting.get(int((await state.get_data()).get("edit_issue") or 0))
    await message.answer(
        with_lead(_("Please send the description as text."), _edit_question(issue)), reply_markup=cancel_kb()
    )
