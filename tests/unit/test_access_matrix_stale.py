"""The permission matrix with stale roles: people who held a role and lost it (removed, handed over,
dropped by a re-import) and people who erased their data. Their actors, built from the database the
way every update builds them, may take no action and grant no role anywhere; invites they made stop
working; an issue still assigned to them gives them nothing (tests/unit/test_access_matrix.py has the
same grid for people who hold their roles)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.access import ACTIONS, GRANT_NEEDS, Actor, NotAllowed, can, can_grant
from bot.services.members import InviteError, MembersService, TelegramPerson
from bot.services.triage import TriageService
from models import Issue, IssueStatus, Member, Role
from tests.conftest import ADMIN_ID
from tests.unit.test_access_matrix import COLUMNS, _places

STALE = ("former_captain", "former_area_head", "former_staff", "former_volunteer", "erased_captain",
         "erased_staff")


async def _by(members: MembersService, telegram_id: int) -> Member:
    member = await members.by_telegram_id(telegram_id)
    assert member is not None
    return member


async def _stale_world(session: AsyncSession, clock: Any) -> tuple[dict[str, Actor], dict[str, str], MembersService]:
    """Each sample role-holder makes an invite for their place, then loses the role. Returns their actors
    now and the invite codes they made."""
    places = await _places(session)
    members = MembersService(session, clock, admin_ids=[ADMIN_ID])
    admin = await members.actor(await members.touch(TelegramPerson(id=ADMIN_ID, first_name="Admin")))
    # name: (Telegram id, the role they lose, the invite they made before: role and place)
    who = {"former_captain": (3001, "captain", ("resident", places["B1"])),
           "former_area_head": (2001, "area_head", ("captain", places["B1"])),
           "former_staff": (2002, "staff", ("area_head", places["N"])),
           "former_volunteer": (4001, "volunteer", None),
           "erased_captain": (3002, "captain", ("resident", places["B2"])),
           "erased_staff": (2102, "staff", ("staff", places["RC"]))}
    codes: dict[str, str] = {}
    for name, (tid, role, made) in who.items():
        member = await _by(members, tid)
        if made is not None:
            invite = await members.create_invite(await members.actor(member), role=made[0], place=made[1])
            codes[name] = invite.code
        if name.startswith("erased"):
            await members.delete_data(member)
        else:
            role_id = (await session.execute(select(Role.id).where(
                Role.member_id == member.id, Role.role == role))).scalars().first()
            await members.remove_role(admin, role_id)
    await session.flush()
    actors = {}
    for name, (tid, *_rest) in who.items():
        member = await members.by_telegram_id(tid)
        if member is None:  # erased: the same Telegram user is a stranger now
            member = await members.touch(TelegramPerson(id=tid, first_name="Back"))
        actors[name] = await members.actor(member)
    return actors, codes, members


async def test_stale_roles_may_do_nothing(session: AsyncSession, community: Any, riverside: Any, clock: Any) -> None:
    places = await _places(session)
    actors, _codes, _members = await _stale_world(session, clock)
    allowed = []
    for name in STALE:
        actor = actors[name]
        assert not actor.grants, (name, actor.grants)
        for column in COLUMNS:
            for action in ACTIONS:
                if can(actor, action, places[column]):
                    allowed.append(f"{action} · {name} · {column}")
            for role in GRANT_NEEDS:
                if can_grant(actor, role, places[column]):
                    allowed.append(f"grant {role} · {name} · {column}")
    assert allowed == []


async def test_their_invites_stop_working(session: AsyncSession, community: Any, riverside: Any, clock: Any) -> None:
    _actors, codes, members = await _stale_world(session, clock)
    assert set(codes) == {"former_captain", "former_area_head", "former_staff", "erased_captain", "erased_staff"}
    for name, code in codes.items():
        with pytest.raises(InviteError) as caught:
            await members.check_invite(code, "join")
        assert caught.value.reason in {"revoked", "stale"}, name
        newcomer = await members.touch(TelegramPerson(id=90_000_000 + len(name), first_name="New"))
        with pytest.raises(InviteError):
            await members.redeem_invite(newcomer, code)
        assert (await session.execute(select(Role).where(Role.member_id == newcomer.id))).first() is None


async def test_a_former_assignee_may_not_note_or_resolve(session: AsyncSession, community: Any, riverside: Any,
                                                         clock: Any) -> None:
    places = await _places(session)
    members = MembersService(session, clock, admin_ids=[ADMIN_ID])
    volunteer = await _by(members, 4001)
    now = clock()
    issue = Issue(community_id=places["B1"].community_id, number=901, reference="NC0901",
                  area_id=places["B1"].area_id, building_id=places["B1"].building_id, category="litter",
                  description="Bags", status=IssueStatus.IN_PROGRESS, assignee_id=volunteer.id,
                  deadline_at=now + timedelta(days=1), created_at=now, updated_at=now)
    session.add(issue)
    await session.flush()
    triage = TriageService.standalone(session, clock, members)
    # While a volunteer, the assignee may work on it.
    assert (await triage.check(await members.actor(volunteer), issue.id, assignee_ok=True)).id == issue.id
    role = (await session.execute(select(Role).where(Role.member_id == volunteer.id))).scalar_one()
    await session.delete(role)  # lost without the hooks: the check at the moment of use still refuses
    await session.flush()
    stale = await members.actor(volunteer)
    for call in (lambda: triage.check(stale, issue.id, assignee_ok=True),
                 lambda: triage.add_note(stale, issue.id, "still mine", public=False),
                 lambda: triage.resolve(stale, issue.id, ["after-1"])):
        with pytest.raises(NotAllowed):
            await call()
    assert issue.status == IssueStatus.IN_PROGRESS
