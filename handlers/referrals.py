"""Referral to a department (转办) from the card: ⋯ More → 📨 Refer → department → its deadline; and the
department's answer "🚫 Refused to comply". Glue only: the rules are in bot/services/referrals.py."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from bot.i18n import _, current_locale
from bot.keyboards.issues import IssueCb, department_buttons, referral_deadline_buttons
from bot.services.access import Actor, NotAllowed
from bot.services.referrals import REFER_DAYS, ReferralService
from bot.services.triage import InvalidInput, Outcome
from handlers.triage import allowed, denied, finish, show

router = Router(name=__name__)


@router.callback_query(IssueCb.filter(F.action.in_({"refer", "ref"})))
async def on_refer(query: CallbackQuery, callback_data: IssueCb, actor: Actor, referrals: ReferralService) -> None:
    """The department, then its deadline: sub-menus on the same message, nothing changes until the end."""
    issue = await allowed(query, referrals, callback_data.id, referrals.check(actor, callback_data.id, "refer"))
    if issue is None:
        return
    if callback_data.action == "refer":
        departments = await referrals.departments(issue.community_id)
        if not departments:
            await query.answer(_("No departments are set up for this community yet (the structure file's "
                                 "departments: list)."), show_alert=True)
            return
        rows = department_buttons(issue.id, [(d.id, d.label(current_locale())) for d in departments])
    else:
        try:
            dept = await referrals.department(issue, int(callback_data.arg) if callback_data.arg.isdigit() else 0)
        except InvalidInput:
            await query.answer(_("This button is no longer active."))
            return
        rows = referral_deadline_buttons(issue.id, dept.id, REFER_DAYS)
    await query.answer()
    await show(query, referrals, actor, issue, rows)


@router.callback_query(IssueCb.filter(F.action == "refd"))
async def on_refer_deadline(query: CallbackQuery, callback_data: IssueCb, actor: Actor,
                            referrals: ReferralService) -> None:
    dept_id, _sep, days = callback_data.arg.partition("-")
    try:
        done = await referrals.refer(actor, callback_data.id, int(dept_id) if dept_id.isdigit() else 0,
                                     int(days) if days.isdigit() else 0)
    except NotAllowed as exc:
        await denied(query, referrals, callback_data.id, exc)
        return
    except InvalidInput:
        await query.answer(_("This button is no longer active."))
        return
    label = done.department.label(current_locale()) if done.department else ""
    await finish(query, referrals, actor, Outcome(done.issue, done.changed),
                 _("📨 Referred to {department}.").format(department=label))


@router.callback_query(IssueCb.filter(F.action == "refused"))
async def on_refused(query: CallbackQuery, callback_data: IssueCb, actor: Actor, referrals: ReferralService) -> None:
    done = await allowed(query, referrals, callback_data.id, referrals.refused(actor, callback_data.id))
    if done is None:
        return
    if done.changed and done.department is not None:
        text = _("🚫 Refusal recorded; referred on to {department}.").format(
            department=done.department.label(current_locale()))
    else:
        text = _("🚫 Refusal recorded; the community office decides the next step.")
    await finish(query, referrals, actor, Outcome(done.issue, done.changed), text)
