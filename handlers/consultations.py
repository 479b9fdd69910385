"""Consultations: a household's answer from the buttons of the private message (or a reminder)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery

from bot.i18n import _, use_locale
from bot.notices.consultations import vote_reply
from bot.services.access import Actor, NotAllowed
from bot.services.consultations import ConsultationError, ConsultationsService
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from models import Member

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
