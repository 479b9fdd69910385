"""Every update has a time budget: a handler that runs over it is cancelled, the person is asked to try
again (in their language), the update counts as done, and the log names the handler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from models import ProcessedUpdate
from tests.conftest import BotHarness, unique_id
from tests.e2e.test_triage import person, unthrottle


@pytest.fixture
def tiny_budget(harness: BotHarness) -> Iterator[None]:
    budget = harness.dp["time_budget"]
    before = budget.seconds
    budget.seconds = 0.3
    try:
        yield
    finally:
        budget.seconds = before


def slow_first_send(harness: BotHarness, monkeypatch: pytest.MonkeyPatch, chat_id: int, seconds: float) -> None:
    """The handler's first message to the chat hangs (a slow handler); later calls are answered at once."""
    real = harness.tg.make_request
    hung: list[int] = []

    async def make_request(bot: Any, method: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109 - aiogram's signature
        if getattr(method, "chat_id", None) == chat_id and not hung:
            hung.append(1)
            await asyncio.sleep(seconds)
        return await real(bot, method, timeout)

    monkeypatch.setattr(harness.tg, "make_request", make_request)


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", "Sorry, that took too long and I had to stop. Please try again."),
    ("zh-hans", "抱歉，处理时间太长，已经停止。请再试一次。"),
])
async def test_a_handler_over_budget_is_cancelled_and_the_person_asked_to_retry(
        harness: BotHarness, community: Any, tiny_budget: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, lang: str, expected: str) -> None:
    unthrottle(harness)
    ann = await person(harness, unique_id(), "Ann", lang, resident_of="b1")
    slow_first_send(harness, monkeypatch, ann.id, 5)
    update = harness.up.text(ann, "/help")
    harness.record({ann.id: "Ann (resident)"})
    caplog.set_level(logging.WARNING, logger="bot.middlewares.budget")
    started = asyncio.get_running_loop().time()
    await harness.feed(update)
    assert asyncio.get_running_loop().time() - started < 3  # cancelled at the budget, not after 5 s
    assert harness.tg.texts(ann.id) == [expected]
    line = next(r.getMessage() for r in caplog.records if "took longer" in r.getMessage())
    assert "handlers.start.help_" in line and str(update.update_id) in line
    async with harness.sessions() as s:
        done = (await s.execute(select(ProcessedUpdate.update_id).where(
            ProcessedUpdate.update_id == update.update_id))).scalar_one_or_none()
    assert done == update.update_id
    # Telegram delivering it again (the webhook's answer was late): skipped, not run a second time.
    await harness.feed(update)
    assert harness.tg.texts(ann.id) == [expected]
    harness.note("Telegram delivers the same update again: it was marked done, nothing happens")
    harness.save_transcript(f"time_budget_{'zh' if lang != 'en' else 'en'}",
                            "A handler over the update's time budget (the budget made tiny, the first answer slow)")


async def test_a_quick_handler_is_not_touched(harness: BotHarness, community: Any, tiny_budget: None) -> None:
    unthrottle(harness)
    bob = await person(harness, unique_id(), "Bob", resident_of="b1")
    await harness.feed(harness.up.text(bob, "/help"))
    assert "What I can do for you" in harness.tg.texts(bob.id)[-1]
