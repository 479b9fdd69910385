"""Relays through the bot, end to end through the Bot API double.

- A private matter (私事): the captain puts the reporter in touch with another household from the card;
  both sides write (text and a photo) without ever seeing a name, username or phone number of the
  other; each presses 🤝 Settled and the issue closes as settled by the parties.
- A joint matter (小事): 🗳 Start a consultation from the card; the card and timeline show it, then its result.
- /contacts: a resident writes to the building captain and the office; the answer comes back with ↩️ Reply;
  the daily cap, quiet hours, a captain who lost the role, erasure, forged callbacks and a restart."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from bot.services.households import HouseholdsService
from models import Area, Building, CloseHow, Community, Consultation, IssueEvent, IssueStatus, Member, Relay
from models import RelayMessage as RelayMessageRow
from tests.conftest import BotHarness, unique_id
from tests.e2e.stories import ann_and_zhang, english_with_ann
from tests.e2e.test_triage import (
    CAPTAIN,
    NORTH_HEAD,
    OFFICE,
    STAFF,
    TEAM_B1,
    alert,
    card,
    file_issue,
    groups,
    issue,
    person,
    press,
    press_private,
    set_locale,
    settle,
    unthrottle,
)

WORDS = {
    "en": {"accept": "Accept", "more": "More", "triage": "Triage", "private": "Residents (private matter)",
           "joint": "Joint (small matter)", "touch": "Put in touch", "write": "Write", "reply": "Reply",
           "settled": "Settled", "consult": "Start a consultation", "start_it": "Start it"},
    "zh": {"accept": "受理", "more": "更多", "triage": "三事分流", "private": "私事", "joint": "小事",
           "touch": "牵线沟通", "write": "写信", "reply": "回复", "settled": "已协商解决", "consult": "发起民意征集",
           "start_it": "确认发起"},
}


async def in_household(harness: BotHarness, user: Any, label: str, building: str = "b1") -> None:
    async with harness.sessions() as s:
        b = (await s.execute(select(Building).where(Building.key == building))).scalar_one()
        households = HouseholdsService(s, harness.clock)
        h = await households.find(b.id, label)
        assert h is not None, label
        m = (await s.execute(select(Member).where(Member.telegram_id == user.id))).scalar_one()
        await households.join(m, h.id)
        await s.commit()


async def _private_matter(harness: BotHarness, lang: str, reporter: Any, captain: Any, staff: Any,
                          description: str, way: str = "private") -> tuple[int, Any]:
    w = WORDS[lang]
    issue_id = await file_issue(harness, reporter, category="clutter", photos=1, description=description)
    the_card = card(harness)
    await press(harness, the_card, captain, w["accept"])
    await press(harness, the_card, staff, w["more"])
    await press(harness, the_card, staff, w["triage"])
    await press(harness, the_card, staff, w[way])
    await harness.deliver()
    await settle(harness)
    return issue_id, the_card


@pytest.fixture(autouse=True)
def _presses_at_test_speed(fast_presses: None) -> None:
    """These stories are many presses by one person within seconds of real time: on a fast machine the
    per-user throttle (real time) would answer some of them "please wait" and the story would stall."""


def everything_to(harness: BotHarness, chat: int) -> str:
    return "\n".join((c.plain or "") + " " + str(c.params.get("reply_markup") or "") for c in harness.tg.sent(chat))


async def _walk_private_matter(harness: BotHarness, lang: str) -> None:
    w = WORDS[lang]
    zh = lang == "zh"
    await set_locale(harness, "zh_Hans" if zh else "en")
    groups(harness)
    tg = harness.tg
    code = "zh-hans" if zh else "en"
    ann = await person(harness, unique_id(), "安女士" if zh else "Ann", code, resident_of="b1")
    async with harness.sessions() as s:
        await s.execute(update(Member).where(Member.telegram_id == ann.id).values(
            username="ann_secret", phone="+8613800000000", last_name="Secretname"))
        await s.commit()
    bob = await person(harness, unique_id(), "老王" if zh else "Bob", code, resident_of="b1")
    zhang = await person(harness, CAPTAIN, "张楼长" if zh else "Zhang", code)
    wu = await person(harness, STAFF, "吴主任" if zh else "Office Wu", code)
    await in_household(harness, ann, "5")
    await in_household(harness, bob, "12")
    names = {ann.id: ("安女士（居民）", "Ann (resident)"), bob.id: ("老王（12户）", "Bob (flat 12)"),
             zhang.id: ("张楼长", "Captain Zhang"), wu.id: ("吴主任", "Office Wu"),
             TEAM_B1: ("1号楼工作群", "Building 1 team chat"), OFFICE: ("社区办公室群", "Office chat")}
    harness.record({k: v[0] if zh else v[1] for k, v in names.items()})
    harness.note("安女士反映邻居的花盆堵住楼道；社区定为私事，楼栋长牵线让双方沟通。" if zh else
                 "Ann reports a neighbour's flower pots on the stairs; the office makes it a private matter and the "
                 "captain puts the sides in touch.")
    issue_id, the_card = await _private_matter(harness, lang, ann, zhang, wu, "楼道里堆满花盆" if zh else
                                               "Flower pots on the stairs")
    found = await issue(harness, issue_id)
    assert found.triage == "residents"
    buttons = str(tg.buttons(tg.current(TEAM_B1, the_card.message_id)))
    assert w["touch"] in buttons and w["settled"] in buttons

    await press(harness, the_card, zhang, w["touch"])
    prompt = tg.last(zhang.id)
    assert ("2-301" in (prompt.plain or "")) and tg.buttons(prompt)  # the tap picker (rooms of Building 1)
    harness.note("楼栋长输入对方户号。" if zh else "The captain types the other side's flat.")
    await harness.feed(harness.up.text(zhang, "12"))
    assert ("12" in tg.last(zhang.id).plain) and ("已" in tg.last(zhang.id).plain if zh else
                                                   "Done" in tg.last(zhang.id).plain)
    await harness.deliver()
    intro_bob = tg.last(bob.id)
    assert found.hashtag in intro_bob.plain and w["write"] in str(tg.buttons(intro_bob))
    assert any("12" in t for t in tg.texts(ann.id, as_plain=True))

    harness.note("安女士通过机器人留言。" if zh else "Ann writes through the bot.")
    await press_private(harness, ann, w["write"])
    await harness.feed(harness.up.text(ann, "麻烦把花盆挪一下，谢谢！" if zh else "Could you move the pots, please?"))
    await harness.deliver()
    relayed = tg.last(bob.id)
    assert ("麻烦把花盆挪一下" if zh else "Could you move the pots") in relayed.plain
    assert w["reply"] in str(tg.buttons(relayed)) and w["settled"] in str(tg.buttons(relayed))

    harness.note("老王回复了一张照片。" if zh else "Bob answers with a photo.")
    await press_private(harness, bob, w["reply"])
    await harness.feed(harness.up.photo(bob, file_id="pots-moved", caption="已经挪走了" if zh else "Moved them"))
    await harness.deliver()
    back = tg.sent(ann.id)[-1]
    assert back.method == "sendPhoto" and ("已经挪走了" if zh else "Moved them") in (back.plain or "")
    assert "12" in (back.plain or "")

    # Privacy: the household never learns who reported it — no name, username, phone.
    seen_by_bob = everything_to(harness, bob.id)
    for secret in ("Ann", "安女士", "ann_secret", "Secretname", "13800000000"):
        assert secret not in seen_by_bob, secret
    # … and the reporter sees no names of the household either.
    seen_by_ann = everything_to(harness, ann.id)
    assert "Bob" not in seen_by_ann and "老王" not in seen_by_ann

    harness.note("双方都按下“已协商解决”，问题办结。" if zh else "Both sides press Settled: the report closes.")
    await press_private(harness, ann, w["settled"])
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status != IssueStatus.CLOSED
    await press_private(harness, bob, w["settled"])
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.CLOSED and found.close_how == CloseHow.SETTLED_BY_PARTIES
    assert found.escalation_level == 0 and not found.assigned_to_office
    await settle(harness)
    async with harness.sessions() as s:
        kinds = list((await s.execute(select(IssueEvent.kind).where(IssueEvent.issue_id == issue_id))).scalars())
        events = list((await s.execute(select(IssueEvent).where(IssueEvent.issue_id == issue_id))).scalars())
    assert "relay" in kinds and kinds.count("relay_settled") == 2 and "settled_by_parties" in kinds
    # The timeline never names who settled (no actor), and its relay lines are internal.
    assert all(e.actor_id is None for e in events if e.kind in ("relay_settled", "settled_by_parties"))
    assert all(not e.public for e in events if e.kind in ("relay", "relay_settled"))
    # Writing after the close is refused with a friendly line.
    await press_private(harness, bob, w["reply"])
    assert ("已" in alert(harness)) if zh else "closed" in alert(harness)
    harness.save_transcript(f"relay_private_{lang}", "私事：楼栋长牵线，双方经机器人沟通并协商解决（中文）" if zh else
                            "A private matter: the captain puts the neighbours in touch; they settle it (English)")


async def test_private_matter_relay_en(harness: BotHarness, community: Any) -> None:
    await _walk_private_matter(harness, "en")


async def test_private_matter_relay_zh(harness: BotHarness, community: Any) -> None:
    await _walk_private_matter(harness, "zh")


async def test_private_matter_picker_and_forged_callbacks(harness: BotHarness, community: Any) -> None:
    ann = await english_with_ann(harness)
    tg = harness.tg
    bob = await person(harness, unique_id(), "Bob", resident_of="b1")
    eve = await person(harness, unique_id(), "Eve", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    wu = await person(harness, STAFF, "Office Wu")
    await in_household(harness, bob, "7")
    issue_id, the_card = await _private_matter(harness, "en", ann, zhang, wu, "Bike in the hallway")

    # A resident presses the captain's button (forged in the team chat): refused, nothing starts.
    await harness.feed(harness.up.callback(eve, f"is:touch:{issue_id}:", chat=TEAM_B1))
    assert "Only the captains of Building 1" in alert(harness)
    await harness.feed(harness.up.callback(eve, f"rl:h:{issue_id}:1", chat=eve.id))
    assert "Only the captains of Building 1" in alert(harness)

    # The captain taps a room in the picker (a household with nobody in the bot is refused kindly).
    await press(harness, the_card, zhang, "Put in touch")
    await press_private(harness, zhang, "1")  # room 1: nobody in the bot
    assert "Nobody from there uses the bot" in tg.last(zhang.id).plain
    await press_private(harness, zhang, "7")
    assert "Done" in tg.last(zhang.id).plain
    await press_private(harness, zhang, "7")  # idempotent
    assert "already in touch" in tg.last(zhang.id).plain
    async with harness.sessions() as s:
        relays = list((await s.execute(select(Relay).where(Relay.issue_id == issue_id))).scalars())
    assert len(relays) == 1
    rid = relays[0].id

    # A household of another building is refused even if forged.
    async with harness.sessions() as s:
        b2 = (await s.execute(select(Building).where(Building.key == "b2"))).scalar_one()
        other = (await HouseholdsService(s, harness.clock).of_building(b2.id))[0]
    await harness.feed(harness.up.callback(zhang, f"rl:h:{issue_id}:{other.id}", chat=zhang.id))
    assert "can't find that flat" in tg.last(zhang.id).plain

    # Eve (not a side) forges Write and Settled on the relay: refused, nothing recorded.
    await harness.feed(harness.up.callback(eve, f"rl:w:{rid}:", chat=eve.id))
    assert "not yours" in alert(harness)
    await harness.feed(harness.up.callback(eve, f"rl:s:{rid}:", chat=eve.id))
    assert "not yours" in alert(harness)
    await harness.feed(harness.up.callback(eve, "rl:w:999999:", chat=eve.id))
    assert "closed" in alert(harness)
    async with harness.sessions() as s:
        relay = await s.get(Relay, rid)
        assert relay is not None and not relay.a_settled and not relay.b_settled

    # The captain's own 🤝 Settled still closes it; the relay then refuses new messages.
    await press(harness, the_card, zhang, "Settled")
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.CLOSED and found.close_how == CloseHow.SETTLED
    await harness.deliver()
    await press_private(harness, bob, "Write")
    assert "closed" in alert(harness)


async def test_joint_matter_starts_a_consultation(harness: BotHarness, community: Any) -> None:
    ann, zhang = await ann_and_zhang(harness)
    tg = harness.tg
    wu = await person(harness, STAFF, "Office Wu")
    harness.record({ann.id: "Ann (resident)", zhang.id: "Captain Zhang", wu.id: "Office Wu",
                    TEAM_B1: "Building 1 team chat", OFFICE: "Office chat"})
    harness.note("A broken bicycle shed: the office makes it a joint matter; the captain asks the building.")
    issue_id, the_card = await _private_matter(harness, "en", ann, zhang, wu, "Replace the bicycle shed roof?",
                                               way="joint")
    assert "Start a consultation" in str(tg.buttons(tg.current(TEAM_B1, the_card.message_id)))
    # A resident's forged press is refused.
    await harness.feed(harness.up.callback(ann, f"is:consult:{issue_id}:go", chat=TEAM_B1))
    assert "Only the captains of Building 1" in alert(harness)

    await press(harness, the_card, zhang, "Start a consultation")
    assert "Replace the bicycle shed roof?" in alert(harness) and "60%" in alert(harness)
    async with harness.sessions() as s:
        assert not list((await s.execute(select(Consultation))).scalars())  # nothing before the confirmation
    await press(harness, the_card, zhang, "Start it")
    assert alert(harness) == "🗳 Consultation started."
    await harness.deliver()
    confirmation = tg.last(zhang.id).plain
    assert "Consultation started for Building 1" in confirmation and "48 households" in confirmation
    assert "Replace the bicycle shed roof?" in confirmation
    async with harness.sessions() as s:
        [c] = list((await s.execute(select(Consultation))).scalars())
    assert c.building_ids == [found_b1 := c.building_ids[0]] and found_b1
    assert c.rule == "all" and c.threshold_pct == 60 and not c.choices
    assert (c.deadline - harness.clock()).days in (6, 7)
    # A second press shows the same consultation, no second one.
    await harness.feed(harness.up.callback(zhang, f"is:consult:{issue_id}:go", chat=TEAM_B1))
    assert "already linked" in alert(harness)
    await settle(harness)
    assert "consultation running until" in (tg.current(TEAM_B1, the_card.message_id).caption or "")

    harness.note("A week later the consultation closes: the card and the timeline show its result.")
    harness.clock.advance(days=8)
    await harness.tick()
    await harness.tick()  # a second tick changes nothing
    await settle(harness)
    caption = tg.current(TEAM_B1, the_card.message_id).caption or ""
    assert "consultation did not pass: 0 of 48 households agree" in caption, caption
    async with harness.sessions() as s:
        results = list((await s.execute(select(IssueEvent).where(
            IssueEvent.issue_id == issue_id, IssueEvent.kind == "consultation_result"))).scalars())
    assert len(results) == 1
    await press(harness, the_card, zhang, "More")
    await press(harness, the_card, zhang, "Details")
    await harness.deliver()
    details = "\n".join(tg.texts(zhang.id, as_plain=True)[-2:])
    assert "consultation started" in details and "did not pass, 0 of 48 households agree" in details, details
    harness.save_transcript("relay_consult_en", "A joint matter starts a consultation from its card (English)")


# ---------------------------------------------------------------------------- /contacts


async def _hours(harness: BotHarness) -> None:
    async with harness.sessions() as s:
        await s.execute(update(Community).where(Community.key == "nanchi").values(hours="Mon–Fri 9:00–17:00"))
        await s.execute(update(Building).where(Building.key == "b1").values(hours="evenings 18:00–21:00"))
        await s.execute(update(Area).where(Area.key == "north").values(hours="weekdays 9:00–12:00"))
        await s.commit()


async def test_contacts_relay_to_captain_and_office(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    await _hours(harness)
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    async with harness.sessions() as s:
        await s.execute(update(Member).where(Member.telegram_id == ann.id).values(username="ann_secret",
                                                                                 phone="+8613800000000"))
        await s.commit()
    zhang = await person(harness, CAPTAIN, "Zhang")
    li = await person(harness, NORTH_HEAD, "Li")
    wu = await person(harness, STAFF, "Office Wu")
    harness.record({ann.id: "Ann (resident)", zhang.id: "Captain Zhang", li.id: "Area head Li",
                    wu.id: "Office Wu", OFFICE: "Office chat"})
    harness.note("Ann opens /contacts and writes to her building captain.")
    await harness.feed(harness.up.text(ann, "/contacts"))
    screen = tg.last(ann.id)
    text = screen.plain
    assert "Zhang · Building 1" in text and "evenings 18:00–21:00" in text
    assert "Li · North area" in text and "weekdays 9:00–12:00" in text
    assert "Nanchi Community" in text and "Mon–Fri 9:00–17:00" in text
    assert "Message Zhang" in str(tg.buttons(screen)) and "Message Community office" in str(tg.buttons(screen))

    await press(harness, screen, ann, "Message Zhang")
    await harness.feed(harness.up.text(ann, "When is the next cleaning day?"))
    assert "Sent to captain Zhang" in tg.last(ann.id).plain
    await harness.deliver()
    got = tg.last(zhang.id)
    assert "When is the next cleaning day?" in got.plain and "Ann, a resident of Building 1" in got.plain
    assert "ann_secret" not in got.plain and "13800000000" not in got.plain
    assert "Reply" in str(tg.buttons(got))

    harness.note("Zhang answers with ↩️ Reply.")
    await press(harness, got, zhang, "Reply")
    await harness.feed(harness.up.text(zhang, "Saturday 9:00, see you there!"))
    await harness.deliver()
    answer = tg.last(ann.id).plain
    assert "captain Zhang (Building 1) answers" in answer and "Saturday 9:00" in answer

    harness.note("Ann writes to the community office: the office chat sees a resident of Building 1, no name.")
    await harness.feed(harness.up.text(ann, "/contacts"))
    await press(harness, tg.last(ann.id), ann, "Message Community office")
    await harness.feed(harness.up.photo(ann, file_id="broken-gate", caption="The gate lock is broken"))
    await harness.deliver()
    office = tg.sent(OFFICE)[-1]
    assert office.method == "sendPhoto" and "A resident of Building 1 writes to the community office" in office.plain
    assert "Ann" not in office.plain and "ann_secret" not in office.plain
    # Another resident forging a press on the office's Reply is refused; staff answer from the group.
    eve = await person(harness, unique_id(), "Eve", resident_of="b1")
    assert harness.names is not None
    harness.names[eve.id] = "Eve (another resident)"
    await press(harness, office, eve, "Reply")
    assert "not yours" in alert(harness)
    await press(harness, office, wu, "Reply")
    assert "private chat" in alert(harness)
    await harness.feed(harness.up.text(wu, "We'll send someone today."))
    await harness.deliver()
    answer = tg.last(ann.id).plain
    assert "the community office answers" in answer and "send someone today" in answer and "Wu" not in answer
    harness.save_transcript("contacts_en", "/contacts: a resident writes to the captain and the office (English)")


async def test_contacts_daily_cap_quiet_hours_restart_and_role_end(harness: BotHarness, community: Any) -> None:
    from bot.fsm_storage import SqlStorage

    ann, zhang = await ann_and_zhang(harness)
    tg = harness.tg
    async with harness.sessions() as s:
        c = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        await s.execute(update(Community).where(Community.id == c.id).values(
            settings={**(c.settings or {}), "limits": {"relays_per_day": 2}}))
        # Zhang sleeps 22:00–07:00; it is 09:00 now, so move the clock to 23:00 local (15:00 UTC).
        await s.execute(update(Member).where(Member.telegram_id == CAPTAIN).values(quiet_start=22, quiet_end=7))
        await s.commit()
    harness.clock.advance(hours=14)

    await harness.feed(harness.up.text(ann, "/contacts"))
    await press(harness, tg.last(ann.id), ann, "Message Zhang")
    # The process restarts between the press and the message: nothing in memory survives.
    harness.dp.fsm.storage = SqlStorage(harness.sessions)
    await harness.feed(harness.up.text(ann, "First"))
    assert "Sent" in tg.last(ann.id).plain
    before = len(tg.sent(zhang.id))
    await harness.deliver()
    assert len(tg.sent(zhang.id)) == before  # quiet hours: it waits for the morning
    harness.clock.advance(hours=9)
    await harness.deliver()
    assert "First" in tg.last(zhang.id).plain

    await harness.feed(harness.up.text(ann, "/contacts"))
    await press(harness, tg.last(ann.id), ann, "Message Zhang")
    await harness.feed(harness.up.text(ann, "Second"))
    await harness.feed(harness.up.text(ann, "/contacts"))
    await press(harness, tg.last(ann.id), ann, "Message Zhang")
    await harness.feed(harness.up.text(ann, "Third"))
    assert "Sent" in tg.last(ann.id).plain  # a new local day since "First": two allowed again
    await harness.feed(harness.up.text(ann, "/contacts"))
    await press(harness, tg.last(ann.id), ann, "Message Zhang")
    await harness.feed(harness.up.text(ann, "Fourth"))
    assert "2 messages through the bot today" in tg.last(ann.id).plain
    async with harness.sessions() as s:
        assert len(list((await s.execute(select(RelayMessageRow))).scalars())) == 3

    # Zhang hands over the captaincy (his role ends): an old Write/Reply button gets a friendly line.
    harness.clock.advance(days=1)
    await harness.deliver()
    zhang_msg = tg.last(zhang.id)
    async with harness.sessions() as s:
        from bot.services.members import MembersService

        members = MembersService(s, harness.clock)
        m = await members.by_telegram_id(CAPTAIN)
        assert m is not None
        from models import Role

        for role in list((await s.execute(select(Role).where(Role.member_id == m.id,
                                                             Role.role == "captain"))).scalars()):
            await s.delete(role)
        await s.flush()
        await members.roles_ended(m)
        await s.commit()
        relay = (await s.execute(select(Relay).where(Relay.kind == "contact"))).scalar_one()
        assert relay.status == "ended"
    await press(harness, zhang_msg, zhang, "Reply")
    assert "no longer holds that role" in alert(harness)
    # /contacts no longer offers him.
    await harness.feed(harness.up.text(ann, "/contacts"))
    assert "Message Zhang" not in str(tg.buttons(tg.last(ann.id)))
    # A forged contact key (someone /contacts does not offer) is refused.
    unthrottle(harness)
    await harness.feed(harness.up.callback(ann, f"rl:c:0:c1.{relay.b_member_id}", chat=ann.id))
    assert "no longer holds that role" in alert(harness)


async def test_erasure_scrubs_relays(harness: BotHarness, community: Any) -> None:
    ann, zhang = await ann_and_zhang(harness)
    tg = harness.tg
    async with harness.sessions() as s:
        await s.execute(update(Member).where(Member.telegram_id == CAPTAIN).values(quiet_start=0, quiet_end=23))
        await s.commit()
    await harness.feed(harness.up.text(ann, "/contacts"))
    await press(harness, tg.last(ann.id), ann, "Message Zhang")
    await harness.feed(harness.up.text(ann, "My flat number is 5, call me"))
    # Waiting in the outbox (quiet hours) when Ann erases her data.
    async with harness.sessions() as s:
        from bot.services.members import MembersService

        members = MembersService(s, harness.clock)
        m = await members.by_telegram_id(ann.id)
        assert m is not None
        await members.delete_data(m)
        await s.commit()
    harness.clock.advance(days=1)
    await harness.deliver()
    assert not any("call me" in t for t in tg.texts(zhang.id, as_plain=True))
    async with harness.sessions() as s:
        rows = list((await s.execute(select(RelayMessageRow))).scalars())
        relay = (await s.execute(select(Relay))).scalar_one()
        from models import OutboxItem

        outbox = list((await s.execute(select(OutboxItem).where(OutboxItem.dedup_key.startswith("relay:")))).scalars())
    assert rows and all(r.text is None and r.photo is None and r.sender_id is None for r in rows)
    assert relay.status == "closed" and relay.a_member_id is None
    assert all("call me" not in str(o.payload) for o in outbox)


async def test_zh_consultation_from_card_and_contacts(harness: BotHarness, community: Any) -> None:
    """The same two flows in Chinese: 小事 → 发起民意征集 from the card, and /contacts → 留言 → 回复."""
    await set_locale(harness, "zh_Hans")
    groups(harness)
    tg = harness.tg
    await _hours(harness)
    ann = await person(harness, unique_id(), "安女士", "zh-hans", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "张楼长", "zh-hans")
    wu = await person(harness, STAFF, "吴主任", "zh-hans")
    harness.record({ann.id: "安女士（居民）", zhang.id: "张楼长", wu.id: "吴主任", TEAM_B1: "1号楼工作群",
                    OFFICE: "社区办公室群"})
    harness.note("自行车棚顶棚破损：社区定为小事，楼栋长从卡片发起民意征集。")
    _id, the_card = await _private_matter(harness, "zh", ann, zhang, wu, "是否更换自行车棚顶棚？", way="joint")
    await press(harness, the_card, zhang, "发起民意征集")
    assert "是否更换自行车棚顶棚？" in alert(harness) and "60%" in alert(harness)
    await press(harness, the_card, zhang, "确认发起")
    assert alert(harness) == "🗳 民意征集已发起。"
    await harness.deliver()
    assert "全部48户中超过60%同意即通过" in tg.last(zhang.id).plain
    await settle(harness)
    assert "民意征集进行中" in (tg.current(TEAM_B1, the_card.message_id).caption or "")
    harness.clock.advance(days=8)
    await harness.tick()
    await settle(harness)
    assert "民意征集未通过：48户中0户同意" in (tg.current(TEAM_B1, the_card.message_id).caption or "")
    harness.save_transcript("relay_consult_zh", "小事：从问题卡片发起民意征集（中文）")

    harness.record({ann.id: "安女士（居民）", zhang.id: "张楼长", wu.id: "吴主任", OFFICE: "社区办公室群"})
    harness.note("安女士打开 /contacts，给楼栋长留言；楼栋长回复。")
    await harness.feed(harness.up.text(ann, "/contacts"))
    screen = tg.last(ann.id)
    assert "楼栋长" in screen.plain and "evenings 18:00–21:00" in screen.plain and "社区办公室" in screen.plain
    await press(harness, screen, ann, "给张楼长留言")
    await harness.feed(harness.up.text(ann, "下次清洁日是哪天？"))
    assert "已转达给楼栋长张楼长" in tg.last(ann.id).plain
    await harness.deliver()
    got = tg.last(zhang.id)
    assert "下次清洁日是哪天？" in got.plain and "居民安女士通过机器人给您留言" in got.plain
    await press(harness, got, zhang, "回复")
    await harness.feed(harness.up.text(zhang, "周六上午9点，楼下见！"))
    await harness.deliver()
    assert "楼栋长张楼长（Building 1）回复" in tg.last(ann.id).plain
    harness.save_transcript("contacts_zh", "/contacts：居民给楼栋长留言并收到回复（中文）")


async def test_structure_file_hours(sessions: Any, clock: Any) -> None:
    """`hours:` of the community, an area and a building are imported, changed on re-import and shown by
    /contacts (the line is optional everywhere)."""
    from bot.services.structure import StructureService
    from tests.conftest import DATA

    base = (DATA / "structure.yaml").read_text(encoding="utf-8")
    text = (base.replace("  staff: [2002]\n", "  staff: [2002]\n  hours: Mon-Fri 9-17\n")
            .replace("    heads: [2001]\n", "    heads: [2001]\n    hours: weekdays 9-12\n")
            .replace("        captains: [3001]\n", "        captains: [3001]\n        hours: evenings\n"))
    async with sessions() as s:
        await StructureService(s, clock).import_text(text)
        await s.commit()
    async with sessions() as s:
        assert (await s.execute(select(Community.hours))).scalar_one() == "Mon-Fri 9-17"
        assert (await s.execute(select(Area.hours).where(Area.key == "north"))).scalar_one() == "weekdays 9-12"
        assert (await s.execute(select(Building.hours).where(Building.key == "b1"))).scalar_one() == "evenings"
        assert (await s.execute(select(Building.hours).where(Building.key == "b2"))).scalar_one() is None
    async with sessions() as s:
        report = await StructureService(s, clock).import_text(text.replace("hours: evenings", "hours: 18-21"))
        await s.commit()
        assert "building Building 1" in report.updated
    async with sessions() as s:
        assert (await s.execute(select(Building.hours).where(Building.key == "b1"))).scalar_one() == "18-21"
