"""Between the team and the reporter: questions and answers (the team never learns who the reporter is),
and the reporter's side after a fix: confirm (close-out or the office's check), not fixed (reopen), rate."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.services.access import Actor, NotAllowed
from bot.services.lifecycle import IssueAction, allows
from bot.services.limits import ANSWERS, enforce_daily
from bot.services.triage.closeout import TriageCloseout
from bot.services.triage.events import IssueReopened, QuestionAsked, ReporterAnswered
from bot.services.triage.rules import (
    MAX_NOTE,
    InvalidInput,
    Outcome,
    category_days,
    deadline_after_days,
    verification_required,
)
from models import CloseHow, IssueEvent, IssueStatus, Member


class TriageConversation(TriageCloseout):
    async def ask(self, actor: Actor, issue_id: int, question: str) -> Outcome:
        """Relay a question to the reporter; the team never learns who the reporter is."""
        issue = await self.get(issue_id)
        self._require(actor, "triage", issue, assignee_ok=True)
        question = question.strip()
        if not question:
            raise InvalidInput("empty")
        if len(question) > MAX_NOTE:
            raise InvalidInput("too_long")
        reporter = await self.session.get(Member, issue.reporter_id) if issue.reporter_id else None
        if reporter is None or reporter.data_deleted_at is not None:
            raise InvalidInput("no_reporter")
        event = await self._event(issue, "asked", actor.member_id, note=question, public=False)
        await self.events.record(QuestionAsked(issue.id, event.id, reporter.id, question))
        return Outcome(issue, True)

    async def open_question(self, member: Member, issue_id: int, question_id: int) -> IssueEvent:
        """The question (an "asked" event of this issue, named by the ✍️ Answer button) that the
        reporter may answer now. Callback data is untrusted: NotAllowed for anyone but the reporter,
        InvalidInput("no_question") for an id that is not a question of this issue,
        InvalidInput("answered") once it has its answer, DailyLimitReached past the day's cap."""
        issue = await self.get(issue_id)
        if issue.reporter_id != member.id:
            raise NotAllowed("answer")
        question = await self.session.get(IssueEvent, question_id) if question_id > 0 else None
        if question is None or question.issue_id != issue.id or question.kind != "asked":
            raise InvalidInput("no_question")
        answered = (await self.session.execute(select(IssueEvent.id).where(
            IssueEvent.answer_to_id == question.id))).first()
        if answered is not None:
            raise InvalidInput("answered")
        community = await self.community_of(issue)
        await enforce_daily(self.session, community, ANSWERS, self.clock(), lambda since: (
            select(func.count()).select_from(IssueEvent).where(
                IssueEvent.issue_id == issue.id, IssueEvent.kind == "answered",
                IssueEvent.actor_id == member.id, IssueEvent.at >= since)))
        return question

    async def answer(self, member: Member, issue_id: int, text: str, question_id: int) -> Outcome:
        """The reporter's answer to one open question goes to the card's thread as a reply to the
        card, without their name. Each question is answered once (see open_question)."""
        # Locked: two answers to one question at once (two workers) are serialised (PostgreSQL; SQLite
        # holds the write lock), and the unique answer_to_id is the last guard.
        issue = await self.get(issue_id, lock=True)
        question = await self.open_question(member, issue.id, question_id)
        text = text.strip()
        if not text:
            raise InvalidInput("empty")
        if len(text) > MAX_NOTE:
            raise InvalidInput("too_long")
        event = await self._event(issue, "answered", member.id, note=text, public=False)
        event.answer_to_id = question.id
        await self.session.flush()
        askers: tuple[int, ...] = ()
        if issue.card_chat_id is None:
            # No card chat: the people who asked get it privately.
            rows = (await self.session.execute(select(IssueEvent.actor_id).where(
                IssueEvent.issue_id == issue.id, IssueEvent.kind == "asked"))).scalars()
            askers = tuple(set(a for a in rows if a is not None))
        await self.events.record(ReporterAnswered(issue.id, event.id, text, askers))
        return Outcome(issue, True)

    async def confirm(self, member: Member, issue_id: int) -> Outcome:
        """👍 Fixed, thank you: closed out (销号), or waiting for the office's check when it needs one."""
        issue = await self.get(issue_id, lock=True)
        if issue.reporter_id != member.id:
            raise NotAllowed("confirm")
        if not allows(IssueAction.CONFIRM, issue):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        if verification_required(community, issue):
            await self._await_check(issue, IssueAction.CONFIRM, member.id, CloseHow.CONFIRMED)
        else:
            self._close_out(issue, CloseHow.CONFIRMED, member.id)
            await self._set_status(issue, IssueAction.CONFIRM, IssueStatus.CLOSED, member.id)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def rate(self, member: Member, issue_id: int, score: int) -> Outcome:
        issue = await self.get(issue_id, lock=True)
        if issue.reporter_id != member.id:
            raise NotAllowed("rate")
        if not 1 <= score <= 5:
            raise ValueError(score)
        if issue.satisfaction is not None or not allows(IssueAction.RATE, issue):
            return Outcome(issue, False)
        issue.satisfaction = score
        await self._event(issue, "rated", member.id, note=str(score), public=False)
        await self.refresh_card(issue)
        return Outcome(issue, True)

    async def reopen(self, member: Member, issue_id: int, comment: str) -> Outcome:
        """👎 Not fixed: reopened with the comment; the card goes back to the team chat."""
        issue = await self.get(issue_id, lock=True)
        if not await self._is_follower(issue, member):
            raise NotAllowed("reopen")
        comment = comment.strip()
        if not comment:
            raise InvalidInput("empty")
        if len(comment) > MAX_NOTE:
            raise InvalidInput("too_long")
        if not allows(IssueAction.REOPEN, issue):
            return Outcome(issue, False)
        community = await self.community_of(issue)
        issue.reopen_count += 1
        issue.resolved_at = None
        now = self.clock()
        event = await self._set_status(issue, IssueAction.REOPEN, IssueStatus.REOPENED, member.id, note=comment)
        if issue.deadline_at is None or issue.deadline_at <= now:
            await self._set_deadline(issue, deadline_after_days(now, category_days(community, issue.category),
                                                                community.timezone), None, public=False)
        await self.events.record(IssueReopened(issue.id, event.id, member.id, comment))
        await self.refresh_card(issue)
        return Outcome(issue, True)
