"""Privacy of the people behind an issue (issue 10): a group message is never rewritten with the
private issue view, residents who act on an issue are not named to other residents, and a repeated
press edits nothing. The full viewer × surface × touch table is tests/e2e/test_privacy_matrix.py;
these tests pin each path on its own and share their helpers with it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.keyboards.issues import IssueCb, cb
from bot.services import build_services
from bot.services.members import MembersService, TelegramPerson
from models import Building, Issue, IssueStatus
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_triage import (
    AREA_NORTH,
    CAPTAIN,
    NORTH_HEAD,
    OFFICE,
    STAFF,
    TEAM_B1,
    card,
    file_issue,
    groups,
    press,
    press_private,
    set_locale,
    unthrottle,
)
from tests.telegram import FakeTelegram

# What must never reach a group: the reporter's name and username, and an internal note.
REPORTER_NAME, REPORTER_USERNAME = "Ottoline", "otto_reports"
INTERNAL_NOTE = "hush-internal-771"


async def named(harness: BotHarness, telegram_id: int, name: str, username: str | None = None, lang: str = "en",
                *, resident_of: str | None = None) -> Any:
    """A user with a private chat open, a distinctive name and username, optionally a resident."""
    async with harness.sessions() as s:
        members = MembersService(s, harness.clock)
        member = await members.touch(TelegramPerson(id=telegram_id, first_name=name, username=username,
                                                    language_code=lang))
        member.started = True
        if resident_of:
            b = (await s.execute(select(Building).where(Building.key == resident_of))).scalar_one()
            await members.grant(member, "resident", await members.building_place(b.id), source="invite")
        await s.commit()
    harness.tg.add_chat(telegram_id, type="private")
    return harness.up.user(telegram_id, name, lang, username=username)


async def reporter_and_captain(harness: BotHarness, name: str = REPORTER_NAME,
                               username: str | None = REPORTER_USERNAME) -> tuple[Any, Any]:
    """English, the sample groups, a resident of Building 1 (the reporter to be) and Captain Zhang."""
    await set_locale(harness, "en")
    groups(harness)
    reporter = await named(harness, unique_id(), name, username, resident_of="b1")
    return reporter, await named(harness, CAPTAIN, "Zhang")


def group_texts(tg: FakeTelegram) -> list[tuple[int, str]]:
    """Every text and caption the bot sent or edited into a group chat, and each group message as it
    is now (after all edits)."""
    out: list[tuple[int, str]] = []
    for call in tg.calls:
        chat = call.chat_id
        if isinstance(chat, int) and chat < 0 and not call.error:
            for key in ("text", "caption"):
                if call.params.get(key):
                    out.append((chat, str(call.params[key])))
            for media in call.params.get("media") or []:
                if isinstance(media, dict) and media.get("caption"):
                    out.append((chat, str(media["caption"])))
    for (chat, _mid), message in tg.messages.items():
        if isinstance(chat, int) and chat < 0:
            out.append((chat, str(message.get("text") or message.get("caption") or "")))
    return out


def leaks(tg: FakeTelegram, *secrets: str) -> list[tuple[int, str]]:
    found = []
    for chat, text in group_texts(tg):
        for secret in secrets:
            if secret.lower() in text.lower():
                found.append((chat, secret))
    return found


def issue_of(message: dict[str, Any]) -> int:
    for row in FakeTelegram.buttons(message):
        for label in row:
            data = FakeTelegram.callback_data(message, label)
            if data.startswith("is:"):
                return IssueCb.unpack(data).id
    raise AssertionError(f"no issue button on {message}")


async def press_every_button(harness: BotHarness, chat: int, message_id: int, presser: Any, *,
                             reject: bool = False) -> list[str]:
    """Press, on one group message as it is at each moment, every button the bot shows there: the
    card's buttons and those of each sub-menu they open (deadline, assign, reject, more, triage, note),
    ⬅️ Back, Details, and the ones that continue in private. Rejecting closes the issue, so only
    when asked (last). Returns the alerts the presser got."""
    tg = harness.tg
    issue_id = issue_of(tg.messages[(chat, message_id)])
    datas = [cb(a, issue_id) for a in ("accept", "deadline")]
    datas += [cb("dl", issue_id, d) for d in ("1", "3", "7", "pick")]
    datas += [cb(a, issue_id) for a in ("more", "triage")]
    datas += [cb("tri", issue_id, k) for k in ("office", "joint", "residents")]
    datas += [cb(a, issue_id) for a in ("note",)]
    datas += [cb("note", issue_id, k) for k in ("internal", "public")]
    datas += [cb(a, issue_id) for a in ("ask", "details", "back", "resolve", "assign")]
    alerts: list[str] = []

    async def tap(data: str) -> None:
        unthrottle(harness)
        before = len(tg.alerts())
        await harness.feed(harness.up.callback(presser, data, message=tg.messages[(chat, message_id)]))
        alerts.extend(str(a.params.get("text") or "") for a in tg.alerts()[before:])
        await harness.feed(harness.up.text(presser, "/cancel"))  # leave any private step it opened

    for data in datas:
        await tap(data)
    # The assign menu is open now: press each person it offers, then the office.
    offered = [FakeTelegram.callback_data(tg.messages[(chat, message_id)], label)
               for row in tg.buttons(tg.messages[(chat, message_id)]) for label in row]
    for data in [d for d in offered if d.startswith("is:asg:")] or [cb("asg", issue_id, "office")]:
        await tap(data)
    await tap(cb("reject", issue_id))
    await tap(cb("back", issue_id))
    if reject:
        for reason in ("duplicate", "not_ours", "not_a_problem"):
            await tap(cb("rej", issue_id, reason))
    await harness.deliver()
    harness.clock.advance(seconds=5)  # card edits are coalesced: let them go out too
    await harness.deliver()
    return alerts


async def add_internal_note(harness: BotHarness, captain: Any, issue_id: int) -> None:
    unthrottle(harness)
    await harness.feed(harness.up.callback(captain, cb("note", issue_id, "internal"), chat=captain.id))
    await harness.feed(harness.up.text(captain, INTERNAL_NOTE))
    assert "Internal note added" in (harness.tg.last(captain.id).plain or "")


async def resolve(harness: BotHarness, captain: Any, issue_id: int, now: str = "Resolve without a note") -> None:
    unthrottle(harness)
    await harness.feed(harness.up.callback(captain, cb("resolve", issue_id), chat=captain.id))
    await harness.feed(harness.up.photo(captain, file_id=f"after-{unique_id()}"))
    await press_private(harness, captain, now)
    await harness.deliver()


async def not_fixed(harness: BotHarness, who: Any, comment: str, label: str = "Not fixed") -> None:
    await press_private(harness, who, label)
    await harness.feed(harness.up.text(who, comment))
    assert "🔁" in (harness.tg.last(who.id).plain or "")  # "🔁 #NC0001 is reopened and back with the team"
    await harness.deliver()


# ---------------------------------------------------------------------------- a group is never rewritten


async def test_reopened_post_in_team_chat_never_shows_the_private_view(harness: BotHarness, community: Any) -> None:
    reporter, zhang = await reporter_and_captain(harness)
    tg = harness.tg
    issue_id = await file_issue(harness, reporter)
    await press(harness, card(harness), zhang, "Accept")
    await add_internal_note(harness, zhang, issue_id)
    await resolve(harness, zhang, issue_id)
    await not_fixed(harness, reporter, "Still blocked by scooters")
    reopened = tg.last(TEAM_B1)
    assert "not fixed" in (reopened.plain or "") and any("Deadline" in b for r in tg.buttons(reopened) for b in r)

    # The captain presses Deadline → +3 days on the "reopened" post, the path of the report.
    before = tg.current(TEAM_B1, reopened.message_id).text
    await press(harness, reopened, zhang, "Deadline")
    await press(harness, reopened, zhang, "+3 days")
    assert "Deadline" in str(tg.alerts()[-1].params.get("text"))
    assert tg.current(TEAM_B1, reopened.message_id).text == before  # only its buttons changed
    # Then every other button there.
    await press_every_button(harness, TEAM_B1, reopened.message_id, zhang, reject=True)
    assert leaks(tg, REPORTER_NAME, REPORTER_USERNAME, INTERNAL_NOTE, "Timeline") == []
    assert (await issue_row(harness, issue_id)).status == IssueStatus.REJECTED
    # In private the captain still sees the whole view, reporter and internal note included.
    await harness.feed(harness.up.text(zhang, f"/issue NC{issue_id:04d}"))
    private = tg.last(zhang.id).plain or ""
    assert REPORTER_NAME in private and INTERNAL_NOTE in private


async def test_escalation_posts_in_area_and_office_chats_never_show_the_private_view(harness: BotHarness,
                                                                                   community: Any) -> None:
    reporter, zhang = await reporter_and_captain(harness)
    tg = harness.tg
    head = await named(harness, NORTH_HEAD, "Wang")
    staff = await named(harness, STAFF, "Liu")
    issue_id = await file_issue(harness, reporter, category="litter", photos=1)
    await press(harness, card(harness), zhang, "Accept")
    await add_internal_note(harness, zhang, issue_id)
    # The deadline passes: up to the area head; seven days later: up to the office.
    for _ in range(2):
        found = await issue_row(harness, issue_id)
        assert found.deadline_at is not None
        harness.clock.set(found.deadline_at)
        await harness.tick()
        await harness.deliver()
    # The escalation posts, not the digest (which carries buttons of its own).
    area_post = next(c for c in tg.sent(AREA_NORTH) if tg.buttons(c) and "escalated" in (c.plain or ""))
    office_post = next(c for c in tg.sent(OFFICE) if tg.buttons(c) and "escalated" in (c.plain or ""))

    await press(harness, area_post, head, "Deadline")
    await press(harness, area_post, head, "+3 days")
    assert "Timeline" not in (tg.current(AREA_NORTH, area_post.message_id).text or "")
    await press_every_button(harness, AREA_NORTH, area_post.message_id, head)
    await press(harness, office_post, staff, "Deadline")
    await press(harness, office_post, staff, "+7 days")
    assert "Timeline" not in (tg.current(OFFICE, office_post.message_id).text or "")
    await press_every_button(harness, OFFICE, office_post.message_id, staff, reject=True)
    assert leaks(tg, REPORTER_NAME, REPORTER_USERNAME, INTERNAL_NOTE, "Timeline") == []


async def test_urgent_office_copy_without_photo_never_shows_the_private_view(harness: BotHarness,
                                                                           community: Any) -> None:
    reporter, zhang = await reporter_and_captain(harness)
    tg = harness.tg
    staff = await named(harness, STAFF, "Liu")
    issue_id = await file_issue(harness, reporter, category="fire_lane", photos=0)
    copy = next(c for c in tg.sent(OFFICE) if tg.buttons(c))
    assert copy.method == "sendMessage" and "URGENT" in (copy.plain or "")
    await add_internal_note(harness, zhang, issue_id)
    await press(harness, copy, staff, "Accept")
    await press(harness, copy, staff, "Deadline")
    await press(harness, copy, staff, "+1 day")
    assert "Timeline" not in (tg.current(OFFICE, copy.message_id).text or "")
    await press_every_button(harness, OFFICE, copy.message_id, staff, reject=True)
    # The team's own card (a text message too) the same way, by its captain.
    team_card = next(c for c in tg.sent(TEAM_B1) if tg.buttons(c))
    await press_every_button(harness, TEAM_B1, team_card.message_id, zhang)
    assert leaks(tg, REPORTER_NAME, REPORTER_USERNAME, INTERNAL_NOTE, "Timeline") == []


async def test_private_view_refuses_to_render_for_a_group(harness: BotHarness, community: Any) -> None:
    from bot.notices.cards import detail_text, detail_view_text
    from bot.services.cards import PrivateViewInGroup

    groups(harness)
    reporter = await named(harness, unique_id(), REPORTER_NAME, REPORTER_USERNAME, resident_of="b1")
    await named(harness, CAPTAIN, "Zhang")
    issue_id = await file_issue(harness, reporter)
    async with harness.sessions() as s:
        svc = build_services(s, harness.clock, harness.dp["settings"])
        member = await svc.members.by_telegram_id(CAPTAIN)
        actor = await svc.members.actor(member)
        found = await s.get(Issue, issue_id)
        assert found is not None
        for attempt in (lambda: svc.triage.view(actor, issue_id, private=False),
                        lambda: detail_text(svc.cards, found, "en", True, private=False),
                        lambda: detail_text(svc.cards, found, "en", False, internal=True, private=False)):
            try:
                await attempt()
            except PrivateViewInGroup:
                continue
            raise AssertionError("the private view rendered for a group")
        public = await detail_text(svc.cards, found, "en", False, private=False)
        assert REPORTER_NAME not in public and "#NC" in public
        assert REPORTER_NAME in detail_view_text(await svc.triage.view(actor, issue_id, private=True), "en")


async def test_forged_queue_and_issue_in_a_group_show_nothing_there(harness: BotHarness, community: Any) -> None:
    reporter, zhang = await reporter_and_captain(harness)
    tg = harness.tg
    issue_id = await file_issue(harness, reporter)
    await harness.feed(harness.up.callback(zhang, f"q:open::0:{issue_id}", chat=TEAM_B1))
    assert "private chat" in str(tg.alerts()[-1].params.get("text"))
    await harness.feed(harness.up.text(zhang, f"/issue NC{issue_id:04d}", chat=TEAM_B1))
    await harness.feed(harness.up.text(zhang, f"NC{issue_id:04d}", chat=TEAM_B1))
    assert leaks(tg, REPORTER_NAME, REPORTER_USERNAME, "Timeline") == []


# ---------------------------------------------------------------------------- a repeated press


async def test_repeated_accept_answers_and_edits_nothing(harness: BotHarness, community: Any) -> None:
    reporter, zhang = await reporter_and_captain(harness, "Ann", None)
    tg = harness.tg
    await file_issue(harness, reporter)
    the_card = card(harness)
    await press(harness, the_card, zhang, "Accept")
    calls = len(tg.calls)
    unthrottle(harness)
    await harness.feed(harness.up.callback(zhang, FakeTelegram.callback_data(the_card, "✅ Accept"),
                                           message=tg.messages[(TEAM_B1, the_card.message_id)]))
    later = tg.calls[calls:]
    assert [c.method for c in later] == ["answerCallbackQuery"], [(c.method, c.error) for c in later]
    assert later[0].params.get("text") == "Already handled by Zhang."
    assert not tg.errors()


async def issue_row(harness: BotHarness, issue_id: int) -> Issue:
    async with harness.sessions() as s:
        found = await s.get(Issue, issue_id)
        assert found is not None
        return found


# ---------------------------------------------------------------------------- transcripts

TRANSCRIPT = {
    "en": dict(lang="en", reporter="Ann", follower="Bob", neighbour="Dora", captain="Zhang",
               names=("Ann (resident, reporter)", "Bob (resident, follows)", "Dora (resident)", "Captain Zhang",
                      "Building 1 team chat", "office chat"),
               accept="Accept", follow="Follow", not_fixed="Not fixed", comment="Still blocked at night",
               deadline="Deadline", days="+3 days", resolve_now="Resolve without a note",
               someone="a resident", title="Privacy: who is named where (English)",
               notes=("A neighbour follows the report from its view.",
                     "The captain accepts, and presses Accept once more: only an answer, no edit.",
                     "It is marked fixed; the neighbour says it is not fixed.",
                     "In the team chat the captain sets a new deadline on the \"reopened\" post: only its "
                     "buttons change; the private view never goes into the group.",
                     "A forged queue button in the group shows nothing there.",
                     "Another neighbour opens the report: whoever reopened it is not named.",
                     "The captain, in private, sees who reported and who reopened it.")),
    "zh": dict(lang="zh-hans", reporter="李女士", follower="王先生", neighbour="赵女士", captain="张楼长",
               names=("李女士（居民，上报人）", "王先生（居民，关注者）", "赵女士（居民）", "张楼长", "1号楼工作群",
                      "社区办公室群"),
               accept="受理", follow="关注", not_fixed="没解决", comment="晚上还是堵着",
               deadline="时限", days="+3天", resolve_now="直接办结", someone="居民",
               title="隐私：谁的名字出现在哪里（中文）",
               notes=("邻居在上报详情里点了关注。",
                     "楼栋长受理，又点了一次受理：只回一句提示，不再编辑卡片。",
                     "问题标记办结后，关注的邻居说没解决。",
                     "楼栋长在工作群里“已重新打开”的消息上设新时限：只换按钮，私聊详情绝不会出现在群里。",
                     "在群里伪造的待办按钮不会在群里显示任何内容。",
                     "另一位邻居查看上报：不显示是谁重新打开的。",
                     "楼栋长在私聊中能看到上报人和重新打开的人。")),
}


async def walk_privacy_transcript(harness: BotHarness, lang: str) -> None:
    t = TRANSCRIPT[lang]
    if lang == "en":
        await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    ann = await named(harness, unique_id(), t["reporter"], lang=t["lang"], resident_of="b1")
    bob = await named(harness, unique_id(), t["follower"], lang=t["lang"], resident_of="b1")
    dora = await named(harness, unique_id(), t["neighbour"], lang=t["lang"], resident_of="b1")
    zhang = await named(harness, CAPTAIN, t["captain"], lang=t["lang"])
    issue_id = await file_issue(harness, ann, photos=1)
    ref = f"NC{issue_id:04d}"
    harness.record(dict(zip((ann.id, bob.id, dora.id, zhang.id, TEAM_B1, OFFICE), t["names"], strict=True)))
    harness.note(t["notes"][0])
    await harness.feed(harness.up.text(bob, f"/issue {ref}"))
    await press_private(harness, bob, t["follow"])
    harness.note(t["notes"][1])
    the_card = card(harness)
    await press(harness, the_card, zhang, t["accept"])
    calls = len(tg.calls)
    unthrottle(harness)
    await harness.feed(harness.up.callback(zhang, cb("accept", issue_id),
                                           message=tg.messages[(TEAM_B1, the_card.message_id)]))
    assert [c.method for c in tg.calls[calls:]] == ["answerCallbackQuery"]
    harness.note(t["notes"][2])
    await resolve(harness, zhang, issue_id, t["resolve_now"])
    await not_fixed(harness, bob, t["comment"], t["not_fixed"])
    reopened = tg.last(TEAM_B1)
    harness.note(t["notes"][3])
    before = tg.current(TEAM_B1, reopened.message_id).text
    await press(harness, reopened, zhang, t["deadline"])
    await press(harness, reopened, zhang, t["days"])
    assert tg.current(TEAM_B1, reopened.message_id).text == before
    harness.note(t["notes"][4])
    await harness.feed(harness.up.callback(zhang, f"q:open::0:{issue_id}", message=tg.messages[
        (TEAM_B1, reopened.message_id)]))
    harness.note(t["notes"][5])
    await harness.feed(harness.up.text(dora, f"/issue {ref}"))
    view = tg.last(dora.id).plain or ""
    assert t["someone"] in view and t["follower"] not in view and t["reporter"] not in view
    harness.note(t["notes"][6])
    await harness.feed(harness.up.text(zhang, f"/issue {ref}"))
    view = tg.last(zhang.id).plain or ""
    assert t["follower"] in view and t["reporter"] in view
    assert leaks(tg, t["reporter"], t["follower"]) == []
    harness.save_transcript(f"privacy_{lang}", t["title"])


async def test_transcript_en(harness: BotHarness, community: Any) -> None:
    await walk_privacy_transcript(harness, "en")


async def test_transcript_zh(harness: BotHarness, community: Any) -> None:
    await walk_privacy_transcript(harness, "zh")
