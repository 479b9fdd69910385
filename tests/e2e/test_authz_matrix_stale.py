"""Authorization matrix with stale roles (issue 10's invariant): the matrix of test_authz_matrix.py, run
for people who held a role and lost it and for people who erased their data.

Before losing the role each of them is the assignee of an issue at Building 1, made an invite link
(when their role could) and scheduled an announcement (when it could). Then, with every command in
private and in the team chat and every forged press of every button the bot has: nothing they try
changes anything — triage buttons on the card, note/resolve as the former assignee (an assignment
left behind is put back after the role ended, to prove the check at the moment of use), /queue,
/members, /invite, /announce, /cleanday, /export, /digest. Their old invite redeemed by someone else
grants nothing, and their scheduled announcement never goes out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import build_services
from bot.services.access import Level
from bot.services.announcements import AnnDraft
from models import Announcement, Issue, IssueStatus, JobLease, OutboxItem, Role
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_authz_matrix import (
    B1_TEAM,
    Sweep,
    WriteLog,
    capture_crashes,
    make_targets,
    no_throttle,
    press,
    refusal_errors,
    sweep_commands,
    sweep_presses,
)
from tests.e2e.test_onboarding import _make_invite

__all__ = ["no_throttle"]

# name: (Telegram id, the role they lose, who removes it; None = they erase their data)
STALE = {
    "former_captain": (3001, "captain", 2001),
    "former_volunteer": (4001, "volunteer", 3001),
    "erased_captain": (3001, "captain", None),
}


async def lose_role(harness: BotHarness, community: Any, issue_id: int, name: str) -> tuple[str | None, int | None]:
    """Make the person the assignee of the issue, let them make an invite and schedule an announcement
    (where their role allows), then take the role away. Returns (invite code, announcement id)."""
    telegram_id, role, remover = STALE[name]
    code: str | None = None
    ann_id: int | None = None
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        member = await svc.members.by_telegram_id(telegram_id)
        await s.execute(update(Issue).where(Issue.id == issue_id).values(
            assignee_id=member.id, status=IssueStatus.IN_PROGRESS))
        if role == "captain":
            actor = await svc.members.actor(member)
            b1 = (await s.execute(select(Role.building_id).where(
                Role.member_id == member.id, Role.role == "captain"))).scalar_one()
            ann, _ = await svc.announcements.create(actor, AnnDraft(
                community_id=community.id, audience="buildings", building_ids=[b1],
                body_html="Water off on Sunday", send_at=(harness.clock() + timedelta(hours=2)).isoformat()))
            ann_id = ann.id
        await s.commit()
    if role == "captain":
        code = (await _make_invite(harness, telegram_id, "resident")).code
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        member = await svc.members.by_telegram_id(telegram_id)
        if remover is None:
            await svc.members.delete_data(member)
        else:
            actor = await svc.members.actor(await svc.members.by_telegram_id(remover))
            role_id = (await s.execute(select(Role.id).where(
                Role.member_id == member.id, Role.role == role))).scalar_one()
            await svc.onboarding.remove_from_place(actor, role_id)
        await s.commit()
        # The role's end put the issue back to the captains.
        assert (await s.get(Issue, issue_id)).assignee_id is None  # type: ignore[union-attr]
        # An assignment left behind (say, by an older version): the check at the moment of use must
        # still refuse them.
        await s.execute(update(Issue).where(Issue.id == issue_id).values(
            assignee_id=member.id, status=IssueStatus.IN_PROGRESS))
        await s.commit()
    await harness.deliver()
    return code, ann_id


@pytest.mark.parametrize("name", list(STALE))
async def test_authz_matrix_with_stale_roles(name: str, harness: BotHarness, community: Any, riverside: Any,
                                             engine: Any, sessions: async_sessionmaker[AsyncSession], clock: Any,
                                             no_throttle: None) -> None:
    targets = await make_targets(sessions, clock, community, riverside)
    for telegram_id in (2001, 2002, 2003, 3001, 3002, 3003, 4001, 4002):
        harness.tg.add_chat(telegram_id, type="private")  # the sample people opened the bot long ago
    code, ann_id = await lose_role(harness, community, targets.issue, name)
    user = harness.up.user(STALE[name][0], name.split("_")[1].title(), "en")
    crashes = capture_crashes()
    writes = WriteLog(engine)
    await harness.feed(harness.up.text(user, "/start"))
    found = Sweep()
    await sweep_commands(harness, user, writes, found, level=Level.NONE, refused_may_write=False)
    # Erasing one's own data is theirs to do (and would end the person under test).
    await sweep_presses(harness, user, writes, found, targets, who=name, refused_may_write=False,
                        skip=lambda cls, data: cls.__prefix__ == "set" and "delete" in data)
    problems, checked = found.problems, found.checked
    # Note and resolve as the former assignee, all the way through their private steps.
    from bot.keyboards.issues import cb

    writes.take()
    await press(harness, user, cb("resolve", targets.issue), B1_TEAM)
    await harness.feed(harness.up.photo(user, file_id="after-stale"))
    await harness.feed(harness.up.text(user, "Done, trust me"))
    await press(harness, user, cb("note", targets.issue, "internal"))
    await harness.feed(harness.up.text(user, "Still mine"))
    await harness.feed(harness.up.text(user, "/cancel"))
    if changed := writes.take():
        problems.append(f"note/resolve as the former assignee changed {changed}")
    errors = refusal_errors(harness)
    problems += crashes.release()

    # Their old invite, redeemed by someone else, grants nothing.
    if code is not None:
        newcomer = harness.up.user(unique_id(), "Wen", "en")
        writes.take()
        await harness.feed(harness.up.text(newcomer, f"/start {code}"))
        if "roles" in writes.take():
            problems.append("their old invite still granted a role")
        assert "invite link" in (harness.tg.texts(newcomer.id) or [""])[0]
    # Their scheduled announcement never goes out.
    if ann_id is not None:
        harness.clock.advance(hours=3)
        async with sessions() as s:
            await s.execute(delete(JobLease))
            await s.commit()
        await harness.tick()
        await harness.deliver()
        async with sessions() as s:
            assert (await s.get(Announcement, ann_id)).status == "cancelled"  # type: ignore[union-attr]
            assert (await s.execute(select(OutboxItem).where(OutboxItem.batch == f"ann:{ann_id}"))).first() is None
    writes.close()
    issue = await harness_issue(sessions, targets.issue)
    assert issue.status == IssueStatus.IN_PROGRESS and issue.resolved_at is None
    assert not problems, f"{len(problems)} of {checked} checks failed:\n" + "\n".join(problems[:40])
    assert not errors, errors[:10]
    assert checked > 40


async def harness_issue(sessions: async_sessionmaker[AsyncSession], issue_id: int) -> Issue:
    async with sessions() as s:
        found = await s.get(Issue, issue_id)
        assert found is not None
        return found
