"""Invariant (issue 10, keep it): the privacy matrix. Whoever touches an issue — reports it, follows
it, reopens it because it came back, says it is not fixed, is assigned it, answers a question — is
named only where the README says: residents (the reporter, followers, second reporters) only to the
building's captains, the area head and staff in private (the issue view and its timeline) and, for
the reporter, in staff's ledger export; never in a group chat, never to another resident or a
volunteer. The person an issue is assigned to works for the team: the card in the team chat names
who handles it.

One scenario makes every touch happen (on one urgent issue without a photo, so the office gets its
own copy of the card), with escalations to the area and office chats, reminders, digests and a
delivery report; then every button the bot shows in a group is pressed by someone entitled to press
it; then each viewer looks at each surface, and the table says whether each touching person's name
or username may appear there. Names are distinctive, so a substring search is reliable."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.keyboards.issues import cb
from models import IssueStatus
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_privacy import issue_row, named, press_every_button
from tests.e2e.test_triage import (
    AREA_NORTH,
    CAPTAIN,
    NORTH_HEAD,
    OFFICE,
    STAFF,
    TEAM_B1,
    file_issue,
    groups,
    press_private,
    set_locale,
)
from tests.telegram import Call

RESIDENTS_B1 = -1001000000031
VOLUNTEER, OTHER_VOLUNTEER = 4001, 4002

# Who touches the issue: (name, username). Each touch is its own person.
TOUCHES: dict[str, tuple[str, str]] = {
    "reports and answers a question": ("Quincella", "quincella_rpt"),
    "follows": ("Bartholomew", "bart_follows"),
    "rebounds": ("Marisol", "marisol_rb"),
    "says not fixed": ("Philippa", "pip_notfixed"),
    "is assigned": ("Evander", "evander_vol"),
}
RESIDENT_TOUCHES = ("reports and answers a question", "follows", "rebounds", "says not fixed")

# Viewers and the surfaces each of them looks at.
VIEWERS: dict[str, tuple[str, ...]] = {
    "the reporter": ("/issue", "timeline", "/my", "notices"),
    "a neighbour": ("/issue", "timeline", "/my", "notices", "residents' chat"),
    "a resident of another building": ("/issue", "/my", "notices"),
    "a volunteer": ("/issue", "timeline", "notices"),
    "the captain in the team chat": ("team chat",),
    "the captain in private": ("/issue", "timeline", "/my", "notices"),
    "the area head": ("area chat", "/issue", "timeline", "notices", "export"),
    "staff": ("office chat", "/issue", "timeline", "notices", "export"),
}
GROUP_SURFACES = ("team chat", "residents' chat", "area chat", "office chat")
TEAM_IN_PRIVATE = ("the captain in private", "the area head", "staff")
MUST, NEVER, ANY = True, False, None


def expected(touch: str, viewer: str, surface: str) -> bool | None:
    """The table: MUST appear, NEVER appear, or ANY (not this test's business)."""
    if touch == "is assigned":
        if surface == "team chat":
            return MUST  # the card: "handled by Evander"
        if surface in ("residents' chat", "area chat"):
            return NEVER
        return ANY  # the team's own person: the card's "handled by" line wherever the card shows
    if surface in GROUP_SURFACES:
        return NEVER
    if viewer in TEAM_IN_PRIVATE and touch != "follows":
        if surface in ("/issue", "timeline"):
            return MUST  # captains and above see who reported and who reopened, in private
        if surface == "export":
            return MUST if (viewer == "staff" and touch == "reports and answers a question") else NEVER
    return NEVER


@dataclass
class Seen:
    """What each viewer saw on each surface (text, joined)."""

    texts: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, viewer: str, surface: str, text: str) -> None:
        self.texts.setdefault((viewer, surface), []).append(text)

    def of(self, viewer: str, surface: str) -> str:
        return "\n".join(self.texts.get((viewer, surface), []))


def call_texts(call: Call) -> list[str]:
    out = [str(call.params[k]) for k in ("text", "caption") if call.params.get(k)]
    out += [str(m["caption"]) for m in call.params.get("media") or [] if isinstance(m, dict) and m.get("caption")]
    return out


@pytest.fixture(autouse=True)
def no_throttle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """One scenario presses faster than any person: the per-user throttle would drop its updates."""
    from bot.middlewares.throttling import ThrottlingMiddleware

    monkeypatch.setattr(ThrottlingMiddleware, "allow", lambda self, user_id, now=None: (True, False))
    yield


async def test_privacy_matrix(harness: BotHarness, community: Any) -> None:
    await set_locale(harness, "en")
    groups(harness)
    harness.up.group(RESIDENTS_B1, "Building 1 residents")
    tg, up = harness.tg, harness.up

    # Calls the outbox made (notifications, reminders, digests, reports), as opposed to direct
    # answers to a person's own command or press.
    outbox_calls: set[int] = set()
    real_deliver, real_tick = harness.deliver, harness.tick

    async def deliver() -> Any:
        start = len(tg.calls)
        result = await real_deliver()
        outbox_calls.update(range(start, len(tg.calls)))
        return result

    async def tick() -> Any:
        start = len(tg.calls)
        result = await real_tick()
        await deliver()
        outbox_calls.update(range(start, len(tg.calls)))
        return result

    harness.deliver, harness.tick = deliver, tick  # type: ignore[method-assign]

    people = {touch: await named(harness, unique_id(), name, username, resident_of="b1")
              for touch, (name, username) in TOUCHES.items() if touch != "is assigned"}
    reporter, follower = people["reports and answers a question"], people["follows"]
    rebounder, notfixer = people["rebounds"], people["says not fixed"]
    assignee = await named(harness, VOLUNTEER, *TOUCHES["is assigned"])
    viewers = {
        "the reporter": reporter,
        "a neighbour": await named(harness, unique_id(), "Neighbour", resident_of="b1"),
        "a resident of another building": await named(harness, unique_id(), "Outsider", resident_of="b2"),
        "a volunteer": await named(harness, OTHER_VOLUNTEER, "Volunteer"),
        "the captain in private": await named(harness, CAPTAIN, "Zhang"),
        "the area head": await named(harness, NORTH_HEAD, "Wang"),
        "staff": await named(harness, STAFF, "Liu"),
    }
    captain, head, staff = viewers["the captain in private"], viewers["the area head"], viewers["staff"]

    # ---- the scenario: every touch happens
    issue_id = await file_issue(harness, reporter, category="fire_lane", photos=0,
                                description="Scooters block the fire lane by entrance 2")
    ref = f"NC{issue_id:04d}"
    for who in (follower, notfixer):  # follow from the issue view
        await harness.feed(up.text(who, f"/issue {ref}"))
        await press_private(harness, who, "Follow")
    tg.block(follower.id)  # the follower blocks the bot: the office's delivery report counts it
    team_card = next(c for c in tg.sent(TEAM_B1) if tg.buttons(c))
    await harness.feed(up.callback_on(team_card, captain, "Accept"))
    await harness.feed(up.callback_on(team_card, captain, "Assign"))
    await harness.feed(up.callback_on(team_card, captain, "Evander"))
    await harness.feed(up.callback(captain, cb("note", issue_id, "internal"), chat=captain.id))
    await harness.feed(up.text(captain, "internal: the reporter lives in 2-301"))
    await harness.feed(up.callback(captain, cb("ask", issue_id), chat=captain.id))
    await harness.feed(up.text(captain, "Which entrance exactly?"))
    await harness.deliver()
    await press_private(harness, reporter, "Answer")
    await harness.feed(up.text(reporter, "Entrance 2, by the bike shed"))
    await harness.deliver()
    # A reminder to the assignee a day before the deadline, then the assignee fixes it.
    found = await issue_row(harness, issue_id)
    assert found.deadline_at is not None and found.assignee_id is not None
    harness.clock.set(found.deadline_at - timedelta(hours=23))
    await harness.tick()
    assert any("due" in t for c in tg.sent(assignee.id) for t in call_texts(c))
    await harness.feed(up.callback(assignee, cb("resolve", issue_id), chat=assignee.id))
    await harness.feed(up.photo(assignee, file_id="after-1"))
    await press_private(harness, assignee, "Resolve without a note")
    await harness.deliver()
    # A follower says it is not fixed; it is fixed again; then it comes back (a second reporter).
    await press_private(harness, notfixer, "Not fixed")
    await harness.feed(up.text(notfixer, "Still blocked at night"))
    await harness.deliver()
    await harness.feed(up.callback(captain, cb("resolve", issue_id), chat=captain.id))
    await harness.feed(up.photo(captain, file_id="after-2"))
    await press_private(harness, captain, "Resolve without a note")
    await harness.deliver()
    # The next morning: the daily digest, and the delivery report (the follower blocked the bot).
    harness.clock.set(datetime(2026, 11, 21, 0, 30, tzinfo=UTC))
    await harness.tick()
    office_texts = [t for c in tg.sent(OFFICE) for t in call_texts(c)]
    assert any("could not be delivered" in t for t in office_texts), office_texts  # the delivery report
    assert any("📊" in t for t in office_texts), office_texts  # a digest
    await harness.feed(up.text(rebounder, "/report"))
    await harness.feed(up.photo(rebounder))
    await press_private(harness, rebounder, "Blocked fire lane")
    await press_private(harness, rebounder, "(my building)")
    await harness.feed(up.text(rebounder, "The scooters are back"))
    await press_private(harness, rebounder, "It came back — reopen it")
    await harness.deliver()
    assert (await issue_row(harness, issue_id)).reopen_count == 2
    # Nobody fixes it: up to the area head, then to the office; digests and the delivery report go out.
    for _ in range(2):
        found = await issue_row(harness, issue_id)
        assert found.deadline_at is not None
        harness.clock.set(found.deadline_at)
        await harness.tick()
        harness.clock.advance(days=1)
        await harness.tick()
    assert (await issue_row(harness, issue_id)).escalation_level == 2

    seen = Seen()

    async def look() -> None:
        """Each viewer opens /issue (with its timeline) and /my."""
        for viewer, user in viewers.items():
            for command, surface in ((f"/issue {ref}", "/issue"), ("/my", "/my")):
                if surface not in VIEWERS[viewer]:
                    continue
                start = len(tg.calls)
                await harness.feed(up.text(user, command))
                text = "\n".join(t for c in tg.calls[start:] if c.chat_id == user.id for t in call_texts(c))
                seen.add(viewer, surface, text)
                if surface == "/issue" and "timeline" in VIEWERS[viewer]:
                    assert "Timeline" in text, (viewer, text)
                    seen.add(viewer, "timeline", text.split("Timeline", 1)[1])

    await look()  # before the presses: the timeline still holds the early events

    # ---- every button the bot shows in a group, pressed by someone entitled to press it
    pressers = {TEAM_B1: captain, AREA_NORTH: head, OFFICE: staff}
    for chat, presser in pressers.items():
        for call in [c for c in tg.sent(chat) if tg.buttons(c) and c.message_id]:
            await press_every_button(harness, chat, call.message_id, presser)  # type: ignore[arg-type]

    await look()  # and after them

    # ---- what each viewer saw in groups and in the outbox's private messages
    for index, call in enumerate(tg.calls):
        if call.error or call.chat_id is None:
            continue
        for text in call_texts(call):
            chat = call.chat_id
            surface = {TEAM_B1: "team chat", RESIDENTS_B1: "residents' chat", AREA_NORTH: "area chat",
                       OFFICE: "office chat"}.get(chat)  # type: ignore[call-overload]
            if surface is not None:
                for viewer, surfaces in VIEWERS.items():
                    if surface in surfaces:
                        seen.add(viewer, surface, text)
            elif index in outbox_calls:
                for viewer, user in viewers.items():
                    if chat == user.id:
                        seen.add(viewer, "notices", text)
    for (chat, _mid), message in tg.messages.items():  # group messages as they are now, after all edits
        surface = {TEAM_B1: "team chat", RESIDENTS_B1: "residents' chat", AREA_NORTH: "area chat",
                   OFFICE: "office chat"}.get(chat)  # type: ignore[call-overload]
        if surface is not None:
            for viewer, surfaces in VIEWERS.items():
                if surface in surfaces:
                    seen.add(viewer, surface, str(message.get("text") or message.get("caption") or ""))
    for viewer in ("the area head", "staff"):
        user = viewers[viewer]
        await harness.feed(up.text(user, "/export"))
        await press_private(harness, user, "This year")
        await press_private(harness, user, "Spreadsheet (XLSX)")
        await harness.work()  # exports run as background jobs
        await harness.deliver()
        _name, data, _caption = harness.document(user.id)
        rows = load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)
        cells = "\n".join(str(v) for row in rows for v in row if v is not None)
        assert f"#{ref}" in cells, viewer
        seen.add(viewer, "export", cells)

    # ---- the table
    failures = []
    for touch, (name, username) in TOUCHES.items():
        for viewer, surfaces in VIEWERS.items():
            if viewers.get(viewer) is people.get(touch):
                continue  # one's own name in one's own chat
            for surface in surfaces:
                want = expected(touch, viewer, surface)
                if want is ANY:
                    continue
                text = seen.of(viewer, surface).lower()
                got = name.lower() in text or username.lower() in text
                if got != want:
                    failures.append(f"{touch} ({name}) → {viewer} / {surface}: "
                                    f"{'missing' if want else 'named'}")
    assert not failures, "\n".join(failures)

    # Rejecting, the last button, does not name anyone in a group either.
    await press_every_button(harness, TEAM_B1, team_card.message_id, captain, reject=True)  # type: ignore[arg-type]
    assert (await issue_row(harness, issue_id)).status in (IssueStatus.REJECTED, IssueStatus.DUPLICATE)
    for chat in (TEAM_B1, AREA_NORTH, OFFICE, RESIDENTS_B1):
        for call in tg.sent(chat) + tg.edits(chat):
            for text in call_texts(call):
                for touch in RESIDENT_TOUCHES:
                    name, username = TOUCHES[touch]
                    assert name not in text and username not in text, (chat, touch, text)
