"""Satisfaction surveys' words: the invitation and reminders to households, the results to the author (text
and spreadsheet), the progress lines the screens show. The rules are in bot/services/surveys.py; these
functions run for its events (SurveyInvited, SurveyEnded) in the same transaction, per recipient's language."""

from __future__ import annotations

import base64
import io

from sqlalchemy import select

from bot.i18n import _, __, ngettext, translate, use_locale
from bot.rendering import esc
from bot.services.events import NoticeContext, notice
from bot.services.surveys import (
    BuildingProgress,
    SurveyEnded,
    SurveyInvited,
    SurveyResults,
    SurveysService,
    local_date,
    stored_question,
)
from models import Community, Member, Survey

# The default questions (stored by their English text in bot/services/surveys.DEFAULT_TEMPLATE), marked
# here so the catalogue keeps their translations; tests/unit/test_surveys.py checks the two agree.
TEMPLATE_WORDS = (
    __("How satisfied are you with the cleanliness of your building and yard?"),
    __("How satisfied are you with safety in the community?"),
    __("How satisfied are you with how reports are handled?"),
    __("How satisfied are you with your building captain?"),
    __("How satisfied are you with the community office?"),
)


def question_text(question: dict[str, str], locale: str) -> str:
    """A question in a language: a typed one as typed, a template one in the reader's language."""
    if "msgid" in question:
        return translate(locale, question["msgid"])
    return stored_question(question, locale)


def take_data(survey_id: int) -> str:
    """The invitation's button: handlers/surveys.py SurveyCb(a="go", s=survey_id) packed."""
    return f"sv:go:{survey_id}:0:0"


@notice(SurveyInvited)
async def invited(event: SurveyInvited, ctx: NoticeContext) -> None:
    survey = await ctx.session.get(Survey, event.survey_id)
    community = await ctx.session.get(Community, event.community_id)
    if survey is None or community is None:
        return
    members = (await ctx.session.execute(select(Member).where(Member.id.in_(event.member_ids))
                                         .order_by(Member.id))).scalars()
    for member in members:
        locale = ctx.members.locale_for(member, community)
        with use_locale(locale):
            text = invitation_text(survey, community, event.moment)
            button = _("📝 Take the survey")
        await ctx.outbox.notify(member, key=f"survey:{survey.id}:{event.moment}:{member.id}",
                                kind="survey_invite", text=text, tz=community.timezone,
                                buttons=[[(button, take_data(survey.id))]], expires_at=survey.ends_at,
                                community_id=community.id)


@notice(SurveyEnded)
async def ended(event: SurveyEnded, ctx: NoticeContext) -> None:
    survey = await ctx.session.get(Survey, event.survey_id)
    community = await ctx.session.get(Community, event.community_id)
    author = await ctx.session.get(Member, event.author_id) if event.author_id else None
    if survey is None or community is None or author is None or author.data_deleted_at is not None:
        return
    locale = ctx.members.locale_for(author, community)
    results = await SurveysService(ctx.session, ctx.clock, ctx.members, ctx.chats, ctx.outbox).results(survey, locale)
    with use_locale(locale):
        text = results_text(results, locale)
        name = _("survey-results-%(id)s.xlsx", id=survey.id)
    await ctx.outbox.notify(author, key=f"survey:{survey.id}:results:{author.id}", kind="survey_results",
                            text=text, tz=community.timezone, community_id=community.id,
                            document={"b64": base64.b64encode(results_xlsx(results, locale)).decode(),
                                      "filename": name})


def results_xlsx(results: SurveyResults, locale: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    with use_locale(locale):
        wb = Workbook()
        ws = wb.active
        ws.title = _("Survey results")[:31]
        header = [_("Place"), _("Question"), _("Mean"), _("Satisfied (4–5) %"), _("Responses"),
                  _("Households"), _("Coverage %"), _("Target met")]
        ws.append(header)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for place in results.places:
            name = place.name or _("All places")
            met = (_("yes") if place.progress.met else _("no")) if place.progress else \
                (_("yes") if results.all_met else _("no"))
            for q in place.questions:
                ws.append([name, question_text(q.raw, locale), q.mean, q.satisfied, q.responses, place.households,
                           place.coverage, met])
        buf = io.BytesIO()
        wb.save(buf)
    return buf.getvalue()


# --- words (rendered in the recipient's language by the caller's use_locale) --------------------------


def invitation_text(survey: Survey, community: Community, moment: str) -> str:
    end = local_date(survey.ends_at, community.timezone)
    head = {"start": _("📋 <b>Satisfaction survey</b>: %(title)s", title=esc(survey.title)),
            "2d": _("⏰ Two days left for the survey “%(title)s”.", title=esc(survey.title)),
            "last": _("⏰ Last day for the survey “%(title)s”.", title=esc(survey.title))}[moment]
    return "\n".join([
        head,
        ngettext("%(n)s short question, scored 1 to 5; one answer per household. Open until %(date)s.",
                 "%(n)s short questions, each scored 1 to 5; one answer per household. Open until %(date)s.",
                 len(survey.questions), n=len(survey.questions), date=end),
        _("Your household's answer helps the community office improve; it is not shown to your neighbours."),
    ])


def progress_lines(rows: list[BuildingProgress]) -> list[str]:
    out = []
    for p in rows:
        mark = "✅" if p.met else "⏳"
        out.append(ngettext("%(mark)s %(place)s: %(got)s of %(all)s household (%(pct)s%%), target %(need)s",
                            "%(mark)s %(place)s: %(got)s of %(all)s households (%(pct)s%%), target %(need)s",
                            p.households,
                     mark=mark, place=esc(p.name), got=p.responses, all=p.households, pct=p.coverage,
                     need=p.needed)
                   + (_(" · %(n)s in person", n=p.in_person) if p.in_person else ""))
    return out


def results_text(results: SurveyResults, locale: str) -> str:
    lines = [_("📋 <b>Survey results</b>: %(title)s", title=esc(results.title))]
    for place in results.places:
        name = place.name or _("All places")
        if place.progress is not None:
            lines.append("")
            lines.extend(progress_lines([place.progress]))
        else:
            lines.append("")
            lines.append(ngettext("<b>%(place)s</b>: %(got)s of %(all)s household (%(pct)s%%)",
                                  "<b>%(place)s</b>: %(got)s of %(all)s households (%(pct)s%%)", place.households,
                                  place=esc(name),
                           got=place.responses, all=place.households, pct=place.coverage))
        for q in place.questions:
            if q.mean is None:
                continue
            mean = f"{q.mean:.1f}"
            lines.append(ngettext("· %(q)s — mean %(mean)s, satisfied %(sat)s%%, %(n)s response",
                                    "· %(q)s — mean %(mean)s, satisfied %(sat)s%%, %(n)s responses", q.responses,
                           q=esc(question_text(q.raw, locale)), mean=mean, sat=q.satisfied, n=q.responses))
    lines.append("")
    lines.append(_("📎 The table is in the attached spreadsheet."))
    return "\n".join(lines)
