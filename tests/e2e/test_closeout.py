"""Close-out (验收销号) end to end: a fix the reporter confirmed waits for the office's check; the
office does not accept it, the captain fixes it again, the area head verifies it on site with a photo,
and the ledger row tells every step. Also /queue's "to verify" filter and the daily digest's list."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from models import CloseHow, IssueStatus
from tests.conftest import BotHarness, unique_id
from tests.e2e.stories import ann_and_zhang, english_with_ann
from tests.e2e.test_triage import (
    AREA_NORTH,
    CAPTAIN,
    NORTH_HEAD,
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
)


def latest_with(harness: BotHarness, chat: int, words: str) -> Any:
    return next(c for c in reversed(harness.tg.sent(chat)) if words in (c.plain or ""))


async def resolve(harness: BotHarness, the_card: Any, captain: Any, photo: str, button: str, note_button: str) -> None:
    await press(harness, the_card, captain, button)
    await harness.feed(harness.up.photo(captain, file_id=photo))
    await press_private(harness, captain, note_button)
    await harness.deliver()


async def test_construction_fix_rejected_at_the_check_then_verified_with_a_photo(harness: BotHarness,
                                                                                community: Any) -> None:
    ann, zhang = await ann_and_zhang(harness)
    tg = harness.tg
    wu = await person(harness, STAFF, "Office Wu")
    wang = await person(harness, NORTH_HEAD, "Wang")
    harness.record({ann.id: "Ann (resident)", zhang.id: "Captain Zhang", wu.id: "Office Wu", wang.id: "Area head Wang",
                    TEAM_B1: "Building 1 team chat", AREA_NORTH: "North area chat"})
    harness.note("Ann reports an illegal shed on the lawn of Building 1: construction needs the office's check.")
    issue_id = await file_issue(harness, ann, category="construction", photos=1,
                                description="A shed is being built on the lawn")
    the_card = card(harness)
    await press(harness, the_card, zhang, "Accept")
    await harness.deliver()
    harness.note("Captain Zhang marks it fixed with an after photo; Ann confirms.")
    await resolve(harness, the_card, zhang, "after-1", "Resolve", "Resolve without a note")
    question = tg.last(ann.id)
    await press(harness, question, ann, "Fixed, thank you")
    assert "will check" in (tg.current(ann.id, question.message_id).text or "")
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.VERIFYING and found.closed_at is None
    await harness.deliver()
    await settle(harness)
    assert "awaiting verification" in (tg.current(TEAM_B1, the_card.message_id).caption or "")
    # The area head's chat is asked to check it, with the buttons to do so.
    ask = latest_with(harness, AREA_NORTH, "waits for your check")
    assert tg.buttons(ask)[0] == ["✅ Verify and close", "❌ Not accepted"]
    # A captain cannot verify his own building's work.
    await press(harness, the_card, zhang, "Verify and close")
    assert "area heads" in alert(harness) or "can't" in alert(harness)
    assert (await issue(harness, issue_id)).status == IssueStatus.VERIFYING

    harness.note("Office Wu finds it under /queue → To verify, and does not accept it: the roof is still there.")
    await harness.feed(harness.up.text(wu, "/queue"))
    await press_private(harness, wu, "To verify")
    listing = tg.current(wu.id, tg.last(wu.id).message_id or 0).text or ""
    assert f"#{found.reference}" in listing and "awaiting verification" in listing
    await press_private(harness, wu, f"#{found.reference}")
    await press_private(harness, wu, "Not accepted")
    assert "what is still wrong" in (tg.last(wu.id).plain or "")
    await harness.feed(harness.up.text(wu, "The roof is still up"))
    assert "not accepted and back with whoever fixed it" in (tg.last(wu.id).plain or "")
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.REOPENED and found.resolved_at is None and found.deadline_at is not None
    assert any("not accepted at the check: The roof is still up" in t for t in tg.texts(zhang.id, as_plain=True))
    assert any("still being worked on" in t for t in tg.texts(ann.id, as_plain=True))
    assert not any("Office Wu" in t for t in tg.texts(ann.id, as_plain=True))

    harness.note("Zhang fixes it again; Ann confirms again; Area head Wang checks on site with a photo.")
    await settle(harness)
    assert "reopened" in (tg.current(TEAM_B1, the_card.message_id).caption or "")
    await resolve(harness, the_card, zhang, "after-2", "Resolve", "Resolve without a note")
    await press(harness, tg.last(ann.id), ann, "Fixed, thank you")
    await harness.deliver()
    assert (await issue(harness, issue_id)).status == IssueStatus.VERIFYING
    ask = latest_with(harness, AREA_NORTH, "waits for your check")
    await press(harness, ask, wang, "Verify and close")
    assert alert(harness) == "I've written to you in our private chat."
    assert "send a photo taken on site" in (tg.last(wang.id).plain or "")
    await harness.feed(harness.up.photo(wang, file_id="check-1", caption="Shed removed, lawn restored"))
    assert "verified and closed out" in (tg.last(wang.id).plain or "")
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.CLOSED and found.close_how == "verified" and found.closed_at is not None
    assert any("checked on site and is now closed out" in t for t in tg.texts(ann.id, as_plain=True))
    # A second press changes nothing.
    await press(harness, ask, wang, "Verify and close")
    await settle(harness)
    assert "closed out" in (tg.current(TEAM_B1, the_card.message_id).caption or "")

    harness.note("The ledger export shows who closed it, how, and every step.")
    await harness.feed(harness.up.text(wu, "/export"))
    await press_private(harness, wu, "This month")
    await press_private(harness, wu, "Spreadsheet (XLSX)")
    await harness.work()  # exports run as background jobs
    await harness.deliver()
    _name, data, _caption = harness.document(wu.id)
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(data)).active.iter_rows()]
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == f"#{found.reference}"), strict=True))
    assert row["Status"] == "closed out" and row["Closed by"] == "Wang" and row["Closed how"] == "verified on site"
    steps = [s.rsplit(" ", 2)[0] for s in str(row["History"]).split(" → ")]
    assert steps == ["new", "accepted", "fixed, awaiting confirmation", "fixed, awaiting verification",
                     "not accepted at the check", "fixed, awaiting confirmation", "fixed, awaiting verification",
                     "verified on site"], steps
    assert "check-1" in str(row["Photo file ids"])
    harness.save_transcript("closeout_en", "A fix is checked by the office before it is closed out (English)")


async def test_zh_verify_and_digest_lists_awaiting(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "zh_Hans")
    groups(harness)
    tg = harness.tg
    li = await person(harness, unique_id(), "李女士", "zh-hans", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "张楼长", "zh-hans")
    wu = await person(harness, STAFF, "吴主任", "zh-hans")
    harness.record({li.id: "李女士（居民）", zhang.id: "张楼长", wu.id: "社区吴主任", TEAM_B1: "1号楼工作群",
                    AREA_NORTH: "北片工作群"})
    harness.note("李女士上报违章搭建；张楼长办结，李女士确认后进入待验收。")
    issue_id = await file_issue(harness, li, category="construction", photos=1, description="草坪上在搭棚子")
    the_card = card(harness)
    await press(harness, the_card, zhang, "受理")
    await harness.deliver()
    await resolve(harness, the_card, zhang, "after-zh", "办结", "直接办结")
    await press(harness, tg.last(li.id), li, "已解决")
    assert "社区办公室将现场验收" in (tg.current(li.id, tg.last(li.id).message_id or 0).text or "")
    await harness.deliver()
    harness.note("日报的“需要关注”列出待验收。")
    await harness.feed(harness.up.text(wu, "/digest"))
    await harness.work()  # /digest on demand runs as a background job
    await harness.deliver()
    digest = "\n".join(tg.texts(wu.id, as_plain=True)[-3:])
    found = await issue(harness, issue_id)
    assert "待验收" in digest and f"#{found.reference}" in digest, digest
    harness.note("吴主任在 /queue 的“待验收”中验收销号。")
    await harness.feed(harness.up.text(wu, "/queue"))
    await press_private(harness, wu, "待验收")
    await press_private(harness, wu, f"#{found.reference}")
    await press_private(harness, wu, "验收销号")
    await press_private(harness, wu, "不拍照直接销号")
    assert "已验收销号" in (tg.last(wu.id).plain or "")
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.CLOSED and found.close_how == "verified"
    assert any("现场核查" in t for t in tg.texts(li.id, as_plain=True))
    harness.save_transcript("closeout_zh", "验收销号：整改后由社区核查再销号（中文）")


async def test_spot_check_from_the_bot(harness: BotHarness, community: Any) -> None:
    from sqlalchemy import update

    from models import Community

    await set_locale(harness, "en")
    groups(harness)
    tg = harness.tg
    async with harness.sessions() as s:  # litter needs no check: closed on the reporter's word
        await s.execute(update(Community).where(Community.key == "nanchi").values(settings={"verification": "none"}))
        await s.commit()
    ann = await person(harness, unique_id(), "Ann", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    wu = await person(harness, STAFF, "Office Wu")
    issue_id = await file_issue(harness, ann, category="litter", photos=1, description="Rubbish by the gate")
    the_card = card(harness)
    await press(harness, the_card, zhang, "Accept")
    await resolve(harness, the_card, zhang, "after-s", "Resolve", "Resolve without a note")
    await press(harness, tg.last(ann.id), ann, "Fixed, thank you")
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.CLOSED and found.close_how == "confirmed"
    # A captain has no spot checks.
    await harness.feed(harness.up.text(zhang, "/spotcheck"))
    assert "for office staff" in (tg.last(zhang.id).plain or "")
    await harness.feed(harness.up.text(wu, "/spotcheck 2"))
    listing = tg.last(wu.id)
    assert "Spot check: 1 issue closed out last week" in (listing.plain or "")
    await press(harness, listing, wu, f"{found.hashtag} not fixed")
    await harness.feed(harness.up.text(wu, "Rubbish is back"))
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.REOPENED and found.close_how is None
    assert any("still being worked on" in t for t in tg.texts(ann.id, as_plain=True))


# ---------------------------------------------------------------------------- 三事分流 routes the work


async def test_private_matter_never_escalates_and_is_settled(harness: BotHarness, community: Any) -> None:
    from tests.e2e.test_triage import OFFICE

    ann, zhang = await ann_and_zhang(harness)
    tg = harness.tg
    wu = await person(harness, STAFF, "Office Wu")
    harness.record({ann.id: "Ann (resident)", zhang.id: "Captain Zhang", wu.id: "Office Wu",
                    TEAM_B1: "Building 1 team chat", AREA_NORTH: "North area chat", OFFICE: "Office chat"})
    harness.note("Ann reports a neighbour's flower pots blocking the stairs: Zhang proposes a private matter.")
    issue_id = await file_issue(harness, ann, category="clutter", photos=1, description="Flower pots on the stairs")
    the_card = card(harness)
    await press(harness, the_card, zhang, "Accept")
    await press(harness, the_card, zhang, "More")
    await press(harness, the_card, zhang, "Triage")
    await press(harness, the_card, zhang, "Residents (private matter)")
    assert "Proposed" in alert(harness)
    found = await issue(harness, issue_id)
    assert found.triage is None and found.triage_proposed == "residents"
    await harness.deliver()
    proposal = latest_with(harness, OFFICE, "a captain proposes it")
    harness.note("Office Wu confirms it from the office chat.")
    await press(harness, proposal, wu, "More")
    await press(harness, proposal, wu, "Triage")
    await press(harness, proposal, wu, "Residents (private matter)")
    assert alert(harness) == "🏷 Triage saved."
    found = await issue(harness, issue_id)
    assert found.triage == "residents" and found.triage_proposed is None
    await settle(harness)
    caption = tg.current(TEAM_B1, the_card.message_id).caption or ""
    assert "private matter" in caption and "Settled" in str(tg.buttons(tg.current(TEAM_B1, the_card.message_id)))

    harness.note("Weeks pass past the deadline: the matter stays with the building; its captains are told.")
    before_area, before_office = len(tg.sent(AREA_NORTH)), len(tg.sent(OFFICE))
    for _ in range(3):
        harness.clock.advance(days=8)
        await harness.tick()
        await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.escalation_level == 0 and found.escalations == 0 and not found.assigned_to_office
    assert not any("escalated" in (c.plain or "") for c in tg.sent(AREA_NORTH)[before_area:])
    # (The office's daily digest may list it as overdue work; nothing hands it to the office.)
    assert not any(f"#{found.reference}" in (c.plain or "") and ("escalated to" in (c.plain or "")
                                                                 or "with the office" in (c.plain or ""))
                   for c in tg.sent(OFFICE)[before_office:])
    assert any("private matter, so it stays with the building" in t for t in tg.texts(TEAM_B1, as_plain=True))

    harness.note("Zhang put the neighbours in touch; they settled it.")
    await settle(harness)
    await press(harness, the_card, zhang, "Settled")
    assert "Settled and closed out" in alert(harness)
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.CLOSED and found.close_how == "settled"
    assert any("settled between the neighbours" in t for t in tg.texts(ann.id, as_plain=True))
    harness.save_transcript("ways_private_en", "A private matter (私事) stays with the building (English)")


async def test_office_matter_goes_to_the_office_at_once(harness: BotHarness, community: Any) -> None:
    from tests.e2e.test_triage import OFFICE

    ann = await english_with_ann(harness)
    wu = await person(harness, STAFF, "Office Wu")
    issue_id = await file_issue(harness, ann, category="road", photos=1, description="Big pothole")
    the_card = card(harness)
    await press(harness, the_card, wu, "More")
    await press(harness, the_card, wu, "Triage")
    await press(harness, the_card, wu, "Office (big matter)")
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.triage == "office" and found.assigned_to_office and found.escalation_level == 2
    assert found.deadline_at is not None
    assert latest_with(harness, OFFICE, "is an office matter")


async def test_private_matter_settled_by_both_sides_in_the_ledger(harness: BotHarness, community: Any) -> None:
    """The captain puts the sides in touch; both press 🤝 Settled: closed out as "settled by both sides",
    with nobody named as the closer, and it never left the building."""
    from tests.e2e.test_relays import _private_matter, in_household

    ann = await english_with_ann(harness)
    tg = harness.tg
    bob = await person(harness, unique_id(), "Bob", resident_of="b1")
    zhang = await person(harness, CAPTAIN, "Zhang")
    wu = await person(harness, STAFF, "Office Wu")
    await in_household(harness, bob, "9")
    issue_id, the_card = await _private_matter(harness, "en", ann, zhang, wu, "Music every night")
    await press(harness, the_card, zhang, "Put in touch")
    await harness.feed(harness.up.text(zhang, "9"))
    await harness.deliver()
    await press_private(harness, ann, "Settled")
    await press_private(harness, bob, "Settled")
    await harness.deliver()
    found = await issue(harness, issue_id)
    assert found.status == IssueStatus.CLOSED and found.close_how == CloseHow.SETTLED_BY_PARTIES
    assert found.closed_by_id is None and found.escalation_level == 0
    await harness.feed(harness.up.text(wu, "/export"))
    await press_private(harness, wu, "This month")
    await press_private(harness, wu, "Spreadsheet (XLSX)")
    await harness.work()
    await harness.deliver()
    _name, data, _caption = harness.document(wu.id)
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(data)).active.iter_rows()]
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == f"#{found.reference}"), strict=True))
    assert row["Status"] == "closed out" and row["Closed how"] == "settled by both sides"
    assert row["Closed by"] in ("", None) and row["Triage"] == "residents settle it themselves (private matter)"
    assert any("both sides say it is settled" in t for t in tg.texts(ann.id, as_plain=True))
