"""Every way into the bot: /start, asking a building's captains, invite links (good and bad), people named
in the structure file, the privacy notice, and nonsense input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.middlewares.throttling import ThrottlingMiddleware
from bot.services.access import Place
from bot.services.members import MembersService
from models import Building, Invite, JoinRequest, Member, Role
from tests.conftest import BotHarness, unique_id

TEAM_B1 = -1001000000011


@pytest.fixture(autouse=True)
def groups_known(harness: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot is a member of the sample community's group chats, and the per-user throttle lets
    these tests type faster than any person could (it is tested on its own)."""
    harness.up.group(TEAM_B1, "Building 1 team")
    harness.up.group(-1001000000001, "Nanchi office")
    for mw in harness.dp.update.outer_middleware:
        if isinstance(mw, ThrottlingMiddleware):
            monkeypatch.setattr(mw, "burst", 1_000_000)
            mw.buckets.clear()


async def _building(harness: BotHarness, key: str) -> Building:
    async with harness.sessions() as s:
        return (await s.execute(select(Building).where(Building.key == key))).scalar_one()


async def _roles(harness: BotHarness, telegram_id: int) -> list[tuple[str, int | None]]:
    async with harness.sessions() as s:
        rows = (await s.execute(select(Role.role, Role.building_id).join(Member, Member.id == Role.member_id)
                                .where(Member.telegram_id == telegram_id))).all()
        return [(r, b) for r, b in rows]


async def _make_invite(harness: BotHarness, by: int, role: str, building_key: str | None = "b1", *,
                       purpose: str = "join", **kwargs: Any) -> Invite:
    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        inviter = await members.by_telegram_id(by)
        assert inviter is not None
        actor = await members.actor(inviter)
        b1 = (await s.execute(select(Building).where(Building.key == (building_key or "b1")))).scalar_one()
        place = Place(b1.community_id) if building_key is None else await members.building_place(b1.id)
        invite = await members.create_invite(actor, role=role if purpose == "join" else None, place=place,
                                             purpose=purpose, chat_kind="team" if purpose == "link" else None,
                                             **kwargs)
        await s.commit()
        return invite


async def deliver(harness: BotHarness) -> None:
    """Send the due outbox, and write what was sent into the transcript at this point."""
    await harness.deliver()
    if harness.transcript is not None:
        harness._log_calls()


def unthrottle(harness: BotHarness) -> None:
    """Forget the per-user throttle: these tests send faster than any person could."""
    for mw in harness.dp.update.outer_middleware:
        if isinstance(mw, ThrottlingMiddleware):
            mw.buckets.clear()


async def _ask_to_join_b1(harness: BotHarness, user: Any) -> None:
    tg, up = harness.tg, harness.up
    unthrottle(harness)
    await harness.feed(up.text(user, "/start"))
    await harness.feed(up.callback_on(tg.last(user.id), user, "Nanchi Community"))
    await harness.feed(up.callback_on(tg.last(user.id), user, "North area"))
    await harness.feed(up.callback_on(tg.last(user.id), user, "Building 1"))
    await harness.feed(up.callback_on(tg.last(user.id), user, "Skip for now"))  # the flat question (issue 13)


# ---------------------------------------------------------------------------- asking the captains


async def test_join_by_buttons_captain_approves(harness: BotHarness, community: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    tg, up = harness.tg, harness.up
    uid = unique_id()
    ann = up.user(uid, "Ann", "en")
    harness.record({uid: "Ann (new resident)", TEAM_B1: "Building 1 team chat", 3001: "Captain Zhang"})
    unthrottle(harness)
    await harness.feed(up.text(ann, "/start"))
    first = tg.texts(uid)
    assert "Hi Ann" in first[0] and "/privacy" in first[0]
    assert tg.last(uid).text == "Which community do you live in?"
    await harness.feed(up.callback_on(tg.last(uid), ann, "Nanchi Community"))
    assert tg.edits(uid)[-1].text == "Which area?"
    assert tg.buttons(tg.edits(uid)[-1]) == [["North area", "South area"], ["⬅️ Back", "✖️ Cancel"]]
    await harness.feed(up.callback_on(tg.last(uid), ann, "North area"))
    assert tg.buttons(tg.edits(uid)[-1])[0] == ["Building 1", "Building 2", "⬅️ Back"]
    await harness.feed(up.callback_on(tg.last(uid), ann, "Building 1"))
    assert "which flat?" in tg.edits(uid)[-1].text  # the flat question (issue 13), skipped here
    await harness.feed(up.callback_on(tg.last(uid), ann, "Skip for now"))
    assert tg.edits(uid)[-1].text == ("I've asked the captains of Building 1 to confirm. "
                                      "I'll tell you as soon as they do.")

    harness.note("the outbox delivers the request to the building's team chat (in the community's language)")
    await deliver(harness)
    card = tg.last(TEAM_B1)
    assert card.text == "🙋 Ann 申请以居民身份加入 Building 1。"
    assert tg.buttons(card) == [["✅ 同意", "❌ 拒绝"]]

    zhang = up.user(3001, "Zhang", "zh-hans")
    await harness.feed(up.callback_on(card, zhang, "同意"))
    assert tg.edits(TEAM_B1)[-1].text == "✅ Ann 已作为居民加入 Building 1。"
    assert tg.alerts()[-1].params.get("text") == "已处理。"
    assert ("resident", (await _building(harness, "b1")).id) in await _roles(harness, uid)

    await deliver(harness)
    assert tg.last(uid).text.startswith("✅ Welcome! The captains confirmed you as a resident of Building 1.")

    harness.note("the captain invites a neighbour with a link instead")
    monkeypatch.setattr("bot.services.members.secrets.token_urlsafe", lambda n: "Fx7pQ2rT9sLw4Kd")
    zhang_en = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(zhang_en, "/invite"))
    await harness.feed(up.callback_on(tg.last(3001), zhang_en, "Invite someone"))
    assert tg.buttons(tg.edits(3001)[-1]) == [["Nanchi Community"], ["Building 1"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(tg.last(3001), zhang_en, "Building 1"))
    assert tg.buttons(tg.edits(3001)[-1]) == [["resident"], ["⬅️ Back"]]
    await harness.feed(up.callback_on(tg.last(3001), zhang_en, "resident"))
    link = tg.edits(3001)[-1].text
    assert "https://t.me/" in link and "?start=Fx7pQ2rT9sLw4Kd" in link
    assert "Valid until 2026-11-27 09:00, for up to 50 people." in link
    ben_id = unique_id()
    harness.names[ben_id] = "Ben (invited)"  # type: ignore[index]
    await harness.feed(up.text(up.user(ben_id, "Ben", "en"), "/start Fx7pQ2rT9sLw4Kd"))
    # The greeting, then the flat question (issue 13).
    assert tg.sent(ben_id)[-2].text.startswith("Hi Ben! You joined Building 1 as a resident.")
    await harness.feed(up.text(zhang_en, "/invite"))
    assert "1. Building 1 · resident · until 2026-11-27 09:00 · used 1/50" in tg.last(3001).text
    harness.save_transcript("onboarding_en", "Onboarding (English): asking a building's captains, and an invite link")


async def test_join_by_buttons_decline_and_double_press(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    uid = unique_id()
    bob = up.user(uid, "Bob", "en")
    await _ask_to_join_b1(harness, bob)
    await harness.deliver()
    card = tg.last(TEAM_B1)
    zhang = up.user(3001, "Zhang", "zh-hans")
    press = up.callback(zhang, tg.callback_data(card, "拒绝"), message=tg.messages[(TEAM_B1, card.message_id)])
    again = up.callback(zhang, tg.callback_data(card, "拒绝"), message=tg.messages[(TEAM_B1, card.message_id)])
    await harness.feed(press)
    await harness.feed(again)
    assert tg.alerts()[-2].params.get("text") == "已处理。"
    assert tg.alerts()[-1].params.get("text") == "已经处理过了。"
    assert len(tg.edits(TEAM_B1)) == 1
    assert "拒绝" in tg.edits(TEAM_B1)[-1].text
    assert await _roles(harness, uid) == []
    await harness.deliver()
    outcome = [t for t in tg.texts(uid) if "could not confirm" in t]
    assert len(outcome) == 1 and "Building 1" in outcome[0]

    # Asking again after a decline makes a new request; asking twice while pending does not.
    await _ask_to_join_b1(harness, bob)
    await _ask_to_join_b1(harness, bob)
    assert "already with its captains" in tg.edits(uid)[-1].text
    async with harness.sessions() as s:
        statuses = sorted((await s.execute(select(JoinRequest.status).join(Member).where(
            Member.telegram_id == uid))).scalars())
    assert statuses == ["declined", "pending"]


async def test_only_captains_can_decide(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    uid = unique_id()
    await _ask_to_join_b1(harness, up.user(uid, "Cid", "en"))
    await harness.deliver()
    card = tg.last(TEAM_B1)
    # A volunteer in the team chat, and the captain of another building.
    for intruder in (up.user(4001, "Vol", "en"), up.user(3002, "Other", "en")):
        await harness.feed(up.callback_on(card, intruder, "同意"))
        alert = tg.alerts()[-1].params
        assert alert.get("show_alert") is True
        assert alert.get("text") == "仅楼栋长（或片长、社区办公室）可操作。"
    assert tg.edits(TEAM_B1) == []
    assert await _roles(harness, uid) == []
    # The area head of the North area may.
    await harness.feed(up.callback_on(card, up.user(2001, "Head", "en"), "同意"))
    assert await _roles(harness, uid) == [("resident", (await _building(harness, "b1")).id)]


async def test_request_without_team_chat_goes_to_captains_privately(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    uid = unique_id()
    dan = up.user(uid, "Dan", "en")
    captain = up.user(3002, "Wang", "en")
    await harness.feed(up.text(captain, "/start"))  # the captain has a private chat with the bot
    await harness.feed(up.text(dan, "/start"))
    await harness.feed(up.callback_on(tg.last(uid), dan, "Nanchi Community"))
    await harness.feed(up.callback_on(tg.last(uid), dan, "North area"))
    await harness.feed(up.callback_on(tg.last(uid), dan, "Building 2"))
    await harness.feed(up.callback_on(tg.last(uid), dan, "Skip for now"))  # the flat question (issue 13)
    await harness.deliver()
    card = tg.last(3002)
    assert card.text == "🙋 Dan asks to join Building 2 as a resident."
    await harness.feed(up.callback_on(card, captain, "Approve"))
    assert tg.edits(3002)[-1].text == "✅ Dan joined Building 2 as a resident."


async def test_back_and_cancel_while_choosing(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    uid = unique_id()
    eve = up.user(uid, "Eve", "en")
    await harness.feed(up.text(eve, "/start"))
    await harness.feed(up.callback_on(tg.last(uid), eve, "Nanchi Community"))
    await harness.feed(up.callback_on(tg.last(uid), eve, "Back"))
    assert tg.edits(uid)[-1].text == "Which community do you live in?"
    await harness.feed(up.callback_on(tg.last(uid), eve, "Cancel"))
    assert tg.edits(uid)[-1].text == "Cancelled. Nothing was sent."


# ---------------------------------------------------------------------------- invite links


async def test_invite_link_joins_at_once(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    invite = await _make_invite(harness, 3001, "resident")
    uid = unique_id()
    fay = up.user(uid, "Fay", "en")
    await harness.feed(up.text(fay, f"/start {invite.code}"))
    greeting = tg.sent(uid)[-2]  # the flat question (issue 13) follows the greeting
    text = greeting.text
    assert text.startswith("Hi Fay! You joined Building 1 as a resident.")
    assert "/privacy" in text
    assert ["📷 Report a problem", "📋 My reports"] == tg.buttons(greeting)[0]
    # Opening the same link again changes nothing and uses no second place.
    await harness.feed(up.text(fay, f"/start {invite.code}"))
    assert tg.last(uid).text.startswith("Hi Fay! You are already a resident of Building 1.")
    assert "/privacy" not in tg.last(uid).text
    async with harness.sessions() as s:
        assert (await s.get(Invite, invite.id)).uses == 1  # type: ignore[union-attr]


async def test_volunteer_invite_from_a_captain(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    invite = await _make_invite(harness, 3001, "volunteer", None)
    uid = unique_id()
    await harness.feed(up.text(up.user(uid, "Gus", "en"), f"/start {invite.code}"))
    assert tg.last(uid).text.startswith("Hi Gus! You joined Nanchi Community as a volunteer.")
    assert await _roles(harness, uid) == [("volunteer", None)]
    assert "🚶 Patrols" in [b for row in tg.buttons(tg.last(uid)) for b in row]


async def test_bad_invite_links(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    expired = await _make_invite(harness, 3001, "resident", ttl=timedelta(hours=1))
    revoked = await _make_invite(harness, 3001, "resident")
    used_up = await _make_invite(harness, 3001, "resident", max_uses=1)
    link_code = await _make_invite(harness, 3001, "", purpose="link")
    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        captain = await members.by_telegram_id(3001)
        assert captain is not None
        await members.revoke_invite(await members.actor(captain), revoked.id)
        await s.commit()
    await harness.feed(up.text(up.user(unique_id(), "First", "en"), f"/start {used_up.code}"))
    harness.clock.advance(hours=2)

    cases = {
        expired.code: "This invite link has expired. Please ask for a new one.",
        revoked.code: "This invite link was withdrawn by the person who made it.",
        used_up.code: "This invite link has been used as many times as allowed. Please ask for a new one.",
        link_code.code: "This code is for linking a group chat: send it in the group as /link CODE.",
        "garbage-Code_123": "This invite link is not valid. Please ask for a new one.",
    }
    for code, expected in cases.items():
        uid = unique_id()
        await harness.feed(up.text(up.user(uid, "Hal", "en"), f"/start {code}"))
        texts = tg.texts(uid)
        assert texts[0] == expected
        # After the explanation, the ordinary way in is offered.
        assert texts[-1] == "Which community do you live in?"
        assert await _roles(harness, uid) == []


# ---------------------------------------------------------------------------- people from the structure file


async def test_structure_people_need_no_invite(harness: BotHarness, community: Any, settings: Any) -> None:
    tg, up = harness.tg, harness.up
    captain = up.user(3001, "Zhang", "en")
    await harness.feed(up.text(captain, "/invite"))
    home = tg.last(3001)
    assert home.text.startswith("🔗 <b>Invites</b>")
    assert tg.buttons(home)[0] == ["➕ Invite someone", "🔗 Group link code"]

    await harness.feed(up.text(captain, "/start"))
    text = tg.last(3001).text
    assert "You are in: Building 1 (building captain)." in text
    assert "📥 Queue" in [b for row in tg.buttons(tg.last(3001)) for b in row]

    staff = up.user(2002, "Li", "en")
    await harness.feed(up.text(staff, "/members"))
    assert "Nanchi Community" in tg.last(2002).text


# ---------------------------------------------------------------------------- privacy and nonsense


async def test_privacy_notice(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    uid = unique_id()
    ivy = up.user(uid, "Ivy", "en")
    await harness.feed(up.text(ivy, "/start"))
    assert "What I store and who sees it: /privacy" in tg.texts(uid)[0]
    await harness.feed(up.text(ivy, "/start"))
    assert all("/privacy" not in t for t in tg.texts(uid)[2:])
    await harness.feed(up.text(ivy, "/privacy"))
    text = tg.last(uid).plain or ""
    assert text.startswith("🔒 What I store and who sees it")
    assert "/deletedata" in text


async def test_nonsense_gets_a_friendly_answer(harness: BotHarness, community: Any) -> None:
    tg, up = harness.tg, harness.up
    uid = unique_id()
    joe = up.user(uid, "Joe", "en")
    # Not joined yet: the first question of joining is asked again, buttons and all.
    await harness.feed(up.sticker(joe))
    assert tg.last(uid).text == "Which community do you live in?"
    assert ["Nanchi Community"] in tg.buttons(tg.last(uid))
    await harness.feed(up.text(joe, "asdf qwerty"))
    question = tg.last(uid)
    assert question.text == "Which community do you live in?"
    await harness.feed(up.text(joe, "/frobnicate"))
    assert tg.last(uid).text == "I don't know that command. Send /help to see what I can do."
    await harness.feed(up.callback_on(question, joe, "Nanchi Community"))
    assert tg.edits(uid)[-1].text == "Which area?"
    # A wrong input at a later step asks that step's question again, not the first one.
    await harness.feed(up.text(joe, "north"))
    assert tg.texts(uid)[-2:] == ["Please choose with the buttons.", "Which area?"]
    await harness.feed(up.callback_on(tg.last(uid), joe, "North area"))
    assert tg.edits(uid)[-1].text == "Which building?"
    await harness.feed(up.sticker(joe))
    assert tg.texts(uid)[-2:] == ["Please choose with the buttons.", "Which building?"]
    await harness.feed(up.callback_on(tg.last(uid), joe, "Building 1"))
    await harness.feed(up.callback_on(tg.last(uid), joe, "Skip for now"))  # the flat question (issue 13)
    assert "asked the captains" in tg.edits(uid)[-1].text
    # Waiting for the captains: nothing to ask again, a friendly pointer instead.
    await harness.feed(up.voice(joe))
    assert tg.last(uid).text.startswith("I'm not sure what to do with that. Send /help")
    await harness.feed(up.callback(joe, "nonsense:1"))
    assert tg.alerts()[-1].params.get("text") == "This button is no longer active."
    await harness.feed(up.callback(joe, "join:b:999999"))
    assert tg.alerts()[-1].params.get("text") == "I can't find that any more. It may have been removed."
    assert tg.errors() == []


async def test_chinese_transcript(harness: BotHarness, community: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tg, up = harness.tg, harness.up
    # A fixed code keeps the transcript stable between runs.
    monkeypatch.setattr("bot.services.members.secrets.token_urlsafe", lambda n: "Wq3xZ8kLm2Pa7Rt")
    uid = unique_id()
    li = up.user(uid, "李女士", "zh-hans")
    harness.record({uid: "李女士 (new resident)", TEAM_B1: "1号楼 team chat", 3001: "张楼长 (captain)"})
    await harness.feed(up.text(li, "/start"))
    assert tg.texts(uid)[0].startswith("李女士您好！")
    assert tg.last(uid).text == "您住在哪个社区？"
    await harness.feed(up.callback_on(tg.last(uid), li, "Nanchi Community"))
    await harness.feed(up.callback_on(tg.last(uid), li, "North area"))
    await harness.feed(up.callback_on(tg.last(uid), li, "Building 1"))
    assert "哪一户" in tg.edits(uid)[-1].text  # the flat question (issue 13), skipped here
    await harness.feed(up.callback_on(tg.last(uid), li, "暂时跳过"))
    assert tg.edits(uid)[-1].text == "已请 Building 1 的楼栋长确认，确认后马上通知您。"
    await deliver(harness)
    zhang = up.user(3001, "张楼长", "zh-hans")
    await harness.feed(up.callback_on(tg.last(TEAM_B1), zhang, "同意"))
    await deliver(harness)
    assert tg.last(uid).text.startswith("✅ 欢迎！楼栋长已确认您是 Building 1 的居民。")
    harness.note("later, with an invite link from the captain")
    uid2 = unique_id()
    wang = up.user(uid2, "王先生", "zh-CN")
    harness.names[uid2] = "王先生 (invited resident)"  # type: ignore[index]
    code = (await _make_invite(harness, 3001, "resident")).code
    await harness.feed(up.text(wang, f"/start {code}"))
    assert tg.sent(uid2)[-2].text.startswith("王先生您好！您已作为居民加入 Building 1。")
    await harness.feed(up.callback_on(tg.last(uid2), wang, "暂时跳过"))  # the flat question (issue 13)
    await harness.feed(up.text(wang, "随便说点什么"))
    assert tg.last(uid2).text.startswith("我不太明白您的意思。")
    harness.save_transcript("onboarding_zh", "入门（中文）：申请加入楼栋与邀请链接")
