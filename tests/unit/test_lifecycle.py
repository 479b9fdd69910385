"""The lifecycle table (bot/services/lifecycle.py) against the services: for every status × action the
service refuses what the table does not allow (the same unchanged outcome the user sees today: "already
handled", "can't be withdrawn") and does what it allows; every status change the services make is a
transition the table lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.services.lifecycle import (
    ALL_STATUSES,
    CARD,
    RULES,
    TRANSITIONS,
    IllegalTransition,
    IssueAction,
    Viewer,
    available_actions,
    transition,
)
from models import Department, Issue, IssueEvent, IssueStatus
from tests.unit.test_triage_support import CAPTAIN_B1, STAFF, actor, make_issue, member, resident, services

A = IssueAction
S = IssueStatus


async def _changed(result: Any) -> bool:
    if isinstance(result, tuple):  # the reporting service's (issue, changed)
        return bool(result[1])
    return bool(result.changed)


async def _relay_check(call: Awaitable[Any]) -> bool:
    # Imported here: importing a capability at collection would change the order its jobs register in.
    from bot.services.relays import RelayError

    try:
        await call
    except RelayError:
        return False
    return True


# What each guarded action calls, given (services, issue, people); returns whether it acted.
Call = Callable[[Any, Issue, dict[str, Any]], Awaitable[bool]]
CALLS: dict[IssueAction, Call] = {
    A.ACCEPT: lambda s, i, p: _changed_of(s.triage.accept(p["staff"], i.id)),
    A.ASSIGN: lambda s, i, p: _changed_of(s.triage.assign(p["staff"], i.id, None)),
    A.DEADLINE: lambda s, i, p: _changed_of(s.triage.deadline_in(p["staff"], i.id, 5)),
    A.REJECT: lambda s, i, p: _changed_of(s.triage.reject(p["staff"], i.id, "not_ours")),
    A.DUPLICATE: lambda s, i, p: _changed_of(s.triage.mark_duplicate(p["staff"], i.id, p["original"].reference)),
    A.RESOLVE: lambda s, i, p: _changed_of(s.triage.resolve(p["staff"], i.id, ["after-1"])),
    A.TRIAGE: lambda s, i, p: _changed_of(s.triage.set_triage(p["staff"], i.id, "joint")),
    A.PROPOSE: lambda s, i, p: _changed_of(s.triage.set_triage(p["captain"], i.id, "joint")),
    A.NOTE: lambda s, i, p: _changed_of(s.triage.add_note(p["staff"], i.id, "a note", public=False)),
    A.SETTLE: lambda s, i, p: _changed_of(s.triage.settle(p["staff"], i.id)),
    A.TOUCH: lambda s, i, p: _relay_check(s.relays.touch_check(p["staff"], i.id)),
    A.CONSULT: lambda s, i, p: _relay_check(s.relays.consult_check(p["staff"], i.id)),
    A.REFER: lambda s, i, p: _changed_of(s.referrals.refer(p["staff"], i.id, p["department"].id, 7)),
    A.REFUSED: lambda s, i, p: _changed_of(s.referrals.refused(p["staff"], i.id)),
    A.VERIFY: lambda s, i, p: _changed_of(s.triage.verify(p["staff"], i.id)),
    A.NOT_ACCEPTED: lambda s, i, p: _changed_of(s.triage.not_accepted(p["staff"], i.id, "not done")),
    A.CONFIRM: lambda s, i, p: _changed_of(s.triage.confirm(p["reporter"], i.id)),
    A.REOPEN: lambda s, i, p: _changed_of(s.triage.reopen(p["reporter"], i.id, "still broken")),
    A.REBOUND: lambda s, i, p: _changed_of(s.reporting.reopen_rebound(p["staff_member"], p["staff"], i.id,
                                                                      offered={i.id})),
    A.RATE: lambda s, i, p: _changed_of(s.triage.rate(p["reporter"], i.id, 4)),
    A.WITHDRAW: lambda s, i, p: _changed_of(s.reporting.withdraw(p["reporter"], i.id)),
    A.EDIT: lambda s, i, p: _changed_of(s.reporting.edit_description(p["reporter"], i.id, "Rewritten")),
    A.UNASSIGN: lambda s, i, p: s.triage.unassign_former(i, p["assignee"]),
    A.EXPIRE: lambda s, i, p: _expired(s, i),
}


async def _changed_of(call: Awaitable[Any]) -> bool:
    return await _changed(await call)


async def _expired(s: Any, issue: Issue) -> bool:
    before = issue.status
    await s.triage.auto_close()
    return issue.status != before


# The way (三事分流) an action's issue needs to be allowed at all.
WAY = {A.SETTLE: "residents", A.TOUCH: "residents", A.CONSULT: "joint"}


@pytest.mark.parametrize("action", list(CALLS), ids=str)
async def test_every_status_allows_exactly_what_the_table_says(session, community, clock, settings,
                                                               action: IssueAction) -> None:
    svc = services(session, clock, settings)
    ann = await resident(session, community, name="Ann")
    people: dict[str, Any] = {
        "staff": await actor(session, clock, settings, STAFF),
        "staff_member": await member(session, STAFF),
        "captain": await actor(session, clock, settings, CAPTAIN_B1),
        "reporter": ann,
        "assignee": await resident(session, community, name="Bo"),
        "original": await make_issue(session, community, clock(), reporter=None),
    }
    dept = Department(community_id=community.id, key="urban", name="Urban management")
    session.add(dept)
    await session.flush()
    people["department"] = dept
    for status in ALL_STATUSES:
        issue = await make_issue(session, community, clock(), reporter=ann)
        issue.status = status
        issue.triage = WAY.get(action)
        issue.assignee_id = people["assignee"].id
        if status in (S.RESOLVED, S.VERIFYING, S.CLOSED):
            issue.resolved_at = clock() - timedelta(days=8)
        if status == S.CLOSED:
            issue.closed_at = clock() - timedelta(days=1)
            # A closed issue is verified again only when it was picked for a spot check (抽查).
            session.add(IssueEvent(issue_id=issue.id, at=clock(), kind="spot_check", public=False))
        await session.flush()
        acted = await CALLS[action](svc, issue, people)
        assert acted == (status in RULES[action].statuses), (action, status, acted)
        if not acted:
            fresh = await session.get(Issue, issue.id)
            assert fresh is not None and fresh.status == status, (action, status)
    # Every status change made on the way is in the table.
    for event in (await session.execute(select(IssueEvent).where(
            IssueEvent.from_status.is_not(None), IssueEvent.to_status.is_not(None)))).scalars():
        if event.from_status != event.to_status:
            assert (event.from_status, event.to_status) in TRANSITIONS, (action, event.kind, event.from_status,
                                                                         event.to_status)


def test_a_way_the_table_does_not_list_is_refused() -> None:
    issue = Issue(status=S.NEW)
    with pytest.raises(IllegalTransition):
        transition(issue, A.ACCEPT, S.CLOSED)
    with pytest.raises(IllegalTransition):
        transition(Issue(status=S.CLOSED), A.ACCEPT, S.ACCEPTED)
    assert transition(issue, A.ACCEPT, S.ACCEPTED) == S.NEW and issue.status == S.ACCEPTED
    # Every listed move starts in a status the action is allowed in.
    for action, rule in RULES.items():
        for before, _after in rule.moves:
            assert before in rule.statuses, action


def test_available_actions_follow_the_viewer() -> None:
    new = Issue(status=S.NEW, community_id=1, reporter_id=7)
    reporter = Viewer(is_reporter=True)
    assert set(available_actions(new, reporter)) >= {A.WITHDRAW, A.EDIT}
    assert A.ACCEPT not in available_actions(new, reporter)
    assert A.FOLLOW in available_actions(new, Viewer()) and A.FOLLOW not in available_actions(new, reporter)
    assert A.ACCEPT in available_actions(new, CARD) and A.WITHDRAW not in available_actions(new, CARD)
    closed = Issue(status=S.CLOSED, community_id=1)
    assert A.FOLLOW not in available_actions(closed, Viewer())
    assert set(available_actions(closed, Viewer(is_reporter=True))) == {A.DETAILS, A.RATE, A.ANSWER}
