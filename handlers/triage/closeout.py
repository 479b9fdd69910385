"""Close-out (验收销号): verify or not accepted, with the optional on-site photo and note; /spotcheck."""

from __future__ import annotations

from aiogram import Bot, F
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.i18n import _, ngettext
from bot.keyboards.issues import (
    IssueCb,
    Rows,
    markup,
    verify_buttons,
)
from bot.notices.cards import fmt_when as when_text
from bot.notices.cards import status_label
from bot.notices.triage import category_label
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.triage import InvalidInput, Outcome, TriageService
from handlers.triage.common import (
    TriageFlow,
    _step_button,
    _text_step,
    allowed,
    finish,
    go_private,
    headline,
    input_error,
    router,
)
from models import Issue, IssueStatus

# ---------------------------------------------------------------------------- close-out (验收销号)


@router.callback_query(IssueCb.filter(F.action.in_({"verify", "notacc"})))
async def on_verify(query: CallbackQuery, callback_data: IssueCb, actor: Actor, triage: TriageService,
                    bot: Bot, state: FSMContext) -> None:
    """✅ Verify and close / ❌ Not accepted: the photo, note or reason follow in private."""
    issue = await allowed(query, triage, callback_data.id, triage.check(actor, callback_data.id, "verify"))
    if issue is None:
        return
    if issue.status not in (IssueStatus.VERIFYING, IssueStatus.CLOSED):
        await finish(query, triage, actor, Outcome(issue, False), "")
        return
    head = await headline(triage, issue)
    if callback_data.action == "verify":
        await go_private(query, bot, state, TriageFlow.verify_photo, {"issue_id": issue.id},
                         _("🔍 {headline}: send a photo taken on site (a caption becomes the note), or write a "
                           "note, or close it now.").format(headline=head), verify_buttons(issue.id))
    else:
        await go_private(query, bot, state, TriageFlow.notacc_reason, {"issue_id": issue.id},
                         _("❌ {headline}: what is still wrong? It goes back to whoever fixed it with a new "
                           "deadline, and the reporter hears it is still being worked on.").format(headline=head))


async def _verify(message: Message, state: FSMContext, actor: Actor, triage: TriageService,
                  photo: str | None, note: str | None) -> None:
    issue_id = int((await state.get_data())["issue_id"])
    try:
        outcome = await triage.verify(actor, issue_id, photo, note)
    except InvalidInput as exc:
        await message.answer(input_error(exc.reason), reply_markup=markup(verify_buttons(issue_id)))
        return
    await state.clear()
    head = await headline(triage, outcome.issue)
    if not outcome.changed:
        await message.answer(_("{headline} is already {status}: nothing changed.").format(
            headline=head, status=status_label(outcome.issue.status)))
    elif outcome.issue.status == IssueStatus.CLOSED and outcome.issue.close_how == "verified" \
            and outcome.issue.closed_by_id == actor.member_id:
        await message.answer(_("✅ {headline} is verified and closed out. I've told the reporter.").format(
            headline=head))
    else:
        await message.answer(_("✅ Spot check of {headline} recorded: all is well.").format(headline=head))


@router.message(TriageFlow.verify_photo, F.photo)
async def verify_photo(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    assert message.photo
    await _verify(message, state, actor, triage, message.photo[-1].file_id, message.caption)


@router.message(TriageFlow.verify_photo, F.text & ~F.text.startswith("/"))
async def verify_note(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    await _verify(message, state, actor, triage, None, message.text)


@router.message(TriageFlow.verify_photo)
async def verify_wrong(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    await message.answer(_("Please send a photo or write a note, or close it now:"),
                         reply_markup=markup(verify_buttons(int(data["issue_id"]))))




@router.callback_query(IssueCb.filter(F.action == "vfy"))
async def verify_now(query: CallbackQuery, callback_data: IssueCb, state: FSMContext, actor: Actor,
                     triage: TriageService) -> None:
    message = await _step_button(query, callback_data, state, TriageFlow.verify_photo)
    if message is not None:
        await _verify(message, state, actor, triage, None, None)


@router.message(TriageFlow.notacc_reason)
async def notacc_reason(message: Message, state: FSMContext, actor: Actor, triage: TriageService) -> None:
    outcome = await _text_step(message, state, _("What is still wrong?"),
                               lambda text, issue_id: triage.not_accepted(actor, issue_id, text))
    if outcome is None:
        return
    head = await headline(triage, outcome.issue)
    if outcome.changed:
        community = await triage.community_of(outcome.issue)
        await message.answer(_("❌ {headline} is not accepted and back with whoever fixed it. New deadline: "
                               "{when}.").format(headline=head, when=when_text(
                                   outcome.issue.deadline_at, community.timezone, triage.clock())))
    else:
        await message.answer(_("{headline} is already {status}: nothing changed.").format(
            headline=head, status=status_label(outcome.issue.status)))


SPOT_CHECK_DEFAULT = 3


@router.message(Command("spotcheck"), F.chat.type == "private")
async def spot_check_cmd(message: Message, actor: Actor, triage: TriageService) -> None:
    """/spotcheck [N]: N random issues closed out last week, each with the check's two outcomes."""
    arg = (message.text or "").split(maxsplit=1)[1:]
    n = int(arg[0]) if arg and arg[0].strip().isdigit() else SPOT_CHECK_DEFAULT
    communities = [g.community_id for g in actor.roles("staff")]
    if not communities and actor.is_admin:
        communities = [c.id for c in await triage.members.communities()]
    if not communities:
        await message.answer(_("Spot checks are for office staff."))
        return
    picked: list[Issue] = []
    for community_id in communities:
        picked += await triage.spot_check(actor, community_id, n)
    if not picked:
        await message.answer(_("Nothing was closed out last week, so there is nothing to spot-check."))
        return
    lines = [ngettext("🎲 Spot check: %(num)s issue closed out last week. Check it on site, then record the "
                      "outcome:",
                      "🎲 Spot check: %(num)s issues closed out last week. Check them on site, then record the "
                      "outcome:", len(picked))]
    rows: Rows = []
    for issue in picked:
        community = await triage.community_of(issue)
        lines.append(f"· <b>{issue.hashtag}</b> {esc(category_label(community, issue.category))} · "
                     f"{esc(await triage.place_name(issue))}")
        rows.append([(_("✅ {ref} is fine").format(ref=issue.hashtag), IssueCb(action="verify", id=issue.id).pack()),
                     (_("❌ {ref} not fixed").format(ref=issue.hashtag), IssueCb(action="notacc", id=issue.id).pack())])
    await message.answer("\n".join(lines), reply_markup=markup(rows))


