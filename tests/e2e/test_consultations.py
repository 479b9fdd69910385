"""Consultations end to end through the Bot API double: Building 1 has 48 households (structure.yaml,
`households: 48`). Residents get the question in private and answer with a tap; a household's other
member sees what it answered and who; households that have not answered get reminders two days before
and on the morning of the deadline; the captain records the rest door to door (入户); at the deadline the
result goes to the author, the residents' chat and the office chat, and the per-household table to the
office as an XLSX. 30 households agreeing passes (> 60% of 48); 28 does not.

Every tick builds new services and sessions and every message has a unique outbox key, and the votes
live in the database: the middle of each test runs the jobs twice (a double tick / a restarted
instance catching up) and nothing is sent twice."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from bot.services.access import Place
from bot.services.consultations import ConsultationsService
from bot.services.households import HouseholdsService
from bot.services.members import MembersService, TelegramPerson
from models import Building, Community, JobLease, Member
from tests.conftest import BotHarness

RESIDENTS_CHAT = -1001000000031  # Building 1's residents' chat in tests/data/structure.yaml
OFFICE = -1001000000001
START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
DEADLINE = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # Friday 18:00 local


# The dispatcher (and its throttle) is shared by the session; tests tap faster than people.
pytestmark = pytest.mark.usefixtures("fast_presses")


async def at(harness: BotHarness, when: datetime, *, twice: bool = False) -> None:
    harness.clock.set(when)
    for _ in range(2 if twice else 1):
        async with harness.sessions() as s:
            await s.execute(delete(JobLease))
            await s.commit()
        await harness.tick()
        await harness.deliver()


async def setup(harness: BotHarness, community: Any, base: int, lang: str) -> tuple[int, int, list[int]]:
    """A captain (the author), 16 residents in households 1…16 (and a second member of household 1),
    the residents' chat and the office chat; a consultation with the default choices and rule."""
    harness.clock.set(START)
    harness.tg.add_chat(RESIDENTS_CHAT, type="supergroup", title="Building 1 residents")
    harness.tg.add_chat(OFFICE, type="supergroup", title="Nanchi office")
    residents = [base + i for i in range(1, 17)]
    mate = base + 50
    async with harness.sessions() as s:
        c = await s.get(Community, community.id)
        assert c is not None
        c.locale = lang
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
        place = Place(b1.community_id, b1.area_id, b1.id)
        members = MembersService(s, harness.clock)
        households = HouseholdsService(s, harness.clock)
        flats = await households.of_building(b1.id)
        captain = await members.touch(TelegramPerson(id=base, first_name="Zhang", language_code=lang))
        captain.started = True
        await members.grant(captain, "captain", place, source="import")
        for i, tid in enumerate([*residents, mate]):
            m = await members.touch(TelegramPerson(id=tid, first_name=f"R{tid % 1000}", language_code=lang))
            m.started = True
            await members.grant(m, "resident", place, source="import")
            await households.join(m, flats[i if tid != mate else 0].id)
        consultation = await ConsultationsService(s, harness.clock).start(
            await members.actor(captain), building_ids=[b1.id], deadline=DEADLINE,
            question="Turn the bare yard by Building 1 into a garden with benches <b>(plan attached)</b>?")
        await s.commit()
        cid = consultation.id
    for tid in [base, *residents, mate]:
        harness.up.user(tid, f"R{tid % 1000}", lang)
        harness.tg.add_chat(tid, type="private")
    return cid, mate, residents


async def door_to_door(harness: BotHarness, cid: int, captain_tid: int, agree: int, disagree: int) -> None:
    """The captain's door-to-door round: recorded in person, with a photo of the signed form."""
    async with harness.sessions() as s:
        captain = (await s.execute(select(Member).where(Member.telegram_id == captain_tid))).scalar_one()
        actor = await MembersService(s, harness.clock).actor(captain)
        service = ConsultationsService(s, harness.clock)
        todo = [h for unit in (await service.missing(actor, cid)).values() for h in unit]
        for i, h in enumerate(todo[:agree + disagree]):
            await service.record(actor, cid, h.id, 0 if i < agree else 1, form_photo="AgADform")
        await s.commit()


def sheet(harness: BotHarness) -> list[tuple[Any, ...]]:
    uploads = [u for call in harness.tg.sent(OFFICE, "sendDocument") for u in call.files.values()
               if (u.filename or "").startswith("consultation-")]  # type: ignore[attr-defined]
    assert len(uploads) == 1
    upload = uploads[0]
    ws = load_workbook(io.BytesIO(upload.data)).active  # type: ignore[attr-defined]
    assert ws is not None
    return list(ws.iter_rows(values_only=True))


@pytest.mark.parametrize(("agree", "lang", "passed"), [(30, "en", True), (28, "zh_Hans", False)])
async def test_consultation_of_48_households(harness: BotHarness, community: Any, agree: int, lang: str,
                                             passed: bool) -> None:
    tg, up = harness.tg, harness.up
    base = 980000 + agree * 1000
    zh = lang.startswith("zh")
    cid, mate, residents = await setup(harness, community, base, lang)
    harness.record({base: "Captain Zhang (author)", residents[0]: "Ann (household 1)", mate: "Ann's husband",
                    residents[1]: "Bo (household 2)", residents[15]: "Cai (household 16)",
                    RESIDENTS_CHAT: "Building 1 residents' chat", OFFICE: "Office chat"})
    await at(harness, START + timedelta(minutes=1), twice=True)
    invite = tg.last(residents[0]).plain or ""
    assert ("请在" if zh else "Please answer by") in invite and ("您家：1" if zh else "Your household: 1") in invite
    assert len(tg.sent(residents[0])) == 1  # the double tick sent nothing twice
    post = tg.last(RESIDENTS_CHAT).plain or ""
    assert ("已答复：0/48户" if zh else "Answered: 0 of 48 households") in post
    assert "<b>(plan attached)</b>" in post  # the question is escaped, not markup

    agree_word, disagree_word = ("同意", "不同意") if zh else ("Agree", "Disagree")
    # Ann first says no, then changes her mind: still one answer for household 1.
    await harness.feed(up.callback_on(tg.last(residents[0]), up.user(residents[0]), disagree_word))
    await harness.feed(up.callback_on(tg.sent(residents[0])[0], up.user(residents[0]), agree_word))
    await harness.deliver()
    told = tg.last(mate).plain or ""
    assert (f"1户已答复：{agree_word}" if zh else "Household 1 answered: Agree") in told
    assert ("（Ann）" if zh else "(by Ann)") in told  # the household sees who answered
    for tid in residents[1:15]:
        await harness.feed(up.callback_on(tg.last(tid), up.user(tid), agree_word))
    # A forged choice is refused.
    await harness.feed(up.callback(up.user(residents[1]), f"cv:{cid}:9", chat=residents[1]))
    assert tg.alerts()[-1].params.get("show_alert")

    # Two days before the deadline: only household 16 (Cai) has not answered; a restarted instance
    # catching up runs the tick twice and Cai gets one reminder.
    await at(harness, DEADLINE - timedelta(days=2), twice=True)
    reminders = [t for t in tg.texts(residents[15]) if "⏰" in t]
    assert len(reminders) == 1
    assert not [t for t in tg.texts(residents[1]) if "⏰" in t]
    # Morning of the deadline (08:00 local): the second reminder.
    await at(harness, datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    assert len([t for t in tg.texts(residents[15]) if "⏰" in t]) == 2
    await harness.feed(up.callback_on(tg.last(residents[15]), up.user(residents[15]), agree_word))

    await door_to_door(harness, cid, base, agree - 16, 10)
    await at(harness, DEADLINE, twice=True)
    for chat in (base, RESIDENTS_CHAT, OFFICE):
        result = [t for t in tg.texts(chat, as_plain=True) if ("民意征集结果" if zh else "Consultation result") in t]
        assert len(result) == 1, chat
        text = result[0]
        verdict = ("✅ 通过" if zh else "✅ Passed") if passed else ("❌ 未通过" if zh else "❌ Not passed")
        assert verdict in text
        assert (f"已答复：{agree + 10}/48户" if zh else f"Answered: {agree + 10} of 48 households") in text
        assert f"{agree_word} {agree}" in text and f"{disagree_word} 10" in text
        assert ("超过60%" if zh else "more than 60% of all households") in text
    # Nobody is named in the residents' chat.
    assert not any("Ann" in x for x in tg.texts(RESIDENTS_CHAT))
    rows = sheet(harness)
    assert len(rows) == 1 + 48
    assert sum(1 for r in rows[1:] if r[2] == agree_word) == agree
    in_person = "楼栋长入户登记" if zh else "recorded by the captain, in person"
    assert sum(1 for r in rows[1:] if r[3] == in_person) == agree - 16 + 10
    harness.save_transcript(f"consultation_{'zh' if zh else 'en'}",
                            "Consultation: 48 households, " + ("30 agree — passes" if passed else "28 agree — fails"))
