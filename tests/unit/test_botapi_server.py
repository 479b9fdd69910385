"""The local Bot API server answers a real aiogram Bot over HTTP and enforces flood limits."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
)

from tests.botapi_server import BotApiStub, RateLimiter
from tests.telegram import TEST_TOKEN, Updates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def stub() -> AsyncIterator[BotApiStub]:
    async with BotApiStub() as server:
        yield server


@pytest.fixture
async def bot(stub: BotApiStub) -> AsyncIterator[Bot]:
    bot = Bot(
        TEST_TOKEN,
        session=AiohttpSession(api=stub.api),
        default=DefaultBotProperties(parse_mode="HTML"),
    )
    yield bot
    await bot.session.close()


async def test_send_message_over_http(stub: BotApiStub, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]])
    message = await bot.send_message(1001, "<b>Hello</b> &amp; welcome", reply_markup=markup)
    assert message.text == "Hello & welcome"
    assert message.chat.id == 1001 and message.message_id == 1
    assert message.reply_markup is not None
    second = await bot.send_message(1001, "again")
    assert second.message_id == 2
    edited = await bot.edit_message_text("edited", chat_id=1001, message_id=1)
    assert isinstance(edited, Message) and edited.text == "edited"
    assert [(s["method"], s["chat_id"], s["text"]) for s in stub.sent] == [
        ("sendMessage", 1001, "<b>Hello</b> &amp; welcome"),
        ("sendMessage", 1001, "again"),
    ]
    assert stub.sent[0]["params"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "go"
    assert stub.stats["methods"]["sendMessage"] == 2


async def test_refuses_parameters_the_method_does_not_list(stub: BotApiStub, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="disable_web_page_preview is not a parameter of sendMessage"):
        await bot.send_message(1001, "see https://example.org", disable_web_page_preview=True)
    message = await bot.send_message(1001, "see https://example.org",
                                     link_preview_options=LinkPreviewOptions(is_disabled=True))
    assert message.text == "see https://example.org"


async def test_uploads_albums_and_downloads(stub: BotApiStub, bot: Bot) -> None:
    photo = await bot.send_photo(-100777, BufferedInputFile(b"png-bytes", "chart.png"), caption="<i>Chart</i>")
    assert photo.caption == "Chart" and photo.photo is not None
    assert stub.sent[-1]["files"] and next(iter(stub.sent[-1]["files"].values()))["filename"] == "chart.png"
    document = await bot.send_document(1001, BufferedInputFile(b"x" * 10, "report.xlsx"))
    assert document.document is not None and document.document.file_name == "report.xlsx"
    album = await bot.send_media_group(
        1001,
        [InputMediaPhoto(media=BufferedInputFile(b"1", "1.jpg"), caption="two"), InputMediaPhoto(media="known-id")],
    )
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    file = await bot.get_file("known-id")
    assert file.file_path is not None
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == b"fake-bytes-of-known-id"
    assert stub.stats["sends"] == 3


async def test_queue_update_and_receive_it(stub: BotApiStub, bot: Bot) -> None:
    up = Updates()
    ann = up.user(1001, "Ann")
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{stub.url}/_control/updates",
            json=up.text(ann, "/start").model_dump(mode="json", by_alias=True, exclude_none=True),
        ) as response:
            assert (await response.json())["ok"]
        async with http.post(
            f"{stub.url}/_control/updates",
            json=[{"message": {"message_id": 5, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "x"}}],
        ) as response:
            ids = (await response.json())["update_ids"]
    updates = await bot.get_updates(timeout=1)
    assert [u.message.text for u in updates if u.message] == ["/start", "x"]
    assert ids == [updates[0].update_id + 1]
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []


async def test_long_polling_returns_when_an_update_arrives(stub: BotApiStub, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    loop.call_later(
        0.2,
        stub.queue_update,
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 7, "type": "private"}, "text": "late"}},
    )
    updates = await bot.get_updates(timeout=10)
    assert [u.message.text for u in updates if u.message] == ["late"]
    assert loop.time() - started < 5


async def test_second_poller_terminates_the_first(stub: BotApiStub, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError):
        await first
    assert await second == []


async def test_polling_dispatcher_end_to_end(stub: BotApiStub, bot: Bot) -> None:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome")

    dp = Dispatcher()
    dp.include_router(router)
    up = Updates()
    stub.queue_update(up.text(up.user(1001), "/start"))
    stub.queue_update(up.bot_added(-100555, up.user(1001)))
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        assert await stub.wait_sent(1, within=10)
    finally:
        await dp.stop_polling()
        await polling
    assert [(s["chat_id"], s["text"]) for s in stub.sent] == [(1001, "Welcome")]
    # my_chat_member is not among the handled update types: Telegram never delivers it.
    assert stub.state.allowed_updates == ["message"]


async def test_private_chat_limit_one_per_second(stub: BotApiStub, bot: Bot) -> None:
    stub.configure(limits=True)
    await bot.send_message(1001, "one")
    for text in ("two", "three"):
        with pytest.raises(TelegramRetryAfter) as raised:
            await bot.send_message(1001, text)
        assert raised.value.retry_after >= 1
    assert [s["text"] for s in stub.sent] == ["one"]
    assert stub.stats["rate_limited"] == 2
    await bot.send_message(1002, "another chat is fine")


async def test_group_and_global_limits(stub: BotApiStub, bot: Bot) -> None:
    stub.configure(limits=True)
    for i in range(20):
        await bot.send_message(-100123, f"group {i}")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(-100123, "one too many")
    assert 1 <= raised.value.retry_after <= 60
    for chat in range(2000, 2010):
        await bot.send_message(chat, "hi")  # 30 within the second
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(3000, "31st this second")
    assert stub.stats["sends"] == 30 and stub.stats["rate_limited"] == 2


def test_rate_limiter_windows_free_up() -> None:
    limiter = RateLimiter()
    assert limiter.acquire(1, 100.0) == 0
    assert limiter.acquire(1, 100.5) == 1
    assert limiter.acquire(1, 101.0) == 0
    for i in range(20):
        assert limiter.acquire(-5, 200.0 + i) == 0
    assert limiter.acquire(-5, 230.0) == 30  # the oldest of the 20 leaves the window at 260 s
    assert limiter.acquire(-5, 260.0) == 0


async def test_refusals_and_faults(stub: BotApiStub, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1001, "a < b")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1001, "😀" * 2049)
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="报" * 22)]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1001, "x", reply_markup=markup)
    stub.configure(blocked=[1001])
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await bot.send_message(1001, "x")
    stub.configure(blocked=[], fail_rate_500=1.0)
    with pytest.raises(TelegramServerError):
        await bot.send_message(1001, "x")
    stub.configure(fail_rate_500=0.0)
    await bot.send_message(1001, "fine")
    assert [s["text"] for s in stub.sent] == ["fine"]
    assert stub.stats["server_errors"] == 1


async def test_raw_http_json_form_and_unknown_method(stub: BotApiStub) -> None:
    base = f"{stub.url}/bot{TEST_TOKEN}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/sendMessage", json={"chat_id": 5, "text": "json"}) as response:
            assert (await response.json())["result"]["text"] == "json"
        async with http.post(f"{base}/SENDMESSAGE", data={"chat_id": "-5", "text": "form"}) as response:
            assert (await response.json())["result"]["chat"]["id"] == -5
        async with http.get(f"{base}/getMe") as response:
            assert (await response.json())["ok"]
        async with http.get(f"{base}/fooBar") as response:
            assert response.status == 404
        async with http.get(f"{stub.url}/_control/stats") as response:
            stats = await response.json()
        async with http.get(f"{stub.url}/_control/sent?since=1") as response:
            sent = await response.json()
        async with http.post(f"{stub.url}/_control/config", json={"limits": True, "seed": 3}) as response:
            assert (await response.json())["limits"] is True
        async with http.post(f"{stub.url}/_control/reset") as response:
            assert response.status == 200
    assert stats["sends"] == 2 and stats["requests"] == 4
    assert [s["text"] for s in sent] == ["form"]
    assert stub.sent == [] and stub.state.config.limits


async def test_standalone_process_prints_ready() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.botapi_server",
        "--port",
        "0",
        "--limits",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("READY ")
        port = int(line.split()[1])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/bot{TEST_TOKEN}/getMe") as response:
                assert (await response.json())["result"]["username"] == "test_bot"
            async with http.get(f"http://127.0.0.1:{port}/_control/config") as response:
                assert (await response.json())["limits"] is True
    finally:
        if process.returncode is None:
            process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
