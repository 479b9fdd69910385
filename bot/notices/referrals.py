"""Referrals (转办): the department's liaison group and the followers hear of a referral; the office hears
when a refusal leaves the next step to it. Words only; the rules are in bot/services/referrals.py."""

from __future__ import annotations

from bot.i18n import _, current_locale, use_locale
from bot.notices.cards import fmt_when
from bot.notices.triage import headline, load_issue, post_to_team, tell_followers
from bot.rendering import esc, shorten
from bot.services.events import NoticeContext, notice
from bot.services.referrals import IssueReferred, RefusalUndecided
from bot.services.triage.rules import TOP_LEVEL
from models import Department


@notice(IssueReferred)
async def referred(event: IssueReferred, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    dept = await ctx.session.get(Department, event.department_id)
    assert dept is not None
    if dept.chat_id is not None:
        # The liaison's group: the problem, its place and photos — never the reporter, never a private view.
        with use_locale(community.locale):
            text = _("📨 {headline} is referred to {department} by {community}.\n📍 {place}\n📝 {description}\n"
                     "Please deal with it by {when} and tell the community office what was done.").format(
                headline=headline(issue, community), department=esc(dept.label(community.locale)),
                community=esc(community.name), place=esc(event.place),
                description=esc(shorten(issue.description or "—", 600)),
                when=fmt_when(issue.deadline_at, community.timezone, ctx.clock()))
        photos = [p.file_id for p in issue.photos if p.kind == "before"][:10]
        await ctx.outbox.enqueue(key=f"issue_referred:{issue.id}:{event.event_id}:liaison", kind="issue_referred",
                                 chat_id=dept.chat_id, text=text, photos=photos or None,
                                 community_id=issue.community_id)
    await tell_followers(ctx, issue, community, event.event_id, lambda: _(
        "📨 {headline} was passed to {department}, who are responsible for it. I'll tell you what "
        "happens.").format(headline=headline(issue, community), department=esc(dept.label(current_locale()))))


@notice(RefusalUndecided)
async def refusal_undecided(event: RefusalUndecided, ctx: NoticeContext) -> None:
    issue, community = await load_issue(ctx, event.issue_id)
    await post_to_team(ctx, issue, community, f"issue_refused:{issue.id}:{event.refusals}", lambda: _(
        "🚫 {headline}: the responsible party refuses to comply, and no department is set for this category. "
        "Please decide the next step.").format(headline=headline(issue, community)), level=TOP_LEVEL)
