"""The whole process: `python main.py` against a local Bot API server, as an operator runs it. It
migrates an empty database, answers /start in the person's language, and stops cleanly on SIGTERM;
in webhook mode it accepts only updates carrying the secret and answers /healthz."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.botapi_server import BotApiStub

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token"
SECRET = "s3cret-token_1-long-enough-for-32chars"


def start_update(user_id: int, name: str, language: str, update_id: int | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {"message": {
        "message_id": 1, "date": int(time.time()), "text": "/start",
        "chat": {"id": user_id, "type": "private", "first_name": name},
        "from": {"id": user_id, "is_bot": False, "first_name": name, "language_code": language},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }}
    if update_id is not None:
        update["update_id"] = update_id
    return update


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr = ""

    async def stop(self, within: float = 15.0) -> int:
        """SIGTERM, as systemd or Ctrl-C does; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _out, err = await asyncio.wait_for(self.proc.communicate(), within)
        self.stderr = err.decode("utf-8", "replace")
        assert time.monotonic() - started < within
        assert self.proc.returncode is not None
        return self.proc.returncode


@pytest.fixture
async def stub() -> AsyncIterator[BotApiStub]:
    async with BotApiStub() as server:
        yield server


async def launch(tmp_path: Path, stub: BotApiStub, **env: str) -> BotProcess:
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "BOT_TOKEN": TOKEN,
             "BOT_API_URL": stub.url, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
             "PYTHONUNBUFFERED": "1", **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), cwd=tmp_path, env=clean,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    return BotProcess(proc)


async def kill(process: BotProcess) -> None:
    if process.proc.returncode is None:
        process.proc.kill()
        await process.proc.communicate()


def sent_to(stub: BotApiStub, chat_id: int) -> list[str]:
    return [str(m["text"]) for m in stub.sent if m["chat_id"] == chat_id]


# Generous bounds: on an idle machine the replies come within a second or two, but CI boxes running
# several suites at once can be many times slower; the bounds only decide when a hang is a failure.
REPLY_WITHIN = 60.0


async def wait_for(stub: BotApiStub, chat_id: int, within: float = REPLY_WITHIN) -> list[str]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if texts := sent_to(stub, chat_id):
            return texts
        await stub.wait_sent(len(stub.sent) + 1, within=0.5)
    return []


async def test_polling_start_reply_and_clean_stop(tmp_path: Path, stub: BotApiStub) -> None:
    process = await launch(tmp_path, stub)
    try:
        stub.queue_update(start_update(71001, "Ann", "en"))
        stub.queue_update(start_update(71002, "李", "zh-hans"))
        english, chinese = await asyncio.gather(wait_for(stub, 71001), wait_for(stub, 71002))
        assert english, f"no reply to /start; stats {stub.stats}"
        assert "Ann" in english[0]
        assert chinese and any("\u4e00" <= ch <= "\u9fff" for ch in chinese[0]), chinese
        assert (tmp_path / "bot.sqlite3").is_file()  # migrated on start
        assert stub.stats["methods"].get("setMyCommands")  # the menu, once per scope and language
        code = await process.stop()
    finally:
        await kill(process)
    assert code == 0, process.stderr
    assert "Traceback" not in process.stderr, process.stderr
    assert "stopped" in process.stderr.splitlines()[-1], process.stderr


async def test_webhook_secret_health_and_stop(tmp_path: Path, stub: BotApiStub) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = await launch(tmp_path, stub, WEBHOOK_URL=f"{url}/webhook", WEBHOOK_SECRET=SECRET,
                           WEBHOOK_PORT=str(port))
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + REPLY_WITHIN
            while True:
                try:
                    async with http.get(f"{url}/healthz") as health:
                        if health.status == 200:
                            assert (await health.json())["ok"] is True
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "webhook server never came up"
                assert process.proc.returncode is None, "the bot exited"
                await asyncio.sleep(0.2)

            body = json.dumps(start_update(72001, "Ben", "en", update_id=5001))
            headers = {"Content-Type": "application/json"}
            async with http.post(f"{url}/webhook", data=body, headers=headers) as missing:
                assert missing.status in (401, 403)
            async with http.post(f"{url}/webhook", data=body,
                                 headers={**headers, "X-Telegram-Bot-Api-Secret-Token": "wrong"}) as wrong:
                assert wrong.status in (401, 403)
            await asyncio.sleep(0.3)
            assert sent_to(stub, 72001) == []  # neither was processed

            good = {**headers, "X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(f"{url}/webhook", data=body, headers=good) as ok:
                assert ok.status == 200
            replies = await wait_for(stub, 72001)
            assert replies and "Ben" in replies[0]
            # Telegram retries a webhook delivery it thinks failed: the same update is handled once.
            count = len(sent_to(stub, 72001))
            async with http.post(f"{url}/webhook", data=body, headers=good) as again:
                assert again.status == 200
            await asyncio.sleep(0.5)
            assert len(sent_to(stub, 72001)) == count
        code = await process.stop()
    finally:
        await kill(process)
    assert code == 0, process.stderr
    assert "Traceback" not in process.stderr, process.stderr
    assert "stopped" in process.stderr.splitlines()[-1], process.stderr
