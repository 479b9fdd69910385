"""Referral to a department (转办) in words: the liaison chat's brief, the reporter's and followers' note, the
team's "refused to comply" question. The rules are in bot/services/referrals.py; these run for its events in
the same transaction. The liaison's brief names the problem, its place and photos — never the reporter."""

from __future__ import annotations

from sqlalchemy.orm import selectinload

from bot.i18n import _, current_locale, use_locale
from bot.rendering import esc, shorten
from bot.services.events import NoticeContext, notice
from bot.services.referrals import IssueReferred, ReferralRefused
from bot.services.triage import TriageService, category_label, when_text
from models import Department, Issue, IssueEvent


def _triage(ctx: NoticeContext) -> TriageService:
    return TriageService(ctx.session, ctx.clock, ctx.members, ctx.chats, ctx.outbox)


@notice(IssueReferred)
async def referred(event: IssueReferred, ctx: NoticeContext) -> None:
    triage = _triage(ctx)
    issue = await ctx.session.get(Issue, event.issue_id, options=[selectinload(Issue.photos)])
    dept = await ctx.session.get(Department, event.department_id)
    timeline = await ctx.session.get(IssueEvent, event.event_id)
    if issue is None or dept is None or timeline is None:
        return
    community = await triage.community_of(issue)
    head = f"{issue.hashtag} {esc(category_label(community, issue.category))}"
    if dept.chat_id is not None:
        place = await triage.place_name(issue)
        with use_locale(community.locale):
            text = _("📨 {headline} is referred to {department} by {community}.\n📍 {place}\n📝 {description}\n"
                     "Please deal with it by {when} and tell the community office what was done.").format(
                headline=head, department=esc(dept.label(community.locale)), community=esc(community.name),
                place=esc(place), description=esc(shorten(issue.description or "—", 600)),
                when=when_text(issue.deadline_at, community.timezone, ctx.clock()))
        photos = [p.file_id for p in issue.photos if p.kind == "before"][:10]
        await ctx.outbox.enqueue(key=f"issue_referred:{issue.id}:{timeline.id}:liaison", kind="issue_referred",
                                 chat_id=dept.chat_id, text=text, photos=photos or None,
                                 community_id=issue.community_id)

    def residents() -> str:
        return _("📨 {headline} was passed to {department}, who are responsible for it. I'll tell you what "
                 "happens.").format(headline=head, department=esc(dept.label(current_locale())))

    await triage._tell_followers(issue, timeline, residents)


@notice(ReferralRefused)
async def refused(event: ReferralRefused, ctx: NoticeContext) -> None:
    triage = _triage(ctx)
    issue = await ctx.session.get(Issue, event.issue_id)
    if issue is None:
        return
    community = await triage.community_of(issue)
    head = f"{issue.hashtag} {esc(category_label(community, issue.category))}"
    await triage._post_to_team(issue, f"issue_refused:{issue.id}:{event.refusals}", lambda: _(
        "🚫 {headline}: the responsible party refuses to comply, and no department is set for this category. "
        "Please decide the next step.").format(headline=head), level=2)
