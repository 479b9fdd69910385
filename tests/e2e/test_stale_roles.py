"""Powers that outlive the role, and /deletedata cutting the link to the person (issue 10).

A person who loses their last role keeps no assignee rights and their issues go back to the captains;
invite links stop working when their maker may no longer grant them, and successors see and revoke
them; a scheduled announcement goes out only if its author may still send it. Erasure cancels and
scrubs the person's outbox rows, names them by id in timelines ("a former member") and forgets where
they checked in; delivered outbox rows are pruned after OUTBOX_RETENTION_DAYS."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from bot.notices.cards import detail_text
from bot.services import build_services
from bot.services.access import NotAllowed, Place
from models import (
    Announcement,
    CheckpointVisit,
    GroupChat,
    Invite,
    Issue,
    IssueEvent,
    IssueStatus,
    JobLease,
    Member,
    OutboxItem,
    OutboxStatus,
    PatrolRoute,
    PatrolShift,
    Role,
    ShiftAssignment,
)
from tests.conftest import BotHarness, unique_id
from tests.e2e.stories import ann_and_zhang
from tests.e2e.test_onboarding import _make_invite
from tests.e2e.test_triage import (
    CAPTAIN,
    NORTH_HEAD,
    OFFICE,
    TEAM_B1,
    VOLUNTEER,
    alert,
    card,
    file_issue,
    groups,
    issue,
    person,
    press,
    set_locale,
)


async def services(harness: BotHarness, s: Any) -> dict[str, Any]:
    return build_services(s, harness.clock, harness.dp["settings"])


async def member_of(harness: BotHarness, telegram_id: int) -> Member:
    async with harness.sessions() as s:
        return (await s.execute(select(Member).where(Member.telegram_id == telegram_id))).scalar_one()


async def remove_role(harness: BotHarness, by: int, holder: int, role: str) -> None:
    """What /members → Remove does (the service the handler calls)."""
    async with harness.sessions() as s:
        svc = await services(harness, s)
        actor = await svc.members.actor(await svc.members.by_telegram_id(by))
        target = await svc.members.by_telegram_id(holder)
        role_id = (await s.execute(select(Role.id).where(Role.member_id == target.id, Role.role == role))).scalar_one()
        await svc.onboarding.remove_from_place(actor, role_id)
        await s.commit()


async def assigned_to_li(harness: BotHarness) -> tuple[int, Any, Any, Any]:
    """Ann reports; Captain Zhang accepts and assigns it to the volunteer Li; Li gets it privately."""
    ann, zhang = await ann_and_zhang(harness)
    li = await person(harness, VOLUNTEER, "Li")
    issue_id = await file_issue(harness, ann)
    the_card = card(harness)
    await press(harness, the_card, zhang, "Accept")
    await press(harness, the_card, zhang, "Assign")
    await press(harness, the_card, zhang, "👤 Li")
    assert alert(harness) == "👤 Assigned."
    await harness.deliver()
    assert any("assigned to you" in t for t in harness.tg.texts(li.id, as_plain=True))
    return issue_id, ann, zhang, li


def latest_with(harness: BotHarness, chat: int, text: str) -> Any:
    return next(c for c in reversed(harness.tg.sent(chat)) if text in (c.plain or ""))


# ---------------------------------------------------------------------------- assignments


async def test_removed_volunteer_loses_assignee_rights_and_captains_get_the_issue_back(
        harness: BotHarness, community: Any) -> None:
    tg = harness.tg
    issue_id, _ann, zhang, li = await assigned_to_li(harness)
    assigned_msg = latest_with(harness, li.id, "assigned to you")
    before = len(tg.texts(CAPTAIN))

    # Captain Zhang removes Li's volunteer role (/members): Li now holds no role in Nanchi.
    await remove_role(harness, CAPTAIN, VOLUNTEER, "volunteer")
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.assignee_id is None and found.status == IssueStatus.ACCEPTED
    told = tg.texts(CAPTAIN, as_plain=True)[before:]
    assert any("is back with you: the person it was assigned to no longer has a role" in t for t in told), told

    # Li's buttons in the private message now do nothing.
    await press(harness, assigned_msg, li, "Resolve")
    assert alert(harness) == "Only the captains of Building 1 can do this."
    async with harness.sessions() as s:
        svc = await services(harness, s)
        actor = await svc.members.actor(await svc.members.by_telegram_id(VOLUNTEER))
        # Even were the assignment still there, the service refuses a former member.
        await s.execute(update(Issue).where(Issue.id == issue_id).values(assignee_id=actor.member_id))
        with pytest.raises(NotAllowed):
            await svc.triage.add_note(actor, issue_id, "still mine?", public=False)
        await s.rollback()
    assert (await issue(harness, issue_id)).status == IssueStatus.ACCEPTED
    assert zhang.id == CAPTAIN


async def test_erased_assignee_is_a_former_member_in_the_timeline(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    issue_id, _ann, _zhang, li = await assigned_to_li(harness)
    li_member = await member_of(harness, VOLUNTEER)
    async with harness.sessions() as s:
        # A timeline row written before notes named people by id.
        s.add(IssueEvent(issue_id=issue_id, actor_id=None, at=harness.clock(), kind="assigned", note="Li",
                         public=True))
        await s.commit()
    await harness.feed(up.text(li, "/deletedata"))
    await harness.feed(up.callback_on(tg.last(li.id), li, "Yes, delete my data"))
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.assignee_id is None and found.status == IssueStatus.ACCEPTED
    async with harness.sessions() as s:
        notes = list((await s.execute(select(IssueEvent.note).where(
            IssueEvent.issue_id == issue_id, IssueEvent.kind == "assigned"))).scalars())
        assert notes == [f"member:{li_member.id}", f"member:{li_member.id}"]
        svc = await services(harness, s)
        timeline = await detail_text(svc.cards, found, "en", True)
    assert "assigned · Zhang: a former member" in timeline
    assert "Li" not in timeline.replace("Litter", "")
    assert any("is back with you" in t for t in tg.texts(CAPTAIN, as_plain=True))


# ---------------------------------------------------------------------------- erasure and the outbox


async def test_deletedata_cancels_pending_and_scrubs_delivered_outbox_rows(harness: BotHarness,
                                                                         community: Any) -> None:
    tg, up = harness.tg, harness.up
    await set_locale(harness, "en")
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    member = await member_of(harness, ann.id)
    async with harness.sessions() as s:
        svc = await services(harness, s)
        m = await s.get(Member, member.id)
        await svc.outbox.notify(m, key="t:sent", kind="test", text="Your report #NC0001 was accepted")
        await svc.outbox.notify(m, key="t:later", kind="test", text="Cleaning day tomorrow",
                                   not_before=harness.clock() + timedelta(hours=2))
        s.add(GroupChat(chat_id=-1009000000001, title="Ann's group", added_by=ann.id, added_at=harness.clock()))
        await s.commit()
    await harness.deliver()
    assert "Your report #NC0001 was accepted" in tg.texts(ann.id)
    await harness.feed(up.text(ann, "/deletedata"))
    await harness.feed(up.callback_on(tg.last(ann.id), ann, "Yes, delete my data"))
    harness.clock.advance(hours=3)
    await harness.deliver()
    assert "Cleaning day tomorrow" not in tg.texts(ann.id)
    async with harness.sessions() as s:
        rows = list((await s.execute(select(OutboxItem).where(OutboxItem.dedup_key.in_(["t:sent", "t:later"]))
                                     .order_by(OutboxItem.dedup_key))).scalars())
        assert [(r.dedup_key, r.status) for r in rows] == [("t:later", OutboxStatus.EXPIRED),
                                                            ("t:sent", OutboxStatus.SENT)]
        for row in rows:
            assert row.chat_id == 0 and row.member_id is None and "text" not in row.payload
        # Nothing of any kind is still addressed to the person's Telegram chat.
        left = (await s.execute(select(OutboxItem).where(OutboxItem.chat_id == ann.id))).scalars().all()
        assert left == []
        assert (await s.get(GroupChat, -1009000000001)).added_by is None  # type: ignore[union-attr]


async def test_deletedata_forgets_patrol_check_in_places_but_keeps_the_hours(harness: BotHarness,
                                                                             community: Any) -> None:
    tg, up = harness.tg, harness.up
    li = await person(harness, unique_id(), "Li", resident_of="b1")
    member = await member_of(harness, li.id)
    now = harness.clock()
    async with harness.sessions() as s:
        route = PatrolRoute(community_id=community.id, key=f"r{unique_id()}", name="North loop", created_at=now)
        s.add(route)
        await s.flush()
        shift = PatrolShift(community_id=community.id, route_id=route.id, local_date=date(2026, 11, 19),
                            starts_at=now - timedelta(hours=14), ends_at=now - timedelta(hours=12), filled=1,
                            created_at=now)
        s.add(shift)
        await s.flush()
        held = ShiftAssignment(shift_id=shift.id, member_id=member.id, status="active",
                               checked_in_at=now - timedelta(hours=14), check_in_lat=31.2, check_in_lon=121.4,
                               checked_out_at=now - timedelta(hours=12), created_at=now)
        s.add(held)
        await s.flush()
        s.add(CheckpointVisit(assignment_id=held.id, at=now - timedelta(hours=13), lat=31.21, lon=121.41))
        await s.commit()
        held_id = held.id
    await harness.feed(up.text(li, "/deletedata"))
    await harness.feed(up.callback_on(tg.last(li.id), li, "Yes, delete my data"))
    async with harness.sessions() as s:
        held = await s.get(ShiftAssignment, held_id)
        assert held is not None and (held.check_in_lat, held.check_in_lon) == (None, None)
        assert held.checked_in_at is not None and held.checked_out_at is not None  # the hours stay
        visit = (await s.execute(select(CheckpointVisit).where(CheckpointVisit.assignment_id == held_id))).scalar_one()
        assert (visit.lat, visit.lon) == (None, None)


async def test_privacy_says_what_is_kept_and_for_how_long(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    ann = up.user(unique_id(), "Ann", "en")
    await harness.feed(up.text(ann, "/privacy"))
    text = tg.last(ann.id).plain or ""
    assert "Messages I send you are kept for 30 days after delivery, then deleted." in text
    assert "your reports and their photos" in text and "the hours you patrolled" in text
    zh = up.user(unique_id(), "李", "zh-hans")
    await harness.feed(up.text(zh, "/privacy"))
    assert "30天" in (tg.last(zh.id).plain or "")


async def test_delivered_outbox_rows_are_pruned_daily(harness: BotHarness, community: Any) -> None:
    now = harness.clock()
    async with harness.sessions() as s:
        def row(key: str, status: str, age_days: int, kind: str = "test") -> OutboxItem:
            at = now - timedelta(days=age_days)
            return OutboxItem(dedup_key=key, kind=kind, chat_id=1, payload={"text": "x"}, status=status,
                              not_before=at, created_at=at, sent_at=at if status == OutboxStatus.SENT else None)

        s.add_all([row("p:old-sent", OutboxStatus.SENT, 31), row("p:old-failed", OutboxStatus.FAILED, 40),
                   row("p:new-sent", OutboxStatus.SENT, 29), row("p:old-pending", OutboxStatus.PENDING, 31),
                   row("p:old-card", OutboxStatus.SENT, 60, kind="issue_card")])
        await s.execute(delete(JobLease))
        await s.commit()
    await harness.tick()

    async def keys() -> list[str]:
        async with harness.sessions() as s:
            return sorted((await s.execute(select(OutboxItem.dedup_key).where(
                OutboxItem.dedup_key.startswith("p:")))).scalars())

    assert await keys() == ["p:new-sent", "p:old-card", "p:old-pending"]
    # Daily: a day later the 29-day-old row is 30+ days old; an hour later nothing runs yet.
    harness.clock.advance(hours=1)
    async with harness.sessions() as s:
        await s.execute(update(OutboxItem).where(OutboxItem.dedup_key == "p:new-sent").values(
            sent_at=now - timedelta(days=31), created_at=now - timedelta(days=31)))
        await s.execute(delete(JobLease).where(JobLease.name == "tick"))
        await s.commit()
    await harness.tick()
    assert "p:new-sent" in await keys()
    harness.clock.advance(days=1)
    async with harness.sessions() as s:
        await s.execute(delete(JobLease).where(JobLease.name == "tick"))
        await s.commit()
    await harness.tick()
    assert await keys() == ["p:old-card", "p:old-pending"]


# ---------------------------------------------------------------------------- invites


async def test_invite_stops_working_when_its_maker_loses_the_role(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    invite = await _make_invite(harness, CAPTAIN, "resident")
    kept = await _make_invite(harness, 2002, "resident")  # staff's invite for the same building
    # The captaincy is taken away without the hooks (say, an edit in the database): checked at use.
    async with harness.sessions() as s:
        zhang = (await s.execute(select(Member).where(Member.telegram_id == CAPTAIN))).scalar_one()
        await s.execute(delete(Role).where(Role.member_id == zhang.id, Role.role == "captain"))
        await s.commit()
    newcomer = up.user(unique_id(), "Wen", "en")
    await harness.feed(up.text(newcomer, f"/start {invite.code}"))
    assert tg.texts(newcomer.id)[0].startswith("This invite link no longer works: the person who made it can no "
                                               "longer invite people there.")
    async with harness.sessions() as s:
        wen = (await s.execute(select(Member).where(Member.telegram_id == newcomer.id))).scalar_one()
        assert (await s.execute(select(Role).where(Role.member_id == wen.id))).first() is None
    other = up.user(unique_id(), "Xu", "en")
    await harness.feed(up.text(other, f"/start {kept.code}"))
    assert "You joined Building 1 as a resident" in tg.texts(other.id)[0]


async def test_invites_are_revoked_when_the_maker_is_removed_or_erased(harness: BotHarness,
                                                                       community: Any) -> None:
    tg, up = harness.tg, harness.up
    invite = await _make_invite(harness, CAPTAIN, "resident")
    vol_invite = await _make_invite(harness, CAPTAIN, "volunteer", None)
    await remove_role(harness, NORTH_HEAD, CAPTAIN, "captain")
    async with harness.sessions() as s:
        assert (await s.get(Invite, invite.id)).revoked_at is not None
        assert (await s.get(Invite, vol_invite.id)).revoked_at is not None
    # Erasure: a staff member's invites all go.
    staff_user = await person(harness, unique_id(), "Gao")
    async with harness.sessions() as s:
        svc = await services(harness, s)
        gao = await svc.members.by_telegram_id(staff_user.id)
        await svc.members.grant(gao, "staff", Place(community.id), source="invite")
        await s.commit()
    staff_invite = await _make_invite(harness, staff_user.id, "staff", None)
    await harness.feed(up.text(staff_user, "/deletedata"))
    await harness.feed(up.callback_on(tg.last(staff_user.id), staff_user, "Yes, delete my data"))
    async with harness.sessions() as s:
        assert (await s.get(Invite, staff_invite.id)).revoked_at is not None


async def test_successors_list_and_revoke_invites_made_for_their_places(harness: BotHarness,
                                                                        community: Any) -> None:
    tg, up = harness.tg, harness.up
    await person(harness, CAPTAIN, "Zhang")
    invite = await _make_invite(harness, CAPTAIN, "resident")
    head = await person(harness, NORTH_HEAD, "Wang")
    await harness.feed(up.text(head, "/invite"))
    home = tg.last(NORTH_HEAD)
    assert "<b>Made by others for your places</b>" in (home.text or "")
    assert "1. Building 1 · resident · until 2026-11-27 09:00 · used 0/50 · by Zhang" in (home.text or "")
    await harness.feed(up.callback_on(home, head, "Revoke 1"))
    assert "Made by others" not in (tg.edits(NORTH_HEAD)[-1].text or "")
    async with harness.sessions() as s:
        assert (await s.get(Invite, invite.id)).revoked_at is not None
    # A captain of another building neither sees it nor may revoke it.
    other = await _make_invite(harness, CAPTAIN, "resident")
    chen = await person(harness, 3002, "Chen")
    await harness.feed(up.text(chen, "/invite"))
    assert "Made by others" not in (tg.last(3002).text or "")
    async with harness.sessions() as s:
        svc = await services(harness, s)
        actor = await svc.members.actor(await svc.members.by_telegram_id(3002))
        with pytest.raises(NotAllowed):
            await svc.members.revoke_invite(actor, other.id)


# ---------------------------------------------------------------------------- scheduled announcements


async def test_scheduled_announcement_of_a_former_captain_is_cancelled(harness: BotHarness, community: Any) -> None:
    from tests.e2e.test_cleaning import add_residents

    tg = harness.tg
    await set_locale(harness, "en")
    groups(harness)
    await add_residents(harness, [unique_id()])
    zhang = await person(harness, CAPTAIN, "Zhang")
    async with harness.sessions() as s:
        svc = await services(harness, s)
        from bot.services.announcements import AnnDraft

        actor = await svc.members.actor(await svc.members.by_telegram_id(CAPTAIN))
        b1 = await svc.members.building_place(
            (await s.execute(select(Role.building_id).where(Role.member_id == actor.member_id,
                                                           Role.role == "captain"))).scalar_one())
        ann, _ = await svc.announcements.create(actor, AnnDraft(
            community_id=community.id, audience="buildings", building_ids=[b1.building_id],
            body_html="Water off on Sunday", send_at=(harness.clock() + timedelta(hours=5)).isoformat()))
        await s.commit()
        ann_id = ann.id
    await remove_role(harness, NORTH_HEAD, CAPTAIN, "captain")
    harness.clock.advance(hours=5)
    async with harness.sessions() as s:
        await s.execute(delete(JobLease))
        await s.commit()
    await harness.tick()
    await harness.deliver()
    async with harness.sessions() as s:
        assert (await s.get(Announcement, ann_id)).status == "cancelled"
        assert not (await s.execute(select(OutboxItem).where(OutboxItem.batch == f"ann:{ann_id}"))).first()
    assert any("was not sent: you no longer have a role that may announce to them" in t
               for t in tg.texts(zhang.id, as_plain=True))
    assert any("A scheduled announcement to Building 1" in t and "was cancelled" in t
               for t in tg.texts(OFFICE, as_plain=True))
    assert TEAM_B1 not in {c.chat_id for c in tg.sent(TEAM_B1) if "Water off" in (c.plain or "")}


# ---------------------------------------------------------------------------- transcripts


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_transcript_powers_and_traces_end_with_the_role(lang: str, harness: BotHarness,
                                                              community: Any) -> None:
    from bot.services.announcements import AnnDraft

    tg, up = harness.tg, harness.up
    zh = lang == "zh"
    code = "zh-hans" if zh else "en"
    await set_locale(harness, "zh_Hans" if zh else "en")
    groups(harness)
    ann = await person(harness, unique_id(), "安" if zh else "Ann", code, resident_of="b1")
    zhang = await person(harness, CAPTAIN, "张" if zh else "Zhang", code)
    li = await person(harness, VOLUNTEER, "李" if zh else "Li", code)
    wang = await person(harness, NORTH_HEAD, "王" if zh else "Wang", code)
    wen = up.user(unique_id(), "文" if zh else "Wen", code)
    harness.record({ann.id: "Ann (resident)", zhang.id: "Captain Zhang", li.id: "Li (volunteer)",
                    wang.id: "Wang (North area head)", wen.id: "Wen (newcomer)", TEAM_B1: "Building 1 team chat",
                    OFFICE: "Office chat"})
    harness.note("Ann asks what the bot keeps about her.")
    await harness.feed(up.text(ann, "/privacy"))

    harness.note("Ann reports a blocked fire lane; Captain Zhang accepts it and assigns it to the volunteer Li.")
    issue_id = await file_issue(harness, ann)
    the_card = card(harness)
    await press(harness, the_card, zhang, "受理" if zh else "Accept")
    await press(harness, the_card, zhang, "派单" if zh else "Assign")
    await press(harness, the_card, zhang, "👤 李" if zh else "👤 Li")
    await harness.deliver()

    harness.note("Li erases their data: the issue goes back to the captains, who are told.")
    await harness.feed(up.text(li, "/deletedata"))
    await harness.feed(up.callback_on(tg.last(li.id), li, "是的，删除我的信息" if zh else "Yes, delete my data"))
    await harness.deliver()
    assert (await issue(harness, issue_id)).assignee_id is None
    back = "已退回给您" if zh else "is back with you"
    assert any(back in t for t in tg.texts(CAPTAIN, as_plain=True))

    harness.note("Zhang made an invite link for Building 1 and scheduled an announcement for noon. "
                 "The area head Wang sees Zhang's invite among those made for his places.")
    invite = await _make_invite(harness, CAPTAIN, "resident")
    async with harness.sessions() as s:
        svc = await services(harness, s)
        actor = await svc.members.actor(await svc.members.by_telegram_id(CAPTAIN))
        b1 = (await s.execute(select(Role.building_id).where(Role.member_id == actor.member_id,
                                                            Role.role == "captain"))).scalar_one()
        await svc.announcements.create(actor, AnnDraft(
            community_id=community.id, audience="buildings", building_ids=[b1],
            body_html="停水通知" if zh else "Water off on Sunday",
            send_at=(harness.clock() + timedelta(hours=3)).isoformat()))
        await s.commit()
    await harness.feed(up.text(wang, "/invite"))
    made_by = "他人为您负责的地方创建的邀请" if zh else "Made by others for your places"
    assert made_by in (tg.last(NORTH_HEAD).text or "")

    harness.note("Wang removes Zhang's captaincy in /members. Zhang's invite stops working, and his "
                 "scheduled announcement is cancelled when it is due: he and the office are told.")
    await remove_role(harness, NORTH_HEAD, CAPTAIN, "captain")
    await harness.deliver()
    await harness.feed(up.text(wen, f"/start {invite.code}"))
    assert ("已失效" if zh else "no longer works") in tg.texts(wen.id)[0]
    harness.clock.advance(hours=3)
    async with harness.sessions() as s:
        await s.execute(delete(JobLease))
        await s.commit()
    await harness.tick()
    await harness.deliver()
    assert any(("未发送" if zh else "was not sent") in t for t in tg.texts(CAPTAIN, as_plain=True))
    harness.save_transcript(f"stale_roles_{lang}", "Powers and traces end with the role" +
                            ("（中文）" if zh else " (English)"))


async def test_reimport_dropping_a_volunteer_puts_their_issue_back(harness: BotHarness, community: Any) -> None:
    from pathlib import Path

    from bot.services.structure import StructureService

    tg = harness.tg
    issue_id, _ann, _zhang, _li = await assigned_to_li(harness)
    invite = await _make_invite(harness, CAPTAIN, "resident")
    text = (Path(__file__).parents[1] / "data" / "structure.yaml").read_text(encoding="utf-8")
    assert "volunteers: [4001, 4002]" in text
    async with harness.sessions() as s:
        await StructureService(s, harness.clock).import_text(text.replace("volunteers: [4001, 4002]",
                                                                          "volunteers: [4002]"))
        await s.commit()
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.assignee_id is None and found.status == IssueStatus.ACCEPTED
    assert any("is back with you" in t for t in tg.texts(CAPTAIN, as_plain=True))
    async with harness.sessions() as s:
        assert (await s.get(Invite, invite.id)).revoked_at is None  # Zhang is still a captain
