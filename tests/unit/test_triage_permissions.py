"""The permission matrix of every card button: who may press what on an issue of Building 1 (North
area, Nanchi). A refused press raises NotAllowed and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.services.access import NotAllowed
from bot.services.triage import TriageService
from models import Issue, IssueEvent, IssueStatus
from tests.unit.test_triage_support import (
    ADMIN,
    CAPTAIN_B1,
    CAPTAIN_B2,
    NORTH_HEAD,
    RS_STAFF,
    SOUTH_HEAD,
    STAFF,
    VOLUNTEER,
    actor,
    make_issue,
    member,
    resident,
    services,
)

Action = Callable[[TriageService, Any, Issue], Awaitable[Any]]


async def _assign(t: TriageService, a: Any, i: Issue) -> Any:
    return await t.assign(a, i.id, None)


ACTIONS: dict[str, Action] = {
    "accept": lambda t, a, i: t.accept(a, i.id),
    "assign": _assign,
    "deadline": lambda t, a, i: t.deadline_in(a, i.id, 3),
    "reject": lambda t, a, i: t.reject(a, i.id, "not_a_problem"),
    "duplicate": lambda t, a, i: t.mark_duplicate(a, i.id, "1"),
    "resolve": lambda t, a, i: t.resolve(a, i.id, ["after"]),
    "triage": lambda t, a, i: t.set_triage(a, i.id, "office"),
    "note": lambda t, a, i: t.add_note(a, i.id, "hello", public=False),
    "ask": lambda t, a, i: t.ask(a, i.id, "which door?"),
    "menu": lambda t, a, i: t.check(a, i.id),
}
ALL = set(ACTIONS)
# 三事分流: a captain's (or area head's) way is a proposal that staff confirm, so they may press it too;
# tests/e2e/test_closeout.py checks that only staff decide.
WORK = ALL

# who → the buttons they may press (everything else is refused)
MATRIX: dict[str, tuple[int | str, set[str]]] = {
    "captain of that building": (CAPTAIN_B1, WORK),
    "captain of another building": (CAPTAIN_B2, set()),
    "area head of that area": (NORTH_HEAD, WORK),
    "area head of another area": (SOUTH_HEAD, set()),
    "office staff": (STAFF, ALL),
    "staff of another community": (RS_STAFF, set()),
    "resident": ("resident", set()),
    "volunteer": (VOLUNTEER, set()),
    "admin": (ADMIN, ALL),
}


@pytest.mark.parametrize("who", list(MATRIX))
async def test_permission_matrix(who: str, session, community, riverside, clock, settings) -> None:
    telegram_id, allowed = MATRIX[who]
    reporter = await resident(session, community, name="Reporter")
    if telegram_id == "resident":
        telegram_id = (await resident(session, community, name="Neighbour")).telegram_id
    assert isinstance(telegram_id, int)
    await member(session, telegram_id)
    who_actor = await actor(session, clock, settings, telegram_id)
    triage: TriageService = services(session, clock, settings).triage
    await make_issue(session, community, clock(), reporter=reporter)  # #NC0001, the duplicate target
    for name, action in ACTIONS.items():
        issue = await make_issue(session, community, clock(), reporter=reporter)
        before = (await session.execute(select(func.count(IssueEvent.id)).where(
            IssueEvent.issue_id == issue.id))).scalar_one()
        if name in allowed:
            await action(triage, who_actor, issue)
            continue
        with pytest.raises(NotAllowed):
            await action(triage, who_actor, issue)
        after = (await session.execute(select(func.count(IssueEvent.id)).where(
            IssueEvent.issue_id == issue.id))).scalar_one()
        assert (before, issue.status) == (after, IssueStatus.NEW), f"{who} / {name} changed the issue"


async def test_an_assigned_volunteer_may_resolve_and_note_but_not_triage(session, community, clock,
                                                                         settings) -> None:
    triage: TriageService = services(session, clock, settings).triage
    issue = await make_issue(session, community, clock())
    captain = await actor(session, clock, settings, CAPTAIN_B1)
    volunteer = await member(session, VOLUNTEER)
    await triage.assign(captain, issue.id, volunteer.id)
    vol = await actor(session, clock, settings, VOLUNTEER)
    await triage.add_note(vol, issue.id, "On my way", public=True)
    for call in (triage.accept(vol, issue.id), triage.reject(vol, issue.id, "not_ours"),
                 triage.deadline_in(vol, issue.id, 1)):
        with pytest.raises(NotAllowed):
            await call
    assert (await triage.resolve(vol, issue.id, ["after"])).changed
