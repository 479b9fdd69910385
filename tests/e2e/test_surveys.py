"""Satisfaction surveys end to end, in English and Chinese: staff start one for Building 1 from the
template, household members are invited privately, one member answers for the household (with a
comment) and another sees it is done and by whom; the captain sees progress and records a household
door to door; a tick (as after a restart) in the middle of an answer changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.services.households import HouseholdsService
from models import Building, Member, SurveyResponse
from tests.conftest import BotHarness
from tests.e2e.test_cleaning import add_residents, screen, tap

STAFF, CAPTAIN = 2002, 3001

WORDS = {
    "en": {"new": "➕ New survey", "b1": "Building 1", "take": "📝 Take the survey",
           "started": "Started", "q1": "cleanliness of your building", "noted": "Comment noted",
           "thanks": "Your household's answer is in", "done_by": "your household has answered (by Resident",
           "progress": "📊", "cov": "Building 1: 2 of 48 households (4%), target 32",
           "missing": "🚪 Not answered: Building 1", "recorded": "Recorded for household 3",
           "cov2": "Building 1: 2 of 48 households", "in_person": "1 in person"},
    "zh_Hans": {"new": "➕ 发起测评", "b1": "Building 1", "take": "📝 参与测评",
                "started": "已发起", "q1": "环境卫生", "noted": "已记下",
                "thanks": "您家的回答已收到", "done_by": "您家已经回答（Resident",
                "progress": "📊", "cov": "Building 1：48户中已有2户（4%），目标32户",
                "missing": "🚪 未回答：Building 1", "recorded": "已为3户录入",
"in_person": "其中入户1户"},
}


# The dispatcher (and its throttle) is shared by the session; tests tap faster than people.
pytestmark = pytest.mark.usefixtures("fast_presses")


def _last_with(harness: BotHarness, chat: int, words: str) -> Any:
    for call in reversed(harness.tg.sent(chat)):
        if words in (call.params.get("text") or call.params.get("caption") or ""):
            return call
    raise AssertionError(f"no message with {words!r} in {chat}: {harness.tg.texts(chat)}")


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_survey_household_answers_once_captain_records_door_to_door(
        harness: BotHarness, community: Any, lang: str) -> None:
    w = WORDS[lang]
    base = 62000 if lang == "en" else 63000
    ann_id, bo_id, cai_id = base + 1, base + 2, base + 3
    code = "zh-hans" if lang != "en" else "en"
    await add_residents(harness, [ann_id, bo_id, cai_id], lang=code)
    async with harness.sessions() as s:
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        hh = HouseholdsService(s, harness.clock)
        flats = await hh.of_building(b1.id)
        for tid, flat in ((ann_id, flats[0]), (bo_id, flats[0]), (cai_id, flats[1])):
            m = (await s.execute(select(Member).where(Member.telegram_id == tid))).scalar_one()
            await hh.join(m, flat.id)
        for tid in (STAFF, CAPTAIN):
            m = (await s.execute(select(Member).where(Member.telegram_id == tid))).scalar_one()
            m.locale = lang
        await s.commit()
    up = harness.up
    staff = up.user(STAFF, "Wang", "en")
    captain = up.user(CAPTAIN, "Zhang", "en")
    ann, bo, cai = (up.user(ann_id, "Resident1", code), up.user(bo_id, "Resident2", code),
                    up.user(cai_id, "Resident3", code))
    for chat in (STAFF, CAPTAIN):
        harness.tg.add_chat(chat, type="private")
    harness.record({STAFF: "Office staff Wang", CAPTAIN: "Captain Zhang (Building 1)",
                    ann_id: "Ann (flat 1)", bo_id: "Bo (flat 1)", cai_id: "Cai (flat 2)"})

    await harness.feed(up.text(staff, "/survey"))
    await tap(harness, STAFF, staff, w["new"])
    await tap(harness, STAFF, staff, w["b1"])
    assert w["started"] in screen(harness, STAFF)
    await harness.deliver()
    for chat in (ann_id, bo_id, cai_id):
        assert harness.tg.buttons(_last_with(harness, chat, "📋")) == [[w["take"]]]

    harness.note("Ann answers for flat 1, with a comment on the first question")
    await harness.feed(up.callback_on(harness.tg.last(ann_id), ann, w["take"]))
    assert w["q1"] in screen(harness, ann_id)
    question = harness.tg.last(ann_id)
    await harness.feed(up.text(ann, "The bins overflow on Mondays"))
    assert w["noted"] in harness.tg.last(ann_id).text
    for v in ("5", "4", "3", "4", "5"):
        await harness.feed(up.callback_on(question, ann, v))
    assert w["thanks"] in harness.tg.current(ann_id, question.message_id).html_text

    harness.note("Bo, of the same flat, opens the survey later")
    await harness.feed(up.callback_on(_last_with(harness, bo_id, "📋"), bo, w["take"]))
    assert w["done_by"] in harness.tg.last(bo_id).text

    harness.note("Cai starts, the bot restarts (a scheduler tick runs) and Cai goes on")
    await harness.feed(up.callback_on(_last_with(harness, cai_id, "📋"), cai, w["take"]))
    q_cai = harness.tg.last(cai_id)
    await harness.feed(up.callback_on(q_cai, cai, "2"))
    await harness.tick()
    await harness.deliver()
    for v in ("3", "4", "2", "1"):
        await harness.feed(up.callback_on(q_cai, cai, v))
    assert w["thanks"] in harness.tg.current(cai_id, q_cai.message_id).html_text

    harness.note("The captain checks progress and records flat 3 door to door")
    await harness.feed(up.text(captain, "/survey"))
    await tap(harness, CAPTAIN, captain, harness.tg.buttons(harness.tg.last(CAPTAIN))[0][0])
    assert w["cov"] in screen(harness, CAPTAIN)
    await tap(harness, CAPTAIN, captain, w["missing"])
    await tap(harness, CAPTAIN, captain, "3")
    q_cap = harness.tg.last(CAPTAIN)
    for v in ("4", "4", "4", "4", "4"):
        await harness.feed(up.callback_on(q_cap, captain, v))
    assert w["recorded"] in harness.tg.current(CAPTAIN, q_cap.message_id).html_text
    await harness.feed(up.text(captain, "/survey"))
    await tap(harness, CAPTAIN, captain, harness.tg.buttons(harness.tg.last(CAPTAIN))[0][0])
    assert w["in_person"] in screen(harness, CAPTAIN)
    harness.save_transcript(f"surveys_{'en' if lang == 'en' else 'zh'}",
                            "Satisfaction survey: one answer per household, door to door" if lang == "en"
                            else "满意度测评：每户一份，入户录入")

    async with harness.sessions() as s:
        rows = list((await s.execute(select(SurveyResponse).order_by(SurveyResponse.id))).scalars())
        assert [(r.scores, r.in_person) for r in rows] == [
            ([5, 4, 3, 4, 5], False), ([2, 3, 4, 2, 1], False), ([4, 4, 4, 4, 4], True)]
        assert rows[0].comments[0] == "The bins overflow on Mondays"


TYPED = {
    "en": {"typed": "✍️ Type my own questions", "prompt": "one per line", "wrong": "between 1 and 8 questions",
           "yours": "Your questions", "take": "📝 Take the survey"},
    "zh_Hans": {"typed": "✍️ 自己输入问题", "prompt": "每行一个", "wrong": "1到8个问题",
                "yours": "您的问题", "take": "📝 参与测评"},
}


@pytest.mark.parametrize("lang", ["en", "zh_Hans"])
async def test_staff_type_their_own_questions(harness: BotHarness, community: Any, lang: str) -> None:
    """The /survey wizard takes typed questions (one per line, at most 8, in any language); too many gets
    one line and the same question; residents are asked the questions exactly as typed."""
    w, t = WORDS[lang], TYPED[lang]
    base = 64000 if lang == "en" else 64500
    ann_id = base + 1
    code = "zh-hans" if lang != "en" else "en"
    await add_residents(harness, [ann_id], lang=code)
    async with harness.sessions() as s:
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        hh = HouseholdsService(s, harness.clock)
        m = (await s.execute(select(Member).where(Member.telegram_id == ann_id))).scalar_one()
        await hh.join(m, (await hh.of_building(b1.id))[0].id)
        staff_m = (await s.execute(select(Member).where(Member.telegram_id == STAFF))).scalar_one()
        staff_m.locale = lang
        await s.commit()
    up = harness.up
    staff = up.user(STAFF, "Wang", "en")
    ann = up.user(ann_id, "Resident1", code)
    harness.tg.add_chat(STAFF, type="private")
    harness.record({STAFF: "Office staff Wang", ann_id: "Ann (flat 1)"})

    await harness.feed(up.text(staff, "/survey"))
    await tap(harness, STAFF, staff, w["new"])
    await tap(harness, STAFF, staff, t["typed"])
    assert t["prompt"] in screen(harness, STAFF)
    await harness.feed(up.text(staff, "\n".join(f"Q{n}?" for n in range(1, 10))))
    texts = harness.tg.texts(STAFF)
    assert t["wrong"] in texts[-2] and t["prompt"] in texts[-1]
    await harness.feed(up.text(staff, "Is the lift working well?\n\n  楼道灯亮吗？  \n"))
    assert t["yours"] in screen(harness, STAFF)
    assert "1. Is the lift working well?" in screen(harness, STAFF) and "2. 楼道灯亮吗？" in screen(harness, STAFF)
    await tap(harness, STAFF, staff, w["b1"])
    assert w["started"] in screen(harness, STAFF)
    await harness.deliver()
    await harness.feed(up.callback_on(_last_with(harness, ann_id, "📋"), ann, t["take"]))
    question = harness.tg.last(ann_id)
    assert "Is the lift working well?" in screen(harness, ann_id)
    await harness.feed(up.callback_on(question, ann, "4"))
    assert "楼道灯亮吗？" in screen(harness, ann_id)
    await harness.feed(up.callback_on(question, ann, "5"))
    harness.save_transcript(f"surveys_typed_{'en' if lang == 'en' else 'zh'}",
                            "Satisfaction survey with typed questions" if lang == "en" else "满意度测评：自拟问题")
    async with harness.sessions() as s:
        rows = list((await s.execute(select(SurveyResponse))).scalars())
        assert [r.scores for r in rows] == [[4, 5]]
