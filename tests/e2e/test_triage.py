"""Triage end to end through the dispatcher and the Bot API double: the card in the team chat, its
buttons, the private steps, the reporter's confirmation and rating, reminders and escalation by the
tick, /queue, and hostile input (forged callbacks, button mashing, HTML in notes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from bot.services import build_services
from bot.services.reporting import Draft
from models import Building, Community, Issue, IssueEvent, IssueStatus
from tests.conftest import BotHarness, unique_id
from tests.telegram import Call

TEAM_B1 = -1001000000011
AREA_NORTH = -1001000000021
OFFICE = -1001000000001
RS_TEAM_A = -1002000000011
CAPTAIN, CAPTAIN_B2, NORTH_HEAD, STAFF, VOLUNTEER = 3001, 3002, 2001, 2002, 4001


def groups(harness: BotHarness) -> None:
    unthrottle(harness)
    harness.up.group(TEAM_B1, "Building 1 team")
    harness.up.group(AREA_NORTH, "North area")
    harness.up.group(OFFICE, "Nanchi office")
    harness.up.group(RS_TEAM_A, "Block A team")


async def set_locale(harness: BotHarness, locale: str, key: str = "nanchi") -> None:
    async with harness.sessions() as s:
        await s.execute(update(Community).where(Community.key == key).values(locale=locale))
        await s.commit()


async def person(harness: BotHarness, telegram_id: int, name: str, lang: str = "en", *, resident_of: str | None = None,
                 start: bool = True) -> Any:
    """A user who has opened a private chat with the bot (so it may write to them)."""
    from bot.services.members import MembersService, TelegramPerson

    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        member = await members.touch(TelegramPerson(id=telegram_id, first_name=name, language_code=lang))
        member.started = True
        if resident_of:
            b = (await s.execute(select(Building).where(Building.key == resident_of))).scalar_one()
            await members.grant(member, "resident", await members.building_place(b.id), source="invite")
        await s.commit()
    user = harness.up.user(telegram_id, name, lang)
    if start:
        harness.tg.add_chat(telegram_id, type="private")
    return user


async def file_issue(harness: BotHarness, reporter: Any, *, category: str = "fire_lane", photos: int = 3,
                     description: str = "Bikes block the fire lane since Monday", building: str = "b1") -> int:
    """File a report the way the reporting flow does (its service), then deliver the card."""
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        member = await svc.members.by_telegram_id(reporter.id)
        actor = await svc.members.actor(member)
        b = (await s.execute(select(Building).where(Building.key == building))).scalar_one()
        draft = Draft(community_id=b.community_id, photos=[f"in-photo-r{unique_id()}" for _ in range(photos)],
                      photos_done=True, category=category, building_id=b.id, place_done=True,
                      description=description, description_done=True, duplicates_done=True)
        created = await svc.reporting.create(member, actor, draft)
        await s.commit()
        issue_id = created.issue.id
    await harness.deliver()
    return issue_id


async def issue(harness: BotHarness, issue_id: int) -> Issue:
    async with harness.sessions() as s:
        found = await s.get(Issue, issue_id)
        assert found is not None
        return found


def card(harness: BotHarness, chat: int = TEAM_B1) -> Call:
    return next(c for c in harness.tg.sent(chat) if c.method == "sendPhoto")


async def press(harness: BotHarness, message: Call, user: Any, text: str) -> None:
    await harness.feed(harness.up.callback_on(message, user, text))


def unthrottle(harness: BotHarness) -> None:
    """The dispatcher (and its per-user throttle) lives for the whole test session, and the sample
    captains keep their ids across tests: start each burst with a full bucket."""
    from bot.middlewares.throttling import ThrottlingMiddleware

    for mw in harness.dp.update.outer_middleware:
        if isinstance(mw, ThrottlingMiddleware):
            mw.buckets.clear()


async def settle(harness: BotHarness) -> None:
    """Card edits are coalesced for a few seconds (Telegram's edit limits): let them fall due, send."""
    harness.clock.advance(seconds=5)
    await harness.deliver()


def alert(harness: BotHarness) -> str:
    return str(harness.tg.alerts()[-1].params.get("text") or "")


async def press_private(harness: BotHarness, user: Any, text: str) -> None:
    """Press a button on the latest message in the user's private chat that has it."""
    for call in reversed(harness.tg.sent(user.id)):
        current = harness.tg.messages.get((user.id, call.message_id or 0))  # after edits
        if current is not None and any(text in b for row in harness.tg.buttons(current) for b in row):
            await harness.feed(harness.up.callback_on(call, user, text))
            return
    raise AssertionError(f"no button {text!r} in {harness.tg.texts(user.id)}")


# ---------------------------------------------------------------------------- the whole path


async def test_full_path_accept_assign_remind_escalate_resolve_confirm_rate(harness: BotHarness,
                                                                         community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    li = await person(harness, VOLUNTEER, "Li")
    head = await person(harness, NORTH_HEAD, "Wang")
    other = await person(harness, CAPTAIN_B2, "Chen")
    harness.record({ann.id: "Ann (resident)", zhang.id: "Captain Zhang", li.id: "Li (volunteer)",
                    head.id: "Wang (North area head)", other.id: "Chen (captain of Building 2)",
                    TEAM_B1: "Building 1 team chat", AREA_NORTH: "North area chat", OFFICE: "Office chat"})
    harness.note("Ann has reported a blocked fire lane with three photos; the card is in the team chat.")
    issue_id = await file_issue(harness, ann)
    the_card = card(harness)
    assert tg.buttons(the_card)[0][0] == "✅ Accept"

    harness.note("A captain of another building presses Accept: refused, nothing changes.")
    await press(harness, the_card, other, "Accept")
    assert alert(harness) == "Only the captains of Building 1 can do this."
    assert (await issue(harness, issue_id)).status == IssueStatus.NEW

    harness.note("Captain Zhang accepts it.")
    await press(harness, the_card, zhang, "Accept")
    assert "Accepted" in alert(harness)
    assert tg.buttons(tg.current(TEAM_B1, the_card.message_id))[0][0] == "🔧 Resolve"
    await settle(harness)
    assert "handled by Zhang" in tg.current(TEAM_B1, the_card.message_id).caption  # type: ignore[operator]
    assert any("accepted by the Building 1 team" in t for t in tg.texts(ann.id, as_plain=True))
    assert (await issue(harness, issue_id)).accepted_by_id is not None

    harness.note("He assigns it to the volunteer Li and gives it one more day.")
    await press(harness, the_card, zhang, "Assign")
    assert any("Li" in b for row in tg.buttons(tg.current(TEAM_B1, the_card.message_id)) for b in row)
    await press(harness, the_card, zhang, "👤 Li")
    assert alert(harness) == "👤 Assigned."
    await press(harness, the_card, zhang, "Deadline")
    await press(harness, the_card, zhang, "+1 day")
    await harness.deliver()
    assert any("assigned to you" in t for t in tg.texts(li.id, as_plain=True))
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.IN_PROGRESS and found.deadline_at is not None
    ann_texts = tg.texts(ann.id, as_plain=True)
    assert any("assigned" in t for t in ann_texts) and any("new deadline" in t for t in ann_texts)

    harness.note("A day before the deadline the tick reminds Li.")
    harness.clock.set(found.deadline_at - __import__("datetime").timedelta(hours=23))
    await harness.tick()
    await harness.deliver()
    assert any("due in one day" in t for t in tg.texts(li.id, as_plain=True))

    harness.note("Nobody resolves it in time: the tick escalates it to the North area head.")
    missed = found.deadline_at
    harness.clock.set(found.deadline_at)
    await harness.tick()
    await harness.deliver()
    assert any("escalated to the area head" in t for t in tg.texts(head.id, as_plain=True))
    assert any("escalated" in t for t in tg.texts(AREA_NORTH, as_plain=True))
    found = await issue(harness, issue_id)
    assert found.escalation_level == 1 and found.overdue and found.deadline_at > harness.clock()
    await harness.tick()  # a double tick changes nothing
    assert (await issue(harness, issue_id)).escalations == 1

    harness.note("The card and /queue show the new deadline with the first one beside it.")
    await settle(harness)
    caption = tg.current(TEAM_B1, the_card.message_id).caption or ""
    assert "(first deadline " in caption and "overdue" in caption, caption
    assert found.missed_deadline_at == missed and found.first_deadline_at is not None
    await harness.feed(harness.up.text(zhang, "/queue"))
    listing = tg.last(zhang.id).plain or ""
    assert f"#{found.reference}" in listing and "(first deadline " in listing, listing

    harness.note("Zhang resolves it: the step continues in his private chat and needs an after photo.")
    await press(harness, the_card, zhang, "Resolve")
    assert alert(harness) == "I've written to you in our private chat."
    assert "after" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.sticker(zhang))
    assert "Please send a photo" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.photo(zhang, file_id="after-photo-1"))
    assert "Add a note" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.text(zhang, "Moved the bikes to the <shed> & locked them"))
    assert "marked fixed" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.deliver()

    harness.note("Ann gets before and after photos and confirms; then she rates it.")
    album = [c for c in tg.sent(ann.id) if c.method == "sendMediaGroup"][-1]
    media = [m["media"] for m in album.params["media"]]
    assert len(media) == 4 and media[-1] == "after-photo-1"
    assert "<shed> & locked" in (album.plain or "")
    question = tg.last(ann.id)
    assert tg.buttons(question) == [["👍 Fixed, thank you", "👎 Not fixed"]]
    await press(harness, question, ann, "Fixed, thank you")
    assert "How satisfied" in tg.current(ann.id, question.message_id).text  # type: ignore[operator]
    await press(harness, question, ann, "5")
    assert "⭐⭐⭐⭐⭐" in tg.current(ann.id, question.message_id).text  # type: ignore[operator]
    found = await issue(harness, issue_id)
    # Issue 14: an urgent issue escalated to the office waits for its check (验收) once the reporter confirms.
    assert found.status == IssueStatus.VERIFYING and found.satisfaction == 5 and not found.closed_without_confirmation
    await settle(harness)
    assert "awaiting verification" in (tg.current(TEAM_B1, the_card.message_id).caption or "")
    harness.save_transcript("triage_en", "Triage from the card to a confirmed fix (English)")


async def test_zh_accept_resolve_confirm(harness: BotHarness, community: Any) -> None:
    groups(harness)
    tg = harness.tg
    li = await person(harness, unique_id(), "李女士", "zh-hans", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "张楼长", "zh-hans")
    harness.record({li.id: "李女士（居民）", zhang.id: "张楼长", TEAM_B1: "1号楼工作群"})
    harness.note("李女士上报了占用消防通道，卡片已推送到1号楼工作群。")
    issue_id = await file_issue(harness, li, description="周一起电动车堵住消防通道")
    the_card = card(harness)
    await press(harness, the_card, zhang, "受理")
    assert "已受理" in alert(harness)
    await harness.deliver()
    assert any("受理" in t for t in tg.texts(li.id, as_plain=True))
    harness.note("张楼长办结：在私聊中发送整改后照片。")
    await press(harness, the_card, zhang, "办结")
    assert "私聊" in alert(harness)
    await harness.feed(harness.up.photo(zhang, file_id="after-zh"))
    await press_private(harness, zhang, "直接办结")
    assert "已标记办结" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.deliver()
    harness.note("李女士收到整改前后的照片，确认并评价。")
    question = tg.last(li.id)
    assert tg.buttons(question) == [["👍 已解决，谢谢", "👎 没解决"]]
    await press(harness, question, li, "已解决")
    assert "满意" in tg.current(li.id, question.message_id).text  # type: ignore[operator]
    await press(harness, question, li, "4")
    assert (await issue(harness, issue_id)).satisfaction == 4
    harness.save_transcript("triage_zh", "从卡片到确认办结（中文）")


# ---------------------------------------------------------------------------- other paths


async def test_reject_duplicate_and_reopen(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    bob = await person(harness, unique_id(), "Bob", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    first = await file_issue(harness, ann)
    second = await file_issue(harness, bob, description="Fire lane blocked again")
    cards = [c for c in tg.sent(TEAM_B1) if c.method == "sendPhoto"]
    assert len(cards) == 2

    # Duplicate: the reference is asked for in private; a wrong one is explained and asked again.
    await press(harness, cards[1], zhang, "Reject")
    await press(harness, cards[1], zhang, "Duplicate of")
    assert "duplicate of which report" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.text(zhang, "#NC9999"))
    assert "can't find that report" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.text(zhang, "#NC0001"))
    assert "duplicate of #NC0001" in tg.last(zhang.id).plain  # type: ignore[operator]
    await harness.deliver()
    assert any("same problem as #NC0001" in t for t in tg.texts(bob.id, as_plain=True))
    assert (await issue(harness, second)).status == IssueStatus.DUPLICATE

    # Bob now follows the original: resolving it reaches him, with "Not fixed" only.
    await press(harness, cards[0], zhang, "Accept")
    await press(harness, cards[0], zhang, "Resolve")
    await harness.feed(harness.up.photo(zhang, file_id="after-1"))
    await press_private(harness, zhang, "Resolve without a note")
    await harness.deliver()
    assert tg.buttons(tg.last(bob.id)) == [["👎 Not fixed"]]

    # Bob says it is not fixed: a comment is required; the card goes back to the team chat.
    await press(harness, tg.last(bob.id), bob, "Not fixed")
    assert "What is still wrong" in tg.last(bob.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.sticker(bob))
    assert "Please write it as a text message" in tg.last(bob.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.text(bob, "Still blocked by two scooters"))
    assert "reopened" in tg.last(bob.id).plain  # type: ignore[operator]
    await harness.deliver()
    found = await issue(harness, first)
    assert found.status == IssueStatus.REOPENED and found.reopen_count == 1
    back = tg.last(TEAM_B1)
    assert "Still blocked by two scooters" in (back.plain or "") and "Bob" not in (back.plain or "")
    assert back.params["reply_parameters"]["message_id"] == cards[0].message_id
    assert any("Resolve" in b for row in tg.buttons(back) for b in row)
    assert any("reopened" in t for t in tg.texts(ann.id, as_plain=True))
    # Ann's old "Fixed" button now does nothing.
    old_question = [c for c in tg.sent(ann.id) if tg.buttons(c) == [["👍 Fixed, thank you", "👎 Not fixed"]]][-1]
    await press(harness, old_question, ann, "Fixed, thank you")
    assert "reopened" in alert(harness)
    assert (await issue(harness, first)).status == IssueStatus.REOPENED

    # Reject with a reason.
    third = await file_issue(harness, ann, category="litter", description="Paper on the lawn")
    third_card = [c for c in tg.sent(TEAM_B1) if c.method == "sendPhoto"][-1]
    await press(harness, third_card, zhang, "Reject")
    await press(harness, third_card, zhang, "Not our responsibility")
    assert "Rejected" in alert(harness)
    await harness.deliver()
    assert any("not our responsibility" in t for t in tg.texts(ann.id, as_plain=True))
    assert (await issue(harness, third)).status == IssueStatus.REJECTED


async def test_forged_callbacks_and_ten_presses(harness: BotHarness, community: Any, riverside: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    rs_member = await person(harness, unique_id(), "Rose")
    from bot.services.members import MembersService

    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        m = await members.by_telegram_id(rs_member.id)
        b = (await s.execute(select(Building).where(Building.key == "a"))).scalar_one()
        await members.grant(m, "resident", await members.building_place(b.id), source="invite")  # type: ignore[arg-type]
        await s.commit()
    rs_issue = await file_issue(harness, rs_member, building="a", category="litter")
    nc_issue = await file_issue(harness, ann)

    # A Nanchi captain forges presses for a Riverside issue, in his own chat and in the team chat.
    for data in (f"is:accept:{rs_issue}:", f"is:asg:{rs_issue}:office", f"is:rej:{rs_issue}:not_ours",
                 f"is:tri:{rs_issue}:office", f"is:dl:{rs_issue}:1"):
        await harness.feed(harness.up.callback(zhang, data, chat=TEAM_B1))
        assert alert(harness) in {"Only the captains of Block A can do this.", "Only office staff can do this."}
    await harness.feed(harness.up.callback(zhang, "is:accept:999999:", chat=zhang.id))
    assert "can't find" in alert(harness)
    await harness.feed(harness.up.callback(zhang, f"is:asg:{nc_issue}:{rs_member.id}", chat=zhang.id))
    assert "can't find" in alert(harness)  # not one of the building's people
    found = await issue(harness, rs_issue)
    assert found.status == IssueStatus.NEW and found.triage is None and found.assignee_id is None

    # Ten presses on Accept within a second: one change, the others say who handles it.
    the_card = card(harness)
    unthrottle(harness)
    for _ in range(10):
        await harness.feed(harness.up.callback(zhang, f"is:accept:{nc_issue}:",
                                               message=tg.messages[(TEAM_B1, the_card.message_id)]))
    texts = [str(a.params.get("text")) for a in tg.alerts()[-10:]]
    assert texts[0].startswith("✅ Accepted") and all(t == "Already handled by Zhang." for t in texts[1:])
    async with harness.sessions() as s:
        accepted = (await s.execute(select(func.count(IssueEvent.id)).where(
            IssueEvent.issue_id == nc_issue, IssueEvent.to_status == IssueStatus.ACCEPTED))).scalar_one()
    assert accepted == 1
    await harness.deliver()
    assert sum("accepted" in t for t in tg.texts(ann.id, as_plain=True)) == 1


async def test_hostile_html_in_notes_questions_and_answers(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    ann = await person(harness, unique_id(), "<b>Ann</b>", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang <i>")
    issue_id = await file_issue(harness, ann, description="<script>alert(1)</script> & <a href='x'>")
    the_card = card(harness)
    hostile = "</b><i>unclosed & <a href=\"javascript:x\">link</a> <tg-spoiler>"
    await press(harness, the_card, zhang, "More")
    await press(harness, the_card, zhang, "Note")
    await press(harness, the_card, zhang, "Public note")
    await harness.feed(harness.up.text(zhang, hostile))
    assert "Note added" in tg.last(zhang.id).plain  # type: ignore[operator]
    await press(harness, the_card, zhang, "More")
    await press(harness, the_card, zhang, "Ask the reporter")
    await harness.feed(harness.up.text(zhang, "Which <door>?"))
    await harness.deliver()
    assert not tg.errors()
    ann_plain = tg.texts(ann.id, as_plain=True)
    assert any(hostile in t for t in ann_plain), ann_plain
    assert any("Which <door>?" in t for t in ann_plain), ann_plain
    await press_private(harness, ann, "Answer")
    await harness.feed(harness.up.text(ann, "The <b>north</b> door & the gate"))
    assert "passed your answer" in tg.last(ann.id).plain  # type: ignore[operator]
    await harness.deliver()
    answer = tg.last(TEAM_B1)
    assert "The <b>north</b> door & the gate" in (answer.plain or "")
    assert "Ann" not in (answer.plain or "")
    assert answer.params["reply_parameters"]["message_id"] == the_card.message_id
    assert not tg.errors()
    async with harness.sessions() as s:
        kinds = [e.kind for e in (await s.execute(select(IssueEvent).where(IssueEvent.issue_id == issue_id)))
                 .scalars()]
    assert {"note", "asked", "answered"} <= set(kinds)


async def test_queue_lists_filters_and_acts(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    resident = await person(harness, unique_id(), "Res", resident_of="b1")
    for i in range(6):
        await file_issue(harness, ann, category="litter" if i % 2 else "lighting", photos=1,
                         description=f"Problem {i}")
    await harness.feed(harness.up.text(resident, "/queue"))
    assert "captains, area heads and office staff" in tg.last(resident.id).plain  # type: ignore[operator]
    await harness.feed(harness.up.text(zhang, "/queue"))
    listing = tg.last(zhang.id)
    assert "6 in all" in (listing.plain or "") and "#NC0006" in (listing.plain or "")
    assert any("1/2" in b for row in tg.buttons(listing) for b in row)
    await press(harness, listing, zhang, "▶️")
    assert "#NC0001" in (tg.current(zhang.id, listing.message_id).text or "")
    await press(harness, listing, zhang, "💡 Broken lamp")
    assert "3 in all" in (tg.current(zhang.id, listing.message_id).text or "")
    await press(harness, listing, zhang, "#NC0005")
    view = tg.current(zhang.id, listing.message_id)
    assert "#NC0005" in (view.text or "") and "Ann" in (view.text or "")  # captains see the reporter in private
    await press(harness, listing, zhang, "Accept")
    assert (await issue(harness, 5)).status == IssueStatus.ACCEPTED
    assert any("Resolve" in b for row in tg.buttons(tg.current(zhang.id, listing.message_id)) for b in row)
    await press(harness, listing, zhang, "Queue")
    await press(harness, tg.current(zhang.id, listing.message_id), zhang, "New")  # type: ignore[arg-type]
    assert "5 in all" in (tg.current(zhang.id, listing.message_id).text or "")


# ---------------------------------------------------------------------------- answers to the team's questions

ANSWER_WORDS = {
    "en": {"thanks": "passed your answer", "again": "already answered this question",
           "closed": "no longer open", "cap": "answered 2 times about this report today",
           "resets": "tomorrow 00:00", "relay": "The reporter answers"},
    "zh": {"thanks": "已把您的回答转给", "again": "您已经回答过这个问题了",
           "closed": "该提问已失效", "cap": "回答了2次", "resets": "明天00:00", "relay": "上报人关于"},
}


async def _ask(harness: BotHarness, issue_id: int, question: str) -> None:
    """A captain asks the reporter (the card's ❓ button path is tested above): the service call."""
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        captain = await svc.members.by_telegram_id(CAPTAIN)
        await svc.triage.ask(await svc.members.actor(captain), issue_id, question)
        await s.commit()
    await harness.deliver()


async def test_answer_only_an_open_question_once_and_capped(harness: BotHarness, community: Any) -> None:
    for lang in ("en", "zh"):
        await _answers(harness, lang)


async def _answers(harness: BotHarness, lang: str) -> None:
    """A reporter answers each question of the team once; a second answer, a forged ✍️ Answer
    without a question and answers past the day's cap are refused with a friendly line."""
    from bot.keyboards.issues import IssueCb

    zh = lang == "zh"
    words = ANSWER_WORDS[lang]
    await set_locale(harness, "zh_Hans" if zh else "en")
    groups(harness)
    tg = harness.tg
    ann = await person(harness, unique_id(), "李女士" if zh else "Ann", "zh-hans" if zh else "en", resident_of="b1")
    await person(harness, CAPTAIN, "张楼长" if zh else "Zhang", "zh-hans" if zh else "en")
    issue_id = await file_issue(harness, ann)
    async with harness.sessions() as s:
        nanchi = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        nanchi.settings = {**(nanchi.settings or {}), "limits": {"answers_per_issue_per_day": 2}}
        await s.commit()
    relays_before = sum(words["relay"] in (t or "") for t in tg.texts(TEAM_B1, as_plain=True))
    harness.record({ann.id: "李女士（居民）" if zh else "Ann (resident)", TEAM_B1: "Building 1 team chat"})
    harness.note("The team asks Ann which entrance; she answers.")
    await _ask(harness, issue_id, "哪个单元门口？" if zh else "Which entrance?")
    await press_private(harness, ann, "✍️")
    await harness.feed(harness.up.text(ann, "2单元" if zh else "Entrance 2"))
    assert words["thanks"] in tg.last(ann.id).plain  # type: ignore[operator]
    harness.note("She presses ✍️ Answer under the same question again.")
    await press_private(harness, ann, "✍️")
    assert words["again"] in tg.alerts()[-1].params["text"]
    harness.note("A forged ✍️ Answer that names no question of the team.")
    await harness.feed(harness.up.callback(ann, IssueCb(action="answer", id=issue_id).pack()))
    assert words["closed"] in tg.alerts()[-1].params["text"]
    harness.note("The community allows 2 answers per report and day: the second question is answered, the "
                 "third waits for tomorrow.")
    await _ask(harness, issue_id, "什么时候开始的？" if zh else "Since when?")
    await press_private(harness, ann, "✍️")
    await harness.feed(harness.up.text(ann, "周一" if zh else "Since Monday"))
    await _ask(harness, issue_id, "现在还堵着吗？" if zh else "Still blocked?")
    await press_private(harness, ann, "✍️")
    refusal = tg.alerts()[-1].params["text"]
    assert words["cap"] in refusal and words["resets"] in refusal, refusal
    await harness.deliver()
    relays = sum(words["relay"] in (t or "") for t in tg.texts(TEAM_B1, as_plain=True)) - relays_before
    assert relays == 2
    # Tomorrow the third question may be answered.
    harness.clock.advance(days=1)
    await press_private(harness, ann, "✍️")
    await harness.feed(harness.up.text(ann, "是的" if zh else "Yes"))
    assert words["thanks"] in tg.last(ann.id).plain  # type: ignore[operator]
    harness.save_transcript(f"answers_{lang}", "问题只回答一次，每天有上限（中文）" if zh
                            else "Answers to the team's questions: once each, capped per day (English)")
    async with harness.sessions() as s:
        nanchi = (await s.execute(select(Community).where(Community.key == "nanchi"))).scalar_one()
        nanchi.settings = {k: v for k, v in (nanchi.settings or {}).items() if k != "limits"}
        await s.commit()
