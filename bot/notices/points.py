"""Volunteer points: the words — a person's /points, the monthly report's volunteers of the month (志愿之星)
for the office, and the thank-you post in the residents' chats. The rules (what earns points, who is
named) are in bot/services/points.py."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _, ngettext, use_locale
from bot.rendering import esc
from bot.services.events import NoticeContext, notice
from bot.services.points import SEND_WITHIN, STARS, PointsService, Standing, Tally, ThanksDue, named_in_thanks
from models import Community, Member


def breakdown(t: Tally, rules: dict[str, int]) -> list[str]:
    lines = []
    if t.hours:
        lines.append(_("🚶 Patrols: {hours} h × {rate} = {points}").format(
            hours=f"{t.hours:g}", rate=rules["patrol_hour"], points=round(t.hours * rules["patrol_hour"])))
    if t.cleaning:
        lines.append(_("🧹 Cleaning days: {n} × {rate} = {points}").format(
            n=t.cleaning, rate=rules["cleaning_day"], points=t.cleaning * rules["cleaning_day"]))
    if t.reports:
        lines.append(_("📷 Reports verified as real problems: {n} × {rate} = {points}").format(
            n=t.reports, rate=rules["verified_report"], points=t.reports * rules["verified_report"]))
    if t.inspections:
        lines.append(_("🔍 Inspections: {n} × {rate} = {points}").format(
            n=t.inspections, rate=rules["inspection"], points=t.inspections * rules["inspection"]))
    return lines


def rules_line(rules: dict[str, int]) -> str:
    return _("How points are earned: {hour} per patrol hour (checked in and out), {day} per cleaning day "
             "attended, {report} per report verified as a real problem, {insp} per inspection.").format(
        hour=rules["patrol_hour"], day=rules["cleaning_day"], report=rules["verified_report"],
        insp=rules["inspection"])


def mine_text(member: Member, month: Standing, year: Standing) -> str:
    lines = [_("🌟 <b>Your volunteer points</b>")]
    for label, standing in ((_("This month"), month), (_("This year"), year)):
        t = standing.of(member.id)
        if t is None:
            lines.append(_("{period}: no points yet").format(period=label))
            continue
        lines.append(_("{period}: <b>{points}</b> points · rank {rank} of {total}").format(
            period=label, points=t.points, rank=t.rank, total=len(standing.tallies)))
        if standing is month:
            lines += ["  " + x for x in breakdown(t, standing.rules)]
    lines += ["", rules_line(month.rules),
              _("Whether you are named in the monthly public thanks is your choice: /settings → Notifications.")]
    return "\n".join(lines)


def stars_text(standing: Standing, people: dict[int, Member]) -> str:
    """The monthly report's volunteers of the month, for the office (who may see names)."""
    lines = [_("🌟 <b>Volunteers of the month (志愿之星)</b>")]
    for t in standing.tallies[:STARS]:
        m = people.get(t.member_id)
        lines.append(ngettext("{rank}. {name} — {points} point", "{rank}. {name} — {points} points", t.points).format(
            rank=t.rank, name=esc(m.display_name if m else "—"), points=t.points))
        lines += ["   " + x for x in breakdown(t, standing.rules)]
    lines.append(ngettext("%(num)d volunteer earned points this month.",
                          "%(num)d volunteers earned points this month.", len(standing.tallies)))
    lines.append(rules_line(standing.rules))
    return "\n".join(lines)


def thanks_text(standing: Standing, people: dict[int, Member]) -> str:
    """The residents' chats' thank-you: totals for everyone, names only of those who agreed."""
    hours = round(sum(t.hours for t in standing.tallies), 1)
    named = named_in_thanks(standing, people)
    lines = [_("🌟 <b>Thank you, volunteers!</b>"),
             ngettext("Last month %(num)d neighbour volunteered for the community",
                      "Last month %(num)d neighbours volunteered for the community", len(standing.tallies))
             + (ngettext(", with {hours} hour of patrols.", ", with {hours} hours of patrols.",
                               1 if hours == 1 else 2).format(hours=f"{hours:g}") if hours else ".")]
    if named:
        lines.append(_("Volunteers of the month: {names}.").format(names=", ".join(esc(m.display_name) for m in named)))
    lines.append(_("Want to help? Ask your building captain, or join a patrol with /patrols."))
    return "\n".join(lines)


async def monthly_section(session: AsyncSession, community: Community, kind: str, first: date, last: date,
                          locale: str) -> list[str]:
    """The monthly report's 志愿之星 (bot/services/digests.py REPORT_SECTIONS)."""
    if kind != "monthly":
        return []
    service = PointsService(session)
    standing = await service.standing(community, first, last)
    if not standing.tallies:
        return []
    people = await service.names(standing.tallies[:STARS])
    with use_locale(locale):
        return [stars_text(standing, people)]


@notice(ThanksDue)
async def thanks_due(event: ThanksDue, ctx: NoticeContext) -> None:
    """In the community's language; one key per community, month and chat: a restart or a double tick
    posts nothing twice."""
    community = await ctx.session.get(Community, event.community_id)
    assert community is not None
    with use_locale(community.locale):
        text = thanks_text(event.standing, event.people)
    for chat in event.chat_ids:
        await ctx.outbox.enqueue(key=f"points:thanks:{community.id}:{event.month}:{chat}", kind="points_thanks",
                                 chat_id=chat, text=text, community_id=community.id,
                                 expires_at=ctx.clock() + SEND_WITHIN)


def _register_section() -> None:
    from bot.services.digests import REPORT_SECTIONS

    if monthly_section not in REPORT_SECTIONS:
        REPORT_SECTIONS.append(monthly_section)


_register_section()
