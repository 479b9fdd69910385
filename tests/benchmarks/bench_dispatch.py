"""Dispatch speed: updates/s through the whole stack (middlewares, database, FSM, i18n, rendering) compared,
in the same run and on the same Bot API test double, with a bare aiogram echo bot.

    python -m tests.benchmarks.bench_dispatch            # the real run (a few thousand updates)
    python -m tests.benchmarks.bench_dispatch --smoke    # a few dozen, to check the script works

Prints figures only (no assertions). Targets from issue 7: a read command ≥ 1/3 of the echo rate; a
report submission (the flow's updates, per submitted report) ≥ 1/10.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiogram import Dispatcher, F, Router
from aiogram.types import Message, Update

from bot.clock import FrozenClock
from bot.config import Settings
from bot.db import create_engine, session_factory
from models import Base
from tests.conftest import START, TOKEN, import_structure
from tests.telegram import FakeTelegram, Updates


class Clocked:
    """Time spent inside the dispatcher only: the report driver's own work (finding the next button,
    checking whether the issue is stored yet) is the benchmark's cost, not the bot's."""

    spent = 0.0

    @classmethod
    async def feed(cls, dp: Dispatcher, bot: Any, update: Update) -> None:
        started = time.perf_counter()
        try:
            await dp.feed_update(bot, update)
        finally:
            cls.spent += time.perf_counter() - started


async def rate(label: str, n: int, make: Callable[[int], Awaitable[int]]) -> float:
    """Run `make(i)` n times (each feeds one or more updates through Clocked.feed, returning how many);
    updates per second of time spent in the dispatcher."""
    await make(-1)  # warm-up: first-use costs (templates, catalogues, statement caches) are not steady state
    count = 0
    Clocked.spent = 0.0
    for i in range(n):
        count += await make(i)
    elapsed = Clocked.spent
    per_second = count / elapsed
    print(f"{label:<44} {count:>6} updates in {elapsed:6.2f} s = {per_second:8.1f} updates/s")
    return per_second


async def echo_rate(n: int) -> float:
    tg = FakeTelegram()
    bot = tg.make_bot(TOKEN)
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dp = Dispatcher()
    dp.include_router(router)
    up = Updates(tg)
    user = up.user(5001, "Ann")

    async def one(_i: int) -> int:
        await Clocked.feed(dp, bot, up.text(user, "/help"))
        return 1

    return await rate("bare aiogram echo bot", n, one)


async def full_stack(n: int, tmp: Path) -> tuple[float, float, float | None]:
    from bot.app import create_bot, create_dispatcher
    from bot.capabilities import CAPABILITIES
    from bot.fsm_storage import SqlStorage

    engine = create_engine(f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sessions = session_factory(engine)
    clock = FrozenClock(START)
    await import_structure(sessions, clock)
    # Throttling would (rightly) slow one person sending thousands of messages; not what is measured.
    settings = Settings(bot_token=TOKEN, database_url="sqlite+aiosqlite:///unused", admin_ids=[9000],
                        throttle_rate=1e9, _env_file=None)  # type: ignore[call-arg]
    dp = create_dispatcher(settings, sessions, clock=clock, storage=SqlStorage(sessions))
    dp["settings"] = settings
    tg = FakeTelegram()
    bot = create_bot(settings, session=tg)
    up = Updates(tg)
    captain = up.user(3001, "Zhang", "en")
    await dp.feed_update(bot, up.text(captain, "/start"))

    async def feed(update: Update) -> None:
        await Clocked.feed(dp, bot, update)

    async def help_(_i: int) -> int:
        await feed(up.text(captain, "/help"))
        return 1

    async def start(_i: int) -> int:
        await feed(up.text(captain, "/start"))
        return 1

    read = await rate("full stack: /help (known member)", n, help_)
    start_rate = await rate("full stack: /start (known member)", n, start)
    report: float | None = None
    if "reporting" in CAPABILITIES and importlib.util.find_spec("handlers.reporting") is not None:
        report = await report_rate(max(5, n // 20), dp, bot, tg, up, sessions)
    else:
        print(f"{'full stack: report submission':<44} not measured (the reporting capability is not enabled)")
    await engine.dispose()
    return read, start_rate, report


async def report_rate(n: int, dp: Dispatcher, bot: Any, tg: FakeTelegram, up: Updates, sessions: Any) -> float | None:
    """Drive /report → photo → the first sensible button of each question → send, for one resident each
    time. Generic on purpose (the flow's wording may change): it presses the first inline button that
    does not go back, cancel, edit or page, until an issue is stored."""
    from sqlalchemy import func, select

    from models import Issue

    skip = ("cancel", "back", "edit", "more", "no photo", "same", "came back", "取消", "返回", "修改", "更多", "◀", "▶",
            "⬅")
    user = up.user(3002, "Wang", "en")

    async def issues() -> int:
        async with sessions() as s:
            return int((await s.execute(select(func.count()).select_from(Issue))).scalar_one())

    async def one(_i: int) -> int:
        before = await issues()
        updates = [up.text(user, "/report"), up.photo(user)]
        for u in updates:
            await Clocked.feed(dp, bot, u)
        fed = len(updates)
        for _step in range(12):
            if await issues() > before:
                return fed
            # The newest message of the bot in this chat that carries inline buttons (a question may come
            # as two messages: one with the reply keyboard, one with the buttons).
            current: dict[str, Any] | None = None
            for call in reversed(tg.calls):
                if call.ok and call.chat_id == user.id and call.message is not None and (
                        call.method.startswith("send") or call.method.startswith("edit")):
                    message = tg.messages.get((user.id, call.message.message_id)) or {}
                    if (message.get("reply_markup") or {}).get("inline_keyboard"):
                        current = message
                        break
            markup = (current or {}).get("reply_markup") or {}
            buttons = [b for row in markup.get("inline_keyboard", []) for b in row
                       if b.get("callback_data") and not any(s in b.get("text", "").lower() for s in skip)]
            if not buttons:
                await Clocked.feed(dp, bot, up.text(user, "Bikes block the fire lane since Monday"))
            else:
                await Clocked.feed(dp, bot, up.callback(user, buttons[0]["callback_data"], message=current))
            fed += 1
        raise RuntimeError("could not drive the report flow to a stored issue")

    try:
        return await rate("full stack: report submission (all its updates)", n, one)
    except RuntimeError as exc:
        print(f"{'full stack: report submission':<44} not measured ({exc})")
        return None


async def main(smoke: bool) -> None:
    n = 40 if smoke else 2000
    with tempfile.TemporaryDirectory() as tmp:
        echo = await echo_rate(n)
        read, start, report = await full_stack(n, Path(tmp))
    print(f"ratio /help  : {read / echo:.2f} of echo (target ≥ 0.33)")
    print(f"ratio /start : {start / echo:.2f} of echo (target ≥ 0.33)")
    if report is not None:
        print(f"ratio report : {report / echo:.2f} of echo (target ≥ 0.10)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a quick run that only checks the script works")
    asyncio.run(main(parser.parse_args().smoke))
