"""Close-out (验收销号) rules of TriageService: which fixes wait for the check, verify / not accepted,
who may check, auto-close into the check, spot checks, and how every close-out is recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.services.access import NotAllowed
from bot.services.triage import InvalidInput, verification_required
from models import CloseHow, Community, IssueEvent, IssueStatus
from tests.unit.test_triage_support import (
    CAPTAIN_B1,
    NORTH_HEAD,
    SOUTH_HEAD,
    STAFF,
    actor,
    make_issue,
    resident,
    services,
)


async def _set(session, community, value) -> Community:  # type: ignore[no-untyped-def]
    c = await session.get(Community, community.id)
    c.settings = {**(c.settings or {}), "verification": value}
    await session.flush()
    return c


async def _fixed(session, community, clock, settings, **kw):  # type: ignore[no-untyped-def]
    ann = await resident(session, community, name="Ann")
    issue = await make_issue(session, community, clock(), reporter=ann, **kw)
    triage = services(session, clock, settings).triage
    captain = await actor(session, clock, settings, CAPTAIN_B1)
    await triage.accept(captain, issue.id)
    await triage.resolve(captain, issue.id, ["after-1"])
    return triage, ann, captain, issue


async def test_which_fixes_need_the_check(session, community, clock) -> None:
    litter = await make_issue(session, community, clock(), category="litter", urgent=False)
    shed = await make_issue(session, community, clock(), category="construction", urgent=False)
    fire = await make_issue(session, community, clock())
    c = await session.get(Community, community.id)
    assert [verification_required(c, i) for i in (litter, shed, fire)] == [False, True, True]
    litter.escalation_level = 2  # anything that reached the office
    assert verification_required(c, litter)
    litter.escalation_level = 0
    await _set(session, community, "all")
    assert verification_required(c, litter)
    await _set(session, community, "none")
    assert not verification_required(c, fire)
    await _set(session, community, ["litter"])
    assert verification_required(c, litter) and not verification_required(c, fire)


async def test_confirm_closes_directly_when_no_check_is_needed(session, community, clock, settings) -> None:
    triage, ann, _captain, issue = await _fixed(session, community, clock, settings, category="litter",
                                                urgent=False)
    out = await triage.confirm(ann, issue.id)
    assert out.issue.status == IssueStatus.CLOSED
    assert (out.issue.close_how, out.issue.closed_by_id, out.issue.closed_at) == (CloseHow.CONFIRMED, ann.id, clock())


async def test_verify_and_not_accepted(session, community, clock, settings) -> None:
    triage, ann, captain, issue = await _fixed(session, community, clock, settings)
    await triage.confirm(ann, issue.id)
    assert issue.status == IssueStatus.VERIFYING and issue.closed_at is None
    # Captains, the other area's head and residents may not check; the outcome changes nothing for them.
    for who in (CAPTAIN_B1, SOUTH_HEAD):
        with pytest.raises(NotAllowed):
            await triage.verify(await actor(session, clock, settings, who), issue.id)
    head = await actor(session, clock, settings, NORTH_HEAD)
    with pytest.raises(InvalidInput):
        await triage.not_accepted(head, issue.id, "   ")
    clock.advance(hours=2)
    back = await triage.not_accepted(head, issue.id, "Still blocked")
    assert back.changed and issue.status == IssueStatus.REOPENED and issue.resolved_at is None
    assert issue.deadline_at is not None and issue.deadline_at > clock()
    assert issue.assignee_id == captain.member_id  # back to whoever fixed it
    assert not (await triage.not_accepted(head, issue.id, "again")).changed
    assert not (await triage.verify(head, issue.id)).changed  # nothing to verify while it is reopened
    await triage.resolve(captain, issue.id, ["after-2"])
    clock.advance(days=7)
    assert await triage.auto_close() == 1  # nobody answered: it still waits for the check
    assert issue.status == IssueStatus.VERIFYING and not issue.closed_without_confirmation
    staff = await actor(session, clock, settings, STAFF)
    done = await triage.verify(staff, issue.id, "check-photo", "Clear now")
    assert done.changed and issue.status == IssueStatus.CLOSED
    assert (issue.close_how, issue.closed_by_id, issue.closed_at) == (CloseHow.VERIFIED, staff.member_id, clock())
    assert [p.kind for p in issue.photos][-1] == "check"
    assert not (await triage.verify(staff, issue.id)).changed
    kinds = (await session.execute(select(IssueEvent.kind).where(IssueEvent.issue_id == issue.id)
                                   .order_by(IssueEvent.id))).scalars().all()
    assert "not_accepted" in kinds and kinds[-1] == "verified"


async def test_reject_merge_and_withdraw_record_how(session, community, clock, settings) -> None:
    triage = services(session, clock, settings).triage
    captain = await actor(session, clock, settings, CAPTAIN_B1)
    one = await make_issue(session, community, clock())
    two = await make_issue(session, community, clock())
    await triage.reject(captain, one.id, "not_ours")
    await triage.mark_duplicate(captain, two.id, one.reference)
    assert (one.close_how, one.closed_by_id) == (CloseHow.REJECTED, captain.member_id)
    assert (two.close_how, two.closed_by_id) == (CloseHow.MERGED, captain.member_id)


async def test_spot_check_picks_closed_issues_and_records_the_outcome(session, community, clock, settings) -> None:
    await _set(session, community, "none")
    triage, ann, _captain, issue = await _fixed(session, community, clock, settings)
    await triage.confirm(ann, issue.id)
    assert issue.status == IssueStatus.CLOSED
    head = await actor(session, clock, settings, NORTH_HEAD)
    with pytest.raises(NotAllowed):  # spot checks are the office's, for the whole community
        await triage.spot_check(head, community.id, 3)
    staff = await actor(session, clock, settings, STAFF)
    assert not (await triage.not_accepted(staff, issue.id, "not picked")).changed
    picked = await triage.spot_check(staff, community.id, 3)
    assert [i.id for i in picked] == [issue.id]
    back = await triage.not_accepted(staff, issue.id, "Bikes are back")
    assert back.changed and issue.status == IssueStatus.REOPENED and issue.close_how is None
    clock.advance(days=8)
    assert await triage.spot_check(staff, community.id, 3) == []  # only last week's close-outs

