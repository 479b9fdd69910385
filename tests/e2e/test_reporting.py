"""The report flow end to end: what residents, captains and the office see."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from handlers.reporting import settle_albums
from models import Issue, IssueFollower
from tests.conftest import BotHarness, unique_id

TEAM_B1 = -1001000000011
RESIDENTS_B1 = -1001000000031
OFFICE = -1001000000001


@pytest.fixture(autouse=True)
def no_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests type faster than any person: the per-user throttle would drop their updates."""
    from bot.middlewares.throttling import ThrottlingMiddleware

    monkeypatch.setattr(ThrottlingMiddleware, "allow", lambda self, user_id, now=None: (True, False))


def groups(harness: BotHarness) -> None:
    harness.up.group(TEAM_B1, "Building 1 team")
    harness.up.group(RESIDENTS_B1, "Building 1 residents")
    harness.up.group(OFFICE, "Nanchi office")


async def join_building(harness: BotHarness, user_id: int, building: str = "b1", name: str = "Ann",
                        lang: str = "en") -> Any:
    """Make `user_id` a resident of a building (directly in the database) and return the user."""
    from bot.services.members import MembersService, TelegramPerson
    from models import Building

    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        member = await members.touch(TelegramPerson(id=user_id, first_name=name, language_code=lang))
        b = (await s.execute(select(Building).where(Building.key == building))).scalar_one()
        await members.grant(member, "resident", await members.building_place(b.id), source="invite")
        await s.commit()
    return harness.up.user(user_id, name, lang)


async def press(harness: BotHarness, user: Any, text: str, chat: int | None = None) -> None:
    call = harness.tg.last(chat if chat is not None else user.id)
    await harness.feed(harness.up.callback_on(call, user, text))


async def press_on(harness: BotHarness, user: Any, text: str) -> None:
    """Press a button on the latest bot message (in the user's chat) that carries it."""
    for call in reversed(harness.tg.sent(user.id)):
        if any(text in b for row in harness.tg.buttons(call) for b in row):
            await harness.feed(harness.up.callback_on(call, user, text))
            return
    raise AssertionError(f"no button {text!r} in {harness.tg.texts(user.id)}")


async def issues(harness: BotHarness) -> list[Issue]:
    async with harness.sessions() as s:
        return list((await s.execute(select(Issue).order_by(Issue.id))).scalars())


async def test_fire_lane_album_to_card(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    await harness.feed(harness.up.text(ann, "/report"))
    assert "Send one or more photos" in harness.tg.last(ann.id).text
    n_before = len(harness.tg.sent(ann.id))
    await harness.feed(*harness.up.album(ann, 3))
    assert len(harness.tg.sent(ann.id)) == n_before  # nothing yet: the album is still arriving
    await settle_albums()
    assert len(harness.tg.sent(ann.id)) == n_before + 1  # ONE answer for the album
    last = harness.tg.last(ann.id)
    assert "Got 3 photos" in last.text and "What kind of problem" in last.text
    await press(harness, ann, "Blocked fire lane")
    assert "Where is it?" in harness.tg.sent(ann.id)[-2].text
    await press_on(harness, ann, "Building 1 (my building)")
    assert "Anything to add" in harness.tg.last(ann.id).text
    await harness.feed(harness.up.text(ann, "Bikes block the fire lane <b>since</b> Monday"))
    preview = harness.tg.last(ann.id)
    assert "Please check" in preview.plain and "urgent" in preview.plain and "3 photos" in preview.plain
    assert "<b>since</b>" in preview.plain  # escaped, shown as typed
    await press(harness, ann, "✅ Send")
    confirm = harness.tg.last(ann.id).plain
    assert "#NC0001" in confirm and "captains of Building 1" in confirm and "119" in confirm
    await harness.deliver()
    card = harness.tg.sent(TEAM_B1)[0]
    assert card.method == "sendPhoto"
    assert "#NC0001" in card.plain and "Ann" not in card.plain
    assert harness.tg.buttons(card)
    album = harness.tg.sent(TEAM_B1)[1]
    assert album.method == "sendMediaGroup" and len(album.params["media"]) == 2
    assert album.params["reply_parameters"]["message_id"] == card.message_id
    assert any("#NC0001" in (c.plain or "") for c in harness.tg.sent(OFFICE))
    assert not harness.tg.sent(RESIDENTS_B1)
    [issue] = await issues(harness)
    assert issue.urgent and issue.card_chat_id == TEAM_B1 and issue.card_message_id == card.message_id



async def walk_to_preview(harness: BotHarness, user: Any, category: str = "Broken lamp",
                          description: str | None = "Lamp on floor 3 is out") -> None:
    await harness.feed(harness.up.text(user, "/report"))
    await harness.feed(harness.up.photo(user))
    await press(harness, user, category)
    await press_on(harness, user, "(my building)")
    if description is None:
        await press(harness, user, "Skip")
    else:
        await harness.feed(harness.up.text(user, description))


async def test_wrong_input_at_every_step_repeats_the_question(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    up, tg = harness.up, harness.tg
    await harness.feed(up.text(ann, "/report"))
    for bad, expected in ((up.sticker(ann), "Please send a photo"), (up.voice(ann), "Please send a photo"),
                          (up.text(ann, "hello"), "Please send a photo"),
                          (up.document(ann, "big.jpg", "image/jpeg", 40 * 1024 * 1024), "too big"),
                          (up.document(ann, "plan.pdf"), "I need a photo"),
                          (up.document(ann, "pic.png", "image/png"), "as a photo")):
        await harness.feed(bad)
        last = tg.last(ann.id)
        assert expected in last.text and "Send one or more photos" in last.text, last.text
        assert tg.buttons(last)[0] == ["No photo"]
    await harness.feed(up.photo(ann))
    await harness.feed(up.text(ann, "it is a lamp"))
    assert "Please choose the kind of problem" in tg.last(ann.id).text
    assert "More…" in tg.buttons(tg.last(ann.id))[-2]
    await harness.feed(up.sticker(ann))
    assert "What kind of problem" in tg.last(ann.id).text
    await press(harness, ann, "More…")
    assert any("Other" in b for row in tg.buttons(tg.current(ann.id, tg.last(ann.id).message_id)) for b in row)
    await press(harness, ann, "◀️ Back")
    await press(harness, ann, "Broken lamp")
    await harness.feed(up.text(ann, "next to the door"))
    assert "Please send a location pin or choose" in tg.sent(ann.id)[-2].text
    await harness.feed(up.location(ann, 51.5072, -0.1276))  # London: another continent
    assert "km from Nanchi Community" in tg.sent(ann.id)[-2].text
    assert tg.buttons(tg.sent(ann.id)[-2]) == [["📍 Send my location"], ["✖️ Cancel"]]
    await harness.feed(up.location(ann, 31.2305, 121.4738))
    assert "near Building 1" in tg.sent(ann.id)[-2].text
    assert "Anything to add" in tg.last(ann.id).text
    await harness.feed(up.text(ann, "x" * 1001))
    assert "1001 characters" in tg.last(ann.id).text and "Anything to add" in tg.last(ann.id).text
    await harness.feed(up.sticker(ann))
    assert "Please type the description" in tg.last(ann.id).text
    await harness.feed(up.text(ann, "Floor 3 lamp"))
    await harness.feed(up.text(ann, "send it"))
    last = tg.last(ann.id)
    assert "Please tap ✅ Send" in last.text and "Please check" in last.text
    assert tg.buttons(last) == [["✅ Send", "✏️ Edit", "✖️ Cancel"]]
    assert not tg.errors()


async def test_double_send_files_once_and_cancel_leaves_nothing(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    await walk_to_preview(harness, ann)
    preview = harness.tg.last(ann.id)
    await harness.feed(harness.up.callback_on(preview, ann, "✅ Send"))
    # The same (stale) Send button pressed again, as an impatient thumb does.
    data = harness.tg.callback_data(preview, "✅ Send")
    await harness.feed(harness.up.callback(ann, data, message=preview.message))
    assert len(await issues(harness)) == 1
    assert "Already sent as #NC0001" in harness.tg.alerts()[-1].params["text"]
    await walk_to_preview(harness, ann, "Litter")
    await press(harness, ann, "✖️ Cancel")
    assert "Cancelled" in harness.tg.last(ann.id).text
    assert len(await issues(harness)) == 1


async def test_edit_from_preview(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    await walk_to_preview(harness, ann)
    await press(harness, ann, "✏️ Edit")
    await press(harness, ann, "🏷 Category")
    await press(harness, ann, "Litter")
    last = harness.tg.last(ann.id)
    assert "Please check" in last.plain and "Litter" in last.plain and "Lamp on floor 3" in last.plain


async def test_quick_report_asks_only_what_is_missing(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    await harness.feed(*harness.up.album(ann, 2, caption="Rubbish bags by the gate"))
    await settle_albums()
    last = harness.tg.last(ann.id)
    assert "Got 2 photos" in last.text and "What kind of problem" in last.text
    await press(harness, ann, "Litter")
    await press_on(harness, ann, "Building 1 (my building)")
    preview = harness.tg.last(ann.id)  # no description question: the caption is the description
    assert "Please check" in preview.plain and "Rubbish bags by the gate" in preview.plain
    await press(harness, ann, "✅ Send")
    [issue] = await issues(harness)
    assert issue.description == "Rubbish bags by the gate" and not issue.urgent
    assert "119" not in harness.tg.last(ann.id).plain


async def test_duplicate_follow_and_rebound(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    bob = await join_building(harness, unique_id(), name="Bob")
    await walk_to_preview(harness, ann)
    await press(harness, ann, "✅ Send")
    await walk_to_preview(harness, bob, description="lamp again")
    question = harness.tg.last(bob.id).plain
    assert "Someone reported something similar today: #NC0001" in question and "Is it the same?" in question
    await press(harness, bob, "Same — follow it")
    assert "You now follow #NC0001" in harness.tg.last(bob.id).plain
    async with harness.sessions() as s:
        followers = (await s.execute(select(IssueFollower.member_id))).scalars().all()
    assert len(followers) == 2 and len(await issues(harness)) == 1
    # It gets fixed and closed; ten days later it is back.
    async with harness.sessions() as s:
        issue = (await s.execute(select(Issue))).scalar_one()
        issue.status, issue.closed_at = "closed", harness.clock()
        await s.commit()
    harness.clock.advance(days=10)
    await harness.deliver()
    await walk_to_preview(harness, bob, description="dark again")
    assert "was fixed 10 days ago" in harness.tg.last(bob.id).plain
    await press(harness, bob, "It came back — reopen it")
    assert "#NC0001 is reopened" in harness.tg.last(bob.id).plain
    [issue] = await issues(harness)
    assert issue.status == "reopened" and issue.reopen_count == 1
    await harness.deliver()
    assert "#NC0001" in harness.tg.last(TEAM_B1).plain  # the team hears it came back, replying to the card
    # "No, mine is new" files a new one.
    await walk_to_preview(harness, bob, description="another lamp")
    await press(harness, bob, "No, mine is new")
    await press(harness, bob, "✅ Send")
    assert "#NC0002" in harness.tg.last(bob.id).plain


async def test_restart_mid_flow(harness: BotHarness, community: Any) -> None:
    from bot.fsm_storage import SqlStorage
    from models import FsmRecord

    groups(harness)
    ann = await join_building(harness, unique_id())
    await harness.feed(harness.up.text(ann, "/report"))
    await harness.feed(harness.up.photo(ann))
    await press(harness, ann, "Dangerous e-bike charging")
    # The process restarts: nothing in memory survives, the storage reads the database afresh.
    harness.dp.fsm.storage = SqlStorage(harness.sessions)
    async with harness.sessions() as s:
        record = (await s.execute(select(FsmRecord).where(FsmRecord.key.contains(str(ann.id))))).scalar_one()
        assert record.state == "Report:place"
    await press_on(harness, ann, "Building 1 (my building)")
    await press(harness, ann, "Skip")
    await press(harness, ann, "✅ Send")
    [issue] = await issues(harness)
    assert issue.category == "ebike_charging" and issue.urgent


async def test_my_pagination_and_tap(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    for i in range(7):
        harness.clock.advance(minutes=5)
        await walk_to_preview(harness, ann, "Litter", description=f"thing {i}")
        if "similar" in (harness.tg.last(ann.id).text or ""):
            await press(harness, ann, "No, mine is new")
        await press(harness, ann, "✅ Send")
    await harness.feed(harness.up.text(ann, "/my"))
    page1 = harness.tg.last(ann.id)
    assert "page 1 of 2" in page1.plain and "#NC0007" in page1.plain and "#NC0002" not in page1.plain
    await press(harness, ann, "▶️")
    page2 = harness.tg.current(ann.id, page1.message_id)
    assert "#NC0001" in (page2.text or "") and "page 2 of 2" in (page2.text or "")
    await harness.feed(harness.up.callback_on(page1, ann, "#NC0001"))
    detail = harness.tg.last(ann.id)
    assert "Timeline" in detail.plain and "thing 0" in detail.plain
    assert harness.tg.buttons(detail)[0] == ["✏️ Edit description", "↩️ Withdraw"]
    # Withdraw it.
    await press(harness, ann, "↩️ Withdraw")
    ask = harness.tg.last(ann.id)
    await press(harness, ann, "Yes, withdraw it")
    assert "#NC0001 is withdrawn" in (harness.tg.current(ann.id, ask.message_id).text or "")
    async with harness.sessions() as s:
        assert (await s.execute(select(Issue.status).where(Issue.number == 1))).scalar_one() == "withdrawn"


async def test_issue_visibility(harness: BotHarness, community: Any, riverside: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    await walk_to_preview(harness, ann)
    await press(harness, ann, "✅ Send")
    await harness.deliver()
    assert "Ann" not in harness.tg.sent(TEAM_B1)[0].plain
    # The captain of Building 1, in private, sees who reported it.
    captain = harness.up.user(3001, "Zhang", "en")
    await harness.feed(harness.up.text(captain, "/issue nc0001"))
    assert "Reported by Ann" in harness.tg.last(3001).plain
    # Another community's staff cannot see it, and the answer gives nothing away.
    rs_staff = harness.up.user(2102, "Rita", "en")
    await harness.feed(harness.up.text(rs_staff, "/issue #NC0001"))
    assert "can't find an issue" in harness.tg.last(2102).plain
    # A resident of Building 2 who follows nothing: no view right at Building 1.
    carl = await join_building(harness, unique_id(), "b2", name="Carl")
    await harness.feed(harness.up.text(carl, "NC0001"))
    assert "can't find an issue" in harness.tg.last(carl.id).plain
    # A neighbour in Building 1 may see it, without the reporter's name.
    dora = await join_building(harness, unique_id(), name="Dora")
    await harness.feed(harness.up.text(dora, "/issue NC0001"))
    text = harness.tg.last(dora.id).plain
    assert "#NC0001" in text and "Ann" not in text and "Reported by" not in text
    await press(harness, dora, "🔔 Follow")
    assert "You now follow #NC0001" in harness.tg.alerts()[-1].params["text"]
    await harness.feed(harness.up.text(dora, "/issue NC9999"))
    assert "can't find an issue" in harness.tg.last(dora.id).plain
    # Details pressed on the group card: sent privately to the presser, never into the group.
    card = harness.tg.sent(TEAM_B1)[0]
    n_group = len(harness.tg.sent(TEAM_B1))
    await harness.feed(harness.up.callback(captain, issue_cb("details", card), message=card.message))
    assert len(harness.tg.sent(TEAM_B1)) == n_group
    assert "Timeline" in harness.tg.last(3001).plain


async def test_forged_follow_and_rebound_are_refused(harness: BotHarness, community: Any) -> None:
    """A resident of Building 2 forges the callback data of 🔔 Follow, "Same — follow it" and "It came
    back" with the id of a Building 1 issue: nothing changes and the issue stays hidden from them."""
    from bot.keyboards.issues import IssueCb
    from bot.keyboards.reporting import ReportCb

    groups(harness)
    ann = await join_building(harness, unique_id())
    await walk_to_preview(harness, ann)
    await press(harness, ann, "✅ Send")
    [b1_issue] = await issues(harness)
    carl = await join_building(harness, unique_id(), "b2", name="Carl")

    await harness.feed(harness.up.callback(carl, IssueCb(action="follow", id=b1_issue.id).pack()))
    assert "You now follow" not in (harness.tg.alerts()[-1].params.get("text") or "")
    await harness.feed(harness.up.text(carl, "/issue NC0001"))
    assert "can't find an issue" in harness.tg.last(carl.id).plain

    # Fixed and closed; Carl reports a lamp of his own building twice, so the second report asks
    # about his first one — and he answers with Building 1's id instead.
    async with harness.sessions() as s:
        await s.execute(update(Issue).where(Issue.id == b1_issue.id).values(status="closed",
                                                                            closed_at=harness.clock()))
        await s.commit()
    await walk_to_preview(harness, carl, description="stairs lamp")
    await press(harness, carl, "✅ Send")
    await walk_to_preview(harness, carl, description="stairs lamp again")
    question = harness.tg.last(carl.id)
    assert "#NC0002" in question.plain and "#NC0001" not in question.plain
    for action in ("rebound", "same"):
        await harness.feed(harness.up.callback(carl, ReportCb(action=action, arg=str(b1_issue.id)).pack(),
                                               message=question.message))
        assert "Sorry, you can't do this here." in harness.tg.alerts()[-1].params["text"]
    async with harness.sessions() as s:
        assert (await s.get(Issue, b1_issue.id)).status == "closed"  # type: ignore[union-attr]
        followers = (await s.execute(select(IssueFollower.member_id).where(
            IssueFollower.issue_id == b1_issue.id))).scalars().all()
    assert len(followers) == 1  # Ann only
    await harness.feed(harness.up.text(carl, "/issue NC0001"))
    assert "can't find an issue" in harness.tg.last(carl.id).plain
    # The question offered is still answered as offered.
    await press_on(harness, carl, "Same — follow it")
    assert "You now follow #NC0002" in harness.tg.last(carl.id).plain


async def test_similar_report_of_another_building_is_not_offered(harness: BotHarness, community: Any) -> None:
    """Reporting at Building 1 (anyone may), a resident of Building 2 is not asked about Building 1's
    issue: following it would show them an issue they have no right to see. A new report is filed."""
    groups(harness)
    ann = await join_building(harness, unique_id())
    await walk_to_preview(harness, ann)
    await press(harness, ann, "✅ Send")
    carl = await join_building(harness, unique_id(), "b2", name="Carl")
    await harness.feed(harness.up.text(carl, "/report"))
    await harness.feed(harness.up.photo(carl))
    await press(harness, carl, "Broken lamp")
    await press_on(harness, carl, "Another building")
    chooser = harness.tg.sent(carl.id)[-1]  # its buttons were replaced by every building
    await harness.feed(harness.up.callback_on(harness.tg.current(carl.id, chooser.message_id), carl, "Building 1"))
    await harness.feed(harness.up.text(carl, "Lamp on floor 3 is out"))
    preview = harness.tg.last(carl.id).plain
    assert "Please check" in preview and "#NC0001" not in preview
    await press(harness, carl, "✅ Send")
    assert "#NC0002" in harness.tg.last(carl.id).plain


def issue_cb(action: str, card: Any) -> str:
    """The callback data of another action on the same card (the card names its issue in every button)."""
    from bot.keyboards.issues import IssueCb

    first = card.markup["inline_keyboard"][0][0]["callback_data"]
    return IssueCb(action=action, id=IssueCb.unpack(first).id).pack()


async def report_fire_lane(harness: BotHarness, user: Any, lang: str) -> None:
    """The 'done when' path, recorded: three photos of a blocked fire lane, the card in the team chat."""
    zh = lang == "zh"
    names = {user.id: ("李女士（居民）" if zh else "Ann (resident)"), TEAM_B1: "Building 1 team chat",
             OFFICE: "office chat", 3001: "Captain Zhang (private)"}
    harness.record(names)
    await harness.feed(harness.up.text(user, "/report"))
    await harness.feed(*harness.up.album(user, 3))
    await settle_albums()
    await press(harness, user, "占用消防通道" if zh else "Blocked fire lane")
    await harness.feed(harness.up.text(user, "你好"if zh else "hello"))
    await press_on(harness, user, "（我的楼栋）" if zh else "(my building)")
    await harness.feed(harness.up.text(user, "2单元门口，周一起电动车堵住消防通道" if zh else
                                       "By entrance 2: bikes block the fire lane since Monday"))
    await press(harness, user, "✅")
    harness.note("the outbox delivers the card")
    await harness.deliver()
    harness.note("the resident opens /my and taps the report")
    await harness.feed(harness.up.text(user, "/my"))
    await press(harness, user, "#NC0001")


async def test_transcript_en(harness: BotHarness, community: Any) -> None:
    groups(harness)
    ann = await join_building(harness, unique_id())
    await report_fire_lane(harness, ann, "en")
    harness.save_transcript("reporting_en", "Reporting a blocked fire lane (English resident)")
    assert "#NC0001" in harness.tg.sent(TEAM_B1)[0].plain


async def test_transcript_zh(harness: BotHarness, community: Any) -> None:
    groups(harness)
    li = await join_building(harness, unique_id(), name="李女士", lang="zh-hans")
    await report_fire_lane(harness, li, "zh")
    harness.save_transcript("reporting_zh", "随手拍：占用消防通道（中文居民）")
    confirm = next(t for t in harness.tg.texts(li.id, as_plain=True) if "#NC0001" in t)
    assert "感谢" in confirm and "119" in confirm
    card = harness.tg.sent(TEAM_B1)[0].plain
    assert "占用消防通道" in card and "紧急" in card and "李女士" not in card


URGENT_WORDS = {
    "en": {"cat": "Blocked fire lane", "mine": "(my building)", "new": "No, mine is new", "send": "✅ Send",
           "cap": "You have sent 2 urgent reports today", "resets": "tomorrow 00:00", "ref": "#NC0003"},
    "zh": {"cat": "占用消防通道", "mine": "（我的楼栋）", "new": "不是，我的是新问题", "send": "✅ 发送",
           "cap": "您今天已提交2条紧急上报", "resets": "明天00:00", "ref": "#NC0003"},
}


async def _urgent_until_preview(harness: BotHarness, user: Any, words: dict[str, str], text: str) -> None:
    await harness.feed(harness.up.text(user, "/report"))
    await harness.feed(harness.up.photo(user))
    await press(harness, user, words["cat"])
    await press_on(harness, user, words["mine"])
    await harness.feed(harness.up.text(user, text))
    if words["new"] in " ".join(b for row in harness.tg.buttons(harness.tg.last(user.id)) for b in row):
        await press(harness, user, words["new"])


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_urgent_reports_are_capped_per_person_and_day(harness: BotHarness, community: Any, lang: str) -> None:
    """Urgent reports wake the captains and the office at any hour: one person may send
    `limits.urgent_reports_per_day` a day (2 here); the next one is refused with the limit and when
    it resets, and can be sent after local midnight."""
    from models import Community

    words = URGENT_WORDS[lang]
    groups(harness)
    async with harness.sessions() as s:
        nanchi = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        nanchi.settings = {**(nanchi.settings or {}), "limits": {"urgent_reports_per_day": 2}}
        await s.commit()
    ann = await join_building(harness, unique_id(), name="李女士" if lang == "zh" else "Ann",
                              lang="zh-hans" if lang == "zh" else "en")
    for n in range(2):
        await _urgent_until_preview(harness, ann, words, f"bikes {n}")
        await press(harness, ann, words["send"])
    assert len(await issues(harness)) == 2
    harness.record({ann.id: "李女士（居民）" if lang == "zh" else "Ann (resident)"})
    harness.note("Ann has sent 2 urgent reports today, the community's daily limit; she sends a third.")
    await _urgent_until_preview(harness, ann, words, "bikes again")
    await press(harness, ann, words["send"])
    refusal = harness.tg.last(ann.id).plain
    assert words["cap"] in refusal and words["resets"] in refusal and "119" in refusal, refusal
    assert len(await issues(harness)) == 2
    harness.note("After midnight the same preview can be sent.")
    harness.clock.advance(days=1)
    await press_on(harness, ann, words["send"])
    assert words["ref"] in harness.tg.last(ann.id).plain
    assert len(await issues(harness)) == 3
    harness.save_transcript(f"urgent_limit_{lang}", "紧急上报每日上限（中文）" if lang == "zh"
                            else "The daily limit of urgent reports (English)")
