"""Households in the conversations, in English and Chinese: after choosing the building a newcomer taps
unit → floor → flat (or types "2单元302"); a wrong flat gets one line and the same question; an invite
asks the same with a way past it; a captain corrects someone's flat in /members (the person is told);
a resident changes their own in /settings; a building without flats asks nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.services.structure import StructureService
from models import Building, Household, HouseholdMember, Member
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_onboarding import _make_invite, deliver, unthrottle

DATA = Path(__file__).resolve().parents[1] / "data" / "structure.yaml"
TEAM_B1, CAPTAIN = -1001000000011, 3001

WORDS = {
    "en": {"unit_q": "Which flat in Building 1", "floor_q": "which floor?", "flat_q": "which flat?",
           "u2": "Unit 2", "f3": "Floor 3", "asked": "I've asked the captains of Building 1",
           "yours": "Your flat: 2-301", "wrong": "There is no flat “9-999” in Building 1", "skip": "Skip for now",
           "joined": "You joined Building 1 as a resident", "in_flat": "You are in flat 2-302 of Building 1",
           "settings": "⚙️ Settings", "my_flat": "🏠 My flat", "members": "🏠 Correct someone's flat",
           "set": "is now in flat 1-101", "told": "recorded you in flat 1-101", "later": "later, in /settings"},
    "zh_Hans": {"unit_q": "您住在Building 1的哪一户", "floor_q": "哪一层？", "flat_q": "哪一户？",
                "u2": "2单元", "f3": "3层", "asked": "已请 Building 1 的楼栋长确认",
                "yours": "您的门牌：2-301", "wrong": "Building 1没有“9-999”这一户", "skip": "暂时跳过",
                "joined": "您已作为居民加入 Building 1", "in_flat": "您已登记为Building 1的2-302户",
                "settings": "⚙️ 设置", "my_flat": "🏠 我的门牌", "members": "🏠 更正住户门牌",
                "set": "已登记为Building 1的1-101户", "told": "已将您登记为1-101户",
                "later": "之后可在 /settings 中填写"},
}


async def _flats(harness: BotHarness) -> None:
    """Building 1 described as 2 units × 6 floors × 4 flats (1-101 … 2-604): 48 households."""
    text = DATA.read_text(encoding="utf-8").replace(
        "        households: 48\n", "        units: 2\n        floors: 6\n        per_floor: 4\n")
    async with harness.sessions() as s:
        await StructureService(s, harness.clock).import_text(text)
        await s.commit()


async def _flat_of(harness: BotHarness, tid: int) -> str | None:
    async with harness.sessions() as s:
        return (await s.execute(select(Household.label).join(
            HouseholdMember, HouseholdMember.household_id == Household.id).join(
            Member, Member.id == HouseholdMember.member_id).where(Member.telegram_id == tid))).scalar_one_or_none()


def _screen(harness: BotHarness, chat: int) -> str:
    last = harness.tg.last(chat)
    return harness.tg.current(chat, last.message_id).text or ""


async def _tap(harness: BotHarness, chat: int, user: Any, text: str) -> None:
    unthrottle(harness)
    await harness.feed(harness.up.callback_on(harness.tg.last(chat), user, text))


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_newcomer_taps_unit_floor_flat_and_types_one(harness: BotHarness, community: Any, lang: str) -> None:
    w = WORDS[lang]
    code = "en" if lang == "en" else "zh-hans"
    await _flats(harness)
    tg, up = harness.tg, harness.up
    uid = unique_id()
    ann = up.user(uid, "Ann", code)
    tg.add_chat(TEAM_B1, type="supergroup", title="Building 1 team")
    harness.record({uid: "Ann (new resident)", TEAM_B1: "Building 1 team chat", CAPTAIN: "Captain Zhang"})
    unthrottle(harness)
    await harness.feed(up.text(ann, "/start"))
    for place in ("Nanchi Community", "North area", "Building 1"):
        await _tap(harness, uid, ann, place)
    assert w["unit_q"] in _screen(harness, uid)
    assert tg.buttons(tg.current(uid, tg.last(uid).message_id)) == [[w["u2"].replace("2", "1"), w["u2"]],
                                                                     [w["skip"]]]

    harness.note("a flat that does not exist: one line, then the same question")
    unthrottle(harness)
    await harness.feed(up.text(ann, "9-999"))
    assert w["wrong"] in tg.texts(uid)[-2] and w["unit_q"] in tg.texts(uid)[-1]

    await _tap(harness, uid, ann, w["u2"])
    assert w["floor_q"] in _screen(harness, uid)
    assert len([b for row in tg.buttons(tg.current(uid, tg.last(uid).message_id)) for b in row]) == 6 + 2
    await _tap(harness, uid, ann, w["f3"])
    assert w["flat_q"] in _screen(harness, uid)
    assert tg.buttons(tg.current(uid, tg.last(uid).message_id))[0] == ["2-301", "2-302", "2-303", "2-304"]
    await _tap(harness, uid, ann, "2-301")
    assert w["asked"] in _screen(harness, uid) and w["yours"] in _screen(harness, uid)
    assert await _flat_of(harness, uid) == "2-301"
    await deliver(harness)
    assert "2-301" in tg.last(TEAM_B1).text  # the request reached the captains, with the flat to check

    harness.note("invited neighbours are asked the same, with a way past it; one types the flat")
    invite = await _make_invite(harness, CAPTAIN, "resident")
    bo_id, cy_id = unique_id(), unique_id()
    harness.names.update({bo_id: "Bo (invited)", cy_id: "Cy (invited)"})  # type: ignore[union-attr]
    bo, cy = up.user(bo_id, "Bo", code), up.user(cy_id, "Cy", code)
    unthrottle(harness)
    await harness.feed(up.text(bo, f"/start {invite.code}"))
    assert w["joined"] in tg.texts(bo_id)[-2] and w["unit_q"] in tg.texts(bo_id)[-1]
    unthrottle(harness)
    await harness.feed(up.text(bo, "2单元302"))
    assert w["in_flat"] in tg.last(bo_id).text
    assert await _flat_of(harness, bo_id) == "2-302"
    unthrottle(harness)
    await harness.feed(up.text(cy, f"/start {invite.code}"))
    await _tap(harness, cy_id, cy, w["skip"])
    assert w["later"] in _screen(harness, cy_id)
    assert await _flat_of(harness, cy_id) is None

    harness.note("Cy later says which flat in /settings")
    unthrottle(harness)
    await harness.feed(up.text(cy, "/settings"))
    await _tap(harness, cy_id, cy, w["my_flat"])
    await _tap(harness, cy_id, cy, w["u2"])
    await _tap(harness, cy_id, cy, w["f3"])
    await _tap(harness, cy_id, cy, "2-302")
    assert await _flat_of(harness, cy_id) == "2-302"  # several people in one household

    harness.note("the captain corrects Bo's flat in /members; Bo is told")
    async with harness.sessions() as s:
        cap = (await s.execute(select(Member).where(Member.telegram_id == CAPTAIN))).scalar_one()
        cap.locale = lang
        await s.commit()
    zhang = up.user(CAPTAIN, "Zhang", code)
    unthrottle(harness)
    await harness.feed(up.text(zhang, "/members"))
    if "Building 1" in [b for row in tg.buttons(tg.last(CAPTAIN)) for b in row]:
        await _tap(harness, CAPTAIN, zhang, "Building 1")
    await _tap(harness, CAPTAIN, zhang, w["members"])
    bo_button = next(b for row in tg.buttons(tg.current(CAPTAIN, tg.last(CAPTAIN).message_id)) for b in row
                     if b.startswith("Bo"))
    assert "2-302" in bo_button
    await _tap(harness, CAPTAIN, zhang, bo_button)
    await _tap(harness, CAPTAIN, zhang, w["u2"].replace("2", "1"))
    await _tap(harness, CAPTAIN, zhang, w["f3"].replace("3", "1"))
    await _tap(harness, CAPTAIN, zhang, "1-101")
    assert w["set"] in _screen(harness, CAPTAIN)
    assert await _flat_of(harness, bo_id) == "1-101"
    await deliver(harness)
    assert w["told"] in tg.last(bo_id).text
    harness.save_transcript(f"households_{'en' if lang == 'en' else 'zh'}",
                            "Households: unit → floor → flat, typed, skipped, corrected" if lang == "en"
                            else "住户门牌：单元→楼层→户号、直接输入、跳过与楼栋长更正")


async def test_a_resident_may_not_set_someone_elses_flat(harness: BotHarness, community: Any) -> None:
    """Callback data is untrusted: a resident pressing a captain's correction button for someone else (or
    a flat of another building) changes nothing."""
    await _flats(harness)
    tg, up = harness.tg, harness.up
    invite = await _make_invite(harness, CAPTAIN, "resident")
    a_id, b_id = unique_id(), unique_id()
    a, b = up.user(a_id, "Al", "en"), up.user(b_id, "Bea", "en")
    for user in (a, b):
        unthrottle(harness)
        await harness.feed(up.text(user, f"/start {invite.code}"))
    unthrottle(harness)
    await harness.feed(up.text(b, "1-101"))
    async with harness.sessions() as s:
        bea = (await s.execute(select(Member).where(Member.telegram_id == b_id))).scalar_one()
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        other = (await s.execute(select(Household).where(Household.building_id == b1.id,
                                                         Household.label == "2-604"))).scalar_one()
    from bot.keyboards.households import HhCb

    for data in (HhCb(a="r", b=b1.id, m=bea.id, mo="cp", h=other.id), HhCb(a="r", b=b1.id, m=bea.id, mo="st",
                                                                           h=other.id)):
        unthrottle(harness)
        await harness.feed(up.callback(a, data.pack(), message=tg.current(a_id, tg.last(a_id).message_id)))
    assert await _flat_of(harness, b_id) == "1-101"


async def test_a_building_without_flats_asks_nothing(harness: BotHarness, community: Any) -> None:
    up = harness.up
    async with harness.sessions() as s:
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        for h in (await s.execute(select(Household).where(Household.building_id == b1.id))).scalars():
            await s.delete(h)
        await s.commit()
    uid = unique_id()
    dee = up.user(uid, "Dee", "en")
    unthrottle(harness)
    await harness.feed(up.text(dee, "/start"))
    for place in ("Nanchi Community", "North area", "Building 1"):
        await _tap(harness, uid, dee, place)
    assert _screen(harness, uid).startswith("I've asked the captains of Building 1")


async def test_a_declined_request_drops_the_flat(harness: BotHarness, community: Any) -> None:
    """The flat given with a join request is the person's word until the captains confirm it: declined,
    it goes with the request (nobody is counted in a flat of a building they do not belong to)."""
    await _flats(harness)
    tg, up = harness.tg, harness.up
    tg.add_chat(TEAM_B1, type="supergroup", title="Building 1 team")
    uid = unique_id()
    eve = up.user(uid, "Eve", "en")
    unthrottle(harness)
    await harness.feed(up.text(eve, "/start"))
    for place in ("Nanchi Community", "North area", "Building 1"):
        await _tap(harness, uid, eve, place)
    unthrottle(harness)
    await harness.feed(up.text(eve, "1-204"))
    assert await _flat_of(harness, uid) == "1-204"
    await deliver(harness)
    card = tg.last(TEAM_B1)
    assert "1-204" in (card.text or "")
    unthrottle(harness)
    await harness.feed(up.callback_on(card, up.user(CAPTAIN, "Zhang", "zh-hans"), "拒绝"))
    assert await _flat_of(harness, uid) is None
