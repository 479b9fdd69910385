"""Whole-process speed: `python main.py` and a bare aiogram bot, each polling the local Bot API stand-in
(tests/botapi_server.py, flood limits off), while 1,500 people send /help at once.

    python -m tests.benchmarks.bench_process            # 1,500 people, three rounds
    python -m tests.benchmarks.bench_process --smoke    # 30 people, one round: checks the script works

Each round runs, back to back: the bare bot, main.py with people it has never seen (first contact: a new
member row each), the bare bot again, main.py with the same people (known). A rate is answers per second
from queueing the 1,500 updates to the last answer; each of main.py's rates is divided by the bare bot's
run just before it, so load from elsewhere on the machine mostly cancels out. Figures only, no assertions.
Targets (issue 17): known people ≥ 1/3 of the bare bot's rate, first contact ≥ 1/5.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.botapi_server import BotApiStub

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:BENCH-token"
WITHIN = 300.0  # seconds: when a run counts as hung


def help_update(user_id: int, serial: int) -> dict[str, Any]:
    return {"message": {
        "message_id": serial, "date": int(time.time()), "text": "/help",
        "chat": {"id": user_id, "type": "private", "first_name": f"P{user_id}"},
        "from": {"id": user_id, "is_bot": False, "first_name": f"P{user_id}", "language_code": "en"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}]}}


async def launch(args: list[str], stub: BotApiStub, folder: Path, **env: str) -> asyncio.subprocess.Process:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder), "BOT_TOKEN": TOKEN,
             "BOT_API_URL": stub.url, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **env}
    return await asyncio.create_subprocess_exec(sys.executable, *args, cwd=folder, env=clean,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def stop(proc: asyncio.subprocess.Process, stub: BotApiStub) -> str:
    """SIGTERM, wait; then forget updates nobody confirmed, so the next process starts from an empty queue."""
    if proc.returncode is None:
        proc.terminate()
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        _out, err = await proc.communicate()
    stub.state.updates.clear()
    return err.decode("utf-8", "replace")


async def answered(stub: BotApiStub, people: set[int], since: int, count: int) -> float:
    """Wait until `count` messages went to `people` after index `since` of the stub's log; the time it did."""
    deadline = time.monotonic() + WITHIN
    while True:
        got = sum(1 for m in stub.sent[since:] if m.get("chat_id") in people)
        if got >= count:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {got} of {count} answers within {WITHIN:.0f} s; stats {stub.stats}")
        await stub.wait_sent(len(stub.sent) + 1, within=0.5)


async def burst(stub: BotApiStub, people: list[int]) -> float:
    """Everyone sends /help at once; answers per second until the last is answered."""
    since = len(stub.sent)
    started = time.perf_counter()
    stub.queue_updates([help_update(uid, i + 1) for i, uid in enumerate(people)])
    finished = await answered(stub, set(people), since, len(people))
    return len(people) / (finished - started)


async def warm(stub: BotApiStub, user_id: int) -> None:
    """One /help answered: the process is up, migrated and polling."""
    since = len(stub.sent)
    stub.queue_update(help_update(user_id, 1))
    await answered(stub, {user_id}, since, 1)


async def bare_run(stub: BotApiStub, folder: Path, people: list[int], probe: int) -> float:
    proc = await launch(["-m", "tests.benchmarks._bare_bot"], stub, folder)
    try:
        await warm(stub, probe)
        return await burst(stub, people)
    finally:
        await stop(proc, stub)


async def main(people_count: int, rounds: int) -> None:
    first_ratios: list[float] = []
    known_ratios: list[float] = []
    rows: list[str] = []
    async with BotApiStub() as stub:
        for r in range(rounds):
            people = [80_000_000 + r * 10_000 + i for i in range(people_count)]
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                bare_first = await bare_run(stub, folder, people, 79_000_001)
                bot = await launch([str(ROOT / "main.py")], stub, folder,
                                   DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'bot.sqlite3'}")
                try:
                    await warm(stub, 79_000_002)
                    first = await burst(stub, people)
                finally:
                    err = await stop(bot, stub)
                bare_known = await bare_run(stub, folder, people, 79_000_003)
                bot = await launch([str(ROOT / "main.py")], stub, folder,
                                   DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'bot.sqlite3'}")
                try:
                    await warm(stub, 79_000_002)
                    known = await burst(stub, people)
                finally:
                    err = await stop(bot, stub)
                if "Traceback" in err:
                    print(err[-3000:])
            first_ratios.append(first / bare_first)
            known_ratios.append(known / bare_known)
            rows.append(f"round {r + 1}: bare {bare_first:7.1f}/s, main.py first contact {first:7.1f}/s"
                        f" ({first / bare_first:.2f}); bare {bare_known:7.1f}/s, main.py known {known:7.1f}/s"
                        f" ({known / bare_known:.2f})")
            print(rows[-1], flush=True)
    print(f"{people_count} people sending /help at once, {rounds} round(s), SQLite:")
    print(f"ratio known people  : {statistics.median(known_ratios):.2f} of the bare bot (target ≥ 0.33)")
    print(f"ratio first contact : {statistics.median(first_ratios):.2f} of the bare bot (target ≥ 0.20)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="30 people, one round: checks the script works")
    parser.add_argument("--people", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(30 if args.smoke else args.people, 1 if args.smoke else args.rounds))
