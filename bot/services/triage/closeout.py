"""Close-out (验收销号): a confirmed fix that needs the office's check waits in VERIFYING until staff or an
area head verify it (optionally with an on-site photo and a note) or do not accept it (back to whoever
fixed it, with a new deadline); and spot checks (抽查) of issues closed in the last 7 days."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from bot.services.access import Actor, Place, require
from bot.services.cards import assigned_note
from bot.services.lifecycle import IssueAction, allows
from bot.services.triage.actions import TriageActions
from bot.services.triage.events import CheckAwaited, IssueNotAccepted, IssueVerified
from bot.services.triage.rules import MAX_NOTE, TOP_LEVEL, InvalidInput, Outcome, category_days, deadline_after_days
from models import CloseHow, Issue, IssueEvent, IssuePhoto, IssueStatus, Member


class TriageCloseout(TriageActions):
    async def _verifier_level(self, issue: Issue) -> int:
        """Who checks a fix: the office for its own work, else the area head (the office without one)."""
        if issue.assigned_to_office or issue.escalation_level >= TOP_LEVEL or issue.area_id is None:
            return TOP_LEVEL
        heads = await self.members.holders("area_head", Place(issue.community_id, issue.area_id))
        return 1 if heads else TOP_LEVEL

    async def _await_check(self, issue: Issue, action: IssueAction, actor_id: int | None, pending: str) -> None:
        """The fix is confirmed (`pending` says how); now the office or area head must check it."""
        issue.verify_requested_at = self.clock()
        event = await self._set_status(issue, action, IssueStatus.VERIFYING, actor_id, public=False)
        await self.events.record(CheckAwaited(issue.id, event.id, await self.place_name(issue), pending,
                                              await self._verifier_level(issue)))

    async def verify(self, actor: Actor, issue_id: int, photo: str | None = None, note: str | None = None
                     ) -> Outcome:
        """✅ Verify and close: checked (on site), closed out by this person. A photo taken on site and a
        note are kept on the timeline. A closed issue may be re-checked too (抽查): that records the
        outcome without closing it again."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "verify", issue)
        note = (note or "").strip() or None
        if note is not None and len(note) > MAX_NOTE:
            raise InvalidInput("too_long")
        if issue.status == IssueStatus.CLOSED and await self._spot_check_open(issue):
            if photo:
                self._add_check_photo(issue, photo)
            await self._event(issue, "spot_checked", actor.member_id, note=note, public=False)
            return Outcome(issue, True)
        if not allows(IssueAction.VERIFY, issue) or issue.status != IssueStatus.VERIFYING:
            return Outcome(issue, False)
        if photo:
            self._add_check_photo(issue, photo)
        self._close_out(issue, CloseHow.VERIFIED, actor.member_id)
        event = await self._set_status(issue, IssueAction.VERIFY, IssueStatus.CLOSED, actor.member_id, kind="verified",
                                       note=note)
        await self.events.record(IssueVerified(issue.id, event.id))
        await self.refresh_card(issue)
        return Outcome(issue, True)

    def _add_check_photo(self, issue: Issue, file_id: str) -> None:
        start = max((p.position for p in issue.photos), default=-1) + 1
        issue.photos.append(IssuePhoto(file_id=file_id, kind="check", position=start))

    async def _fixer(self, issue: Issue) -> Member | None:
        """Whoever marked it fixed last (the work goes back to them when the check fails)."""
        actor_id = (await self.session.execute(
            select(IssueEvent.actor_id).where(IssueEvent.issue_id == issue.id,
                                              IssueEvent.to_status == IssueStatus.RESOLVED)
            .order_by(IssueEvent.id.desc()).limit(1))).scalar_one_or_none()
        return await self.session.get(Member, actor_id) if actor_id else None

    async def not_accepted(self, actor: Actor, issue_id: int, reason: str) -> Outcome:
        """❌ Not accepted (驳回整改): back to whoever fixed it, with a new deadline and the reason; the
        reporter is told it is still being worked on. Also the failed outcome of a spot check."""
        issue = await self.get(issue_id, lock=True)
        self._require(actor, "verify", issue)
        reason = reason.strip()
        if not reason:
            raise InvalidInput("empty")
        if len(reason) > MAX_NOTE:
            raise InvalidInput("too_long")
        spot = issue.status == IssueStatus.CLOSED and await self._spot_check_open(issue)
        if not allows(IssueAction.NOT_ACCEPTED, issue) or (issue.status != IssueStatus.VERIFYING and not spot):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        now = self.clock()
        fixer = await self._fixer(issue)
        issue.resolved_at = None
        issue.closed_at = issue.closed_by_id = issue.close_how = None
        issue.verify_requested_at = None
        event = await self._set_status(issue, IssueAction.NOT_ACCEPTED, IssueStatus.REOPENED, actor.member_id,
                                       kind="not_accepted", note=reason, public=False)
        if fixer is not None and fixer.id != actor.member_id and fixer.data_deleted_at is None \
                and issue.assignee_id != fixer.id:
            issue.assignee_id = fixer.id
            await self._event(issue, "assigned", actor.member_id, note=assigned_note(fixer.id), public=False)
        await self._set_deadline(issue, deadline_after_days(now, category_days(community, issue.category),
                                                            community.timezone), actor.member_id, public=False)
        told = fixer.id if fixer is not None and fixer.id != actor.member_id else None
        await self.events.record(IssueNotAccepted(issue.id, event.id, reason, told))
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def _spot_check_open(self, issue: Issue) -> bool:
        """A closed issue the office picked for a spot check (抽查) whose outcome is not recorded yet."""
        picked = (await self.session.execute(select(func.max(IssueEvent.id)).where(
            IssueEvent.issue_id == issue.id, IssueEvent.kind == "spot_check"))).scalar_one_or_none()
        if picked is None:
            return False
        done = (await self.session.execute(select(IssueEvent.id).where(
            IssueEvent.issue_id == issue.id, IssueEvent.id > picked,
            IssueEvent.kind.in_(("spot_checked", "not_accepted"))).limit(1))).first()
        return done is None

    async def spot_check(self, actor: Actor, community_id: int, n: int) -> list[Issue]:
        """抽查: N random issues of the community closed out in the last 7 days (fixed work, not
        rejections), picked for a re-check. Each pick is on the issue's timeline; the outcome is recorded
        with verify / not_accepted. Staff only (the whole community)."""
        require(actor, "verify", Place(community_id))
        n = max(1, min(int(n), 20))
        since = self.clock() - timedelta(days=7)
        rows = list((await self.session.execute(
            select(Issue).options(selectinload(Issue.photos)).where(
                Issue.community_id == community_id, Issue.status == IssueStatus.CLOSED,
                Issue.closed_at >= since, Issue.close_how.in_((*CloseHow.WITHOUT_VERIFICATION, CloseHow.VERIFIED)))
            .order_by(func.random()).limit(n))).scalars())
        for issue in rows:
            if not await self._spot_check_open(issue):
                await self._event(issue, "spot_check", actor.member_id, public=False)
        return rows
