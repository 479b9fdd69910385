"""Issue 17: what every update costs. A known person's /help, and a captain's press on the card in a group,
read the member, their roles, the conversation state, the chat's "unreachable" mark and the group's
language in one statement; nothing is written that did not change; the answers stay the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from models import ChatState, Member
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_triage import CAPTAIN, TEAM_B1, card, file_issue, groups, person, set_locale


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql.split(None, 1)[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_known_persons_read_command_is_one_read(harness: BotHarness, community: Any,
                                                        engine: AsyncEngine) -> None:
    user = await person(harness, unique_id(), "Lin")
    await harness.feed(harness.up.text(user, "/help"))
    first = harness.tg.texts(user.id)[-1]
    with statements(engine) as seen:
        await harness.feed(harness.up.text(user, "/help"))
    assert harness.tg.texts(user.id)[-1] == first
    # BEGIN (SQLite), the processed-update mark, and one SELECT for member, roles, state and the chat: no
    # UPDATE (nothing changed), no separate reads (it was seven statements).
    assert [s for s in seen if s not in {"BEGIN"}] == ["INSERT", "SELECT"], seen


async def test_a_name_change_is_written_and_a_blocked_mark_cleared(harness: BotHarness, community: Any,
                                                                   engine: AsyncEngine) -> None:
    uid = unique_id()
    await person(harness, uid, "Lin")
    async with harness.sessions() as s:
        s.add(ChatState(chat_id=uid, unreachable="blocked"))
        await s.commit()
    renamed = harness.up.user(uid, "Lin Mei", "en")
    with statements(engine) as seen:
        await harness.feed(harness.up.text(renamed, "/help"))
    assert "UPDATE" in seen
    async with harness.sessions() as s:
        assert (await s.execute(select(Member.first_name).where(Member.telegram_id == uid))).scalar_one() == "Lin Mei"
        assert (await s.get(ChatState, uid)).unreachable is None  # type: ignore[union-attr]
    assert harness.tg.texts(uid)


async def test_a_card_press_in_the_group_speaks_the_communitys_language(harness: BotHarness, community: Any,
                                                                         engine: AsyncEngine) -> None:
    groups(harness)
    await set_locale(harness, "zh_Hans")
    reporter = await person(harness, unique_id(), "Wu", resident_of="b1")
    await file_issue(harness, reporter, category="lighting")
    captain = harness.up.user(CAPTAIN, "Zhang", "en")  # the captain's own language is English
    with statements(engine) as seen:
        await harness.feed(harness.up.callback_on(card(harness), captain, "时限"))
    buttons = [b for row in harness.tg.buttons(harness.tg.messages[(TEAM_B1, card(harness).message_id)]) for b in row]
    assert any("返回" in b for b in buttons), buttons  # the deadline menu, in the group's language
    # One read for the person, the state and the group; then the issue and the card's own reads.
    assert seen.count("SELECT") <= 3, seen


async def test_the_same_update_delivered_twice_is_answered_once(harness: BotHarness, community: Any) -> None:
    user = await person(harness, unique_id(), "Lin")
    update = harness.up.text(user, "/help")
    await harness.feed(update)
    await harness.feed(update)  # Telegram (or a webhook retry) delivers it again
    assert len(harness.tg.texts(user.id)) == 1


async def test_first_contact_reads_once_and_creates_the_member(harness: BotHarness, community: Any,
                                                               engine: AsyncEngine) -> None:
    uid = unique_id()
    stranger = harness.up.user(uid, "Qian", "en")
    harness.tg.add_chat(uid, type="private")
    with statements(engine) as seen:
        await harness.feed(harness.up.text(stranger, "/help"))
    assert harness.tg.texts(uid)
    async with harness.sessions() as s:
        assert (await s.execute(select(Member.first_name).where(Member.telegram_id == uid))).scalar_one() == "Qian"
    # One read for "who is this, what state, what chat"; the new member row; nothing read twice.
    assert seen.count("SELECT") <= 2, seen
