"""/members (who holds what, removing someone, handing a captaincy over) and /invite (links, group link
codes, revoking), for each role that may use them and for those who may not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.services.members import MembersService
from models import Building, Invite, Member, Role
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_onboarding import _make_invite, groups_known  # noqa: F401 - fixture


async def _join(harness: BotHarness, name: str, lang: str = "en", building: str = "b1") -> Any:
    invite = await _make_invite(harness, 2002, "resident", building)
    user = harness.up.user(unique_id(), name, lang)
    await harness.feed(harness.up.text(user, f"/start {invite.code}"))
    return user


async def _roles(harness: BotHarness, telegram_id: int) -> set[tuple[str, str | None]]:
    async with harness.sessions() as s:
        rows = (await s.execute(select(Role.role, Building.key).outerjoin(Building, Building.id == Role.building_id)
                                .join(Member, Member.id == Role.member_id)
                                .where(Member.telegram_id == telegram_id))).all()
        return {(r, k) for r, k in rows}


async def test_captain_sees_and_removes_a_resident(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    ann = await _join(harness, "Ann")
    evil = await _join(harness, "<b>Evil</b> & co")
    captain = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(captain, "/members"))
    view = tg.last(3001)
    assert view.text.splitlines()[0] == "👥 <b>Building 1</b>: 3 roles held"
    assert "• Zhang — building captain" in view.text
    assert "• Ann — resident" in view.text
    assert "• &lt;b&gt;Evil&lt;/b&gt; &amp; co — resident" in view.text  # names escaped
    assert tg.buttons(view) == [["➖ Remove someone"], ["🔁 Hand over captaincy"], ["🏠 Correct someone's flat"],
                                ["✖️ Close"]]  # 🏠: issue 13

    await harness.feed(up.callback_on(view, captain, "Remove someone"))
    # The captain cannot remove themselves here (that is a handover), only the residents.
    assert tg.buttons(tg.edits(3001)[-1]) == [["<b>Evil</b> & co · resident"], ["Ann · resident"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(view, captain, "Ann · resident"))
    assert tg.edits(3001)[-1].text == "Remove Ann as a resident of Building 1? They will be told."
    press = up.callback(captain, tg.callback_data(tg.edits(3001)[-1], "Yes, remove"),
                        message=tg.messages[(3001, view.message_id)])
    await harness.feed(press)
    assert tg.edits(3001)[-1].text == "Done: Ann is no longer a resident of Building 1."
    assert await _roles(harness, ann.id) == set()
    await harness.feed(up.callback(captain, press.callback_query.data,  # type: ignore[union-attr]
                                   message=tg.messages[(3001, view.message_id)]))
    assert tg.alerts()[-1].params["text"] == "Already done."
    await harness.deliver()
    told = tg.last(ann.id).text
    assert told == ("You are no longer a resident of Building 1. Zhang removed this role; if you think this is a "
                    "mistake, please talk to them.")
    assert [t for t in tg.texts(ann.id) if t == told] == [told]  # told once
    assert ("resident", "b1") in await _roles(harness, evil.id)


async def test_captain_cannot_remove_in_another_building(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    bob = await _join(harness, "Bob", building="b2")
    async with harness.sessions() as s:
        role = (await s.execute(select(Role).join(Member).where(Member.telegram_id == bob.id))).scalar_one()
    captain = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(captain, "/members"))
    # A forged button for a role in Building 2.
    await harness.feed(up.callback(captain, f"mem:rmgo:b1:0:{role.id}:0:0"))
    assert tg.alerts()[-1].params["text"] == "Only the building's captains (or the area head and office) can do this."
    assert await _roles(harness, bob.id) == {("resident", "b2")}


async def test_members_is_for_captains_and_up(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    ann = await _join(harness, "Ann")
    await harness.feed(up.text(ann, "/members"))
    assert tg.last(ann.id).text.startswith("Only building captains, area heads and office staff can see who is in")
    await harness.feed(up.text(ann, "/invite"))
    assert tg.last(ann.id).text.startswith("Only building captains, area heads and office staff can invite")
    volunteer = up.user(4001, "Vol", "en")
    await harness.feed(up.text(volunteer, "/members"))
    assert tg.last(4001).text.startswith("Only building captains")


async def test_area_head_sees_the_area_and_hands_over(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    ann = await _join(harness, "Ann")
    head = up.user(2001, "Wu", "en")
    zhang = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(zhang, "/start"))
    await harness.feed(up.text(head, "/members"))
    view = tg.last(2001)
    assert view.text.startswith("👥 <b>North area</b>")
    assert "• Wu — area head · North area" in view.text
    assert "• #" in view.text or "Building 2" in view.text  # captain 3002 has not written yet: shown by id
    assert "Building 3" not in view.text  # the South area is not theirs
    await harness.feed(up.callback_on(view, head, "Hand over captaincy"))
    assert tg.buttons(tg.edits(2001)[-1]) == [["Building 1", "Building 2"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(view, head, "Building 2"))
    assert tg.edits(2001)[-1].text.startswith("Nobody else has joined Building 2 as a resident yet")
    await harness.feed(up.callback_on(view, head, "Back"))
    await harness.feed(up.callback_on(view, head, "Hand over captaincy"))
    await harness.feed(up.callback_on(view, head, "Building 1"))
    assert tg.edits(2001)[-1].text == "Who becomes the new captain of Building 1? (Residents of the building)"
    assert tg.buttons(tg.edits(2001)[-1]) == [["Ann"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(view, head, "Ann"))
    assert tg.edits(2001)[-1].text == ("Hand the captaincy of Building 1 over from Zhang to Ann? "
                                       "Both will be told.")
    await harness.feed(up.callback_on(view, head, "Yes, hand over"))
    assert tg.edits(2001)[-1].text == "✅ Ann is now the captain of Building 1."
    assert await _roles(harness, ann.id) == {("resident", "b1"), ("captain", "b1")}
    assert await _roles(harness, 3001) == {("resident", "b1")}
    await harness.deliver()
    assert tg.last(ann.id).text.startswith("🎉 You are now the building captain of Building 1.")
    assert tg.last(3001).text == ("The captaincy of Building 1 was handed over to Ann. You stay a resident there. "
                                  "Thank you for your work!")
    # The new captain can use /members at once.
    await harness.feed(up.text(ann, "/members"))
    assert tg.last(ann.id).text.startswith("👥 <b>Building 1</b>")


async def test_captain_hands_over_their_own_building(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    ann = await _join(harness, "Ann")
    zhang = up.user(3001, "Zhang", "zh-hans")
    await harness.feed(up.text(zhang, "/members"))
    view = tg.last(3001)
    assert tg.buttons(view) == [["➖ 移除成员"], ["🔁 移交楼栋长"], ["🏠 更正住户门牌"], ["✖️ 关闭"]]  # 🏠: issue 13
    await harness.feed(up.callback_on(view, zhang, "移交楼栋长"))
    await harness.feed(up.callback_on(view, zhang, "Ann"))
    await harness.feed(up.callback_on(view, zhang, "确定移交"))
    assert tg.edits(3001)[-1].text == "✅ Ann 现在是 Building 1 的楼栋长。"
    assert ("captain", "b1") in await _roles(harness, ann.id)
    await harness.deliver()
    # The one who handed over is not told what they just did themselves.
    assert not any("handed over" in t or "移交给" in t for t in tg.texts(3001))


async def test_members_list_is_paginated(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        place = await members.building_place(
            (await s.execute(select(Building).where(Building.key == "b3"))).scalar_one().id)
        for i in range(45):
            m = Member(telegram_id=70_000_000 + i, first_name=f"Neighbour {i:02d}", prefs={},
                       created_at=harness.clock())
            s.add(m)
            await s.flush()
            await members.grant(m, "resident", place, source="invite")
        await s.commit()
    captain = up.user(3003, "Chen", "en")
    await harness.feed(up.text(captain, "/members"))
    first = tg.last(3003)
    assert "Showing 1–30 of 46." in first.text
    assert tg.buttons(first)[0] == ["▶️"]
    await harness.feed(up.callback_on(first, captain, "▶️"))
    second = tg.edits(3003)[-1]
    assert "Showing 31–46 of 46." in second.text
    assert tg.buttons(second)[0] == ["◀️"]
    await harness.feed(up.callback_on(first, captain, "Remove someone"))
    assert tg.buttons(tg.edits(3003)[-1])[-2] == ["▶️"]  # 8 people a page, then the arrows
    assert len(tg.buttons(tg.edits(3003)[-1])) == 10


async def test_staff_invites_any_role_and_revokes(harness: BotHarness, community: Any, settings: Any) -> None:
    tg, up = harness.tg, harness.up
    staff = up.user(2002, "Li", "en")
    await harness.feed(up.text(staff, "/invite"))
    home = tg.last(2002)
    await harness.feed(up.callback_on(home, staff, "Invite someone"))
    assert tg.buttons(tg.edits(2002)[-1]) == [["Nanchi Community"], ["North area"], ["South area"], ["Building 1"],
                                              ["Building 2"], ["Building 3"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(home, staff, "Nanchi Community"))
    assert tg.buttons(tg.edits(2002)[-1]) == [["volunteer", "office staff"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(home, staff, "Back"))
    await harness.feed(up.callback_on(home, staff, "South area"))
    assert tg.buttons(tg.edits(2002)[-1]) == [["area head"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(home, staff, "area head"))
    assert "🔗 Invite link for an area head of South area:" in tg.edits(2002)[-1].text
    await harness.feed(up.callback_on(home, staff, "Back to invites"))
    listing = tg.edits(2002)[-1]
    assert "1. South area · area head · until 2026-11-27 09:00 · used 0/50" in listing.text
    await harness.feed(up.callback_on(home, staff, "Revoke 1"))
    assert "My active invites" not in tg.edits(2002)[-1].text
    async with harness.sessions() as s:
        invite = (await s.execute(select(Invite))).scalar_one()
        assert invite.revoked_at is not None
    newcomer = up.user(unique_id(), "Wen", "en")
    await harness.feed(up.text(newcomer, f"/start {invite.code}"))
    assert tg.texts(newcomer.id)[0] == "This invite link was withdrawn by the person who made it."


async def test_area_head_may_invite_captains_but_not_staff(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    head = up.user(2001, "Wu", "en")
    await harness.feed(up.text(head, "/invite"))
    home = tg.last(2001)
    await harness.feed(up.callback_on(home, head, "Invite someone"))
    assert tg.buttons(tg.edits(2001)[-1]) == [["Nanchi Community"], ["Building 1"], ["Building 2"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(home, head, "Building 2"))
    assert tg.buttons(tg.edits(2001)[-1]) == [["resident", "building captain"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(home, head, "Back"))
    await harness.feed(up.callback_on(home, head, "Nanchi Community"))
    assert tg.buttons(tg.edits(2001)[-1]) == [["volunteer"], ["⬅️ Back"]]
    # A forged press for a role the area head may not grant.
    await harness.feed(up.callback(head, "inv:make:c1:staff:0:0", message=tg.messages[(2001, home.message_id)]))
    assert tg.alerts()[-1].params["text"] == "Only office staff can do this."


async def test_group_link_code(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    captain = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(captain, "/invite"))
    home = tg.last(3001)
    await harness.feed(up.callback_on(home, captain, "Group link code"))
    # Captain 3001 may link chats of Building 1 only: no place to choose, straight to the kind.
    assert tg.buttons(tg.edits(3001)[-1]) == [["👥 Team chat", "🏠 Residents' chat"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(home, captain, "Residents' chat"))
    text = tg.edits(3001)[-1].text
    assert text.startswith("Add me to the group, then send this message there:\n<code>/link ")
    assert "as the residents' chat of Building 1. The code works once, until 2026-11-27 09:00." in text
    assert "Building 1 already has a residents' chat; the new group will replace it." in text


async def test_forged_handover_target_reveals_no_name(harness: BotHarness, community: Any) -> None:
    """The captaincy handover shows a target only if /members offered it: a captain who forges the
    confirm step with any member id learns nothing about that person."""
    from bot.keyboards.members import MemCb

    tg, up = harness.tg, harness.up
    ann = await _join(harness, "Ann")
    sam = await _join(harness, "Secret Sam", building="b2")  # a resident of another building
    zhang = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(zhang, "/members"))
    async with harness.sessions() as s:
        ids = {m.telegram_id: m.id for m in (await s.execute(select(Member))).scalars()}
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
    n_before = len(tg.calls)
    forged = [
        MemCb(a="hot", p=f"b{b1.id}", id=b1.id, fr=ids[3001], to=ids[sam.id]),  # not a resident of b1
        MemCb(a="hot", p=f"b{b1.id}", id=b1.id, fr=ids[3001], to=ids[2002]),  # office staff
        MemCb(a="hot", p=f"b{b1.id}", id=b1.id, fr=ids[2001], to=ids[ann.id]),  # not Zhang's captaincy
    ]
    for data in forged:
        await harness.feed(up.callback(zhang, data.pack(), message=tg.last(3001).message))
        assert "can't find" in tg.alerts()[-1].params["text"]
    shown = " ".join(str(c.params) for c in tg.calls[n_before:])
    assert "Secret Sam" not in shown and "Hand the captaincy" not in shown
    # The offered candidate still works.
    await harness.feed(up.callback(zhang, MemCb(a="hot", p=f"b{b1.id}", id=b1.id, fr=ids[3001],
                                                to=ids[ann.id]).pack(), message=tg.last(3001).message))
    assert "Hand the captaincy of Building 1 over from Zhang to Ann?" in tg.edits(3001)[-1].text


async def test_invites_per_person_and_day_are_capped(harness: BotHarness, community: Any) -> None:
    """`limits.invites_per_day` (2 here): the third invite link of the day is refused with the limit
    and when it resets; counted from the invites in the database."""
    from bot.keyboards.members import InvCb
    from models import Community

    tg, up = harness.tg, harness.up
    async with harness.sessions() as s:
        nanchi = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        nanchi.settings = {**(nanchi.settings or {}), "limits": {"invites_per_day": 2}}
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        await s.commit()
    zhang = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(zhang, "/invite"))
    make = InvCb(a="make", p=f"b{b1.id}", v="resident").pack()
    for _n in range(2):
        await harness.feed(up.callback(zhang, make, message=tg.last(3001).message))
        assert "Invite link for a resident" in tg.edits(3001)[-1].text
    await harness.feed(up.callback(zhang, make, message=tg.last(3001).message))
    refusal = tg.alerts()[-1].params["text"]
    assert "You have made 2 invites today" in refusal and "tomorrow 00:00" in refusal, refusal
    async with harness.sessions() as s:
        assert len((await s.execute(select(Invite))).scalars().all()) == 2
