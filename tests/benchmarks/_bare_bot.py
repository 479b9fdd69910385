"""The yardstick for bench_process: a bare aiogram bot polling the Bot API stand-in, answering /help with
a fixed text (no database, no middlewares). BOT_TOKEN and BOT_API_URL from the environment."""

from __future__ import annotations

import asyncio
import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import Message


async def main() -> None:
    api = TelegramAPIServer.from_base(os.environ["BOT_API_URL"])
    bot = Bot(os.environ["BOT_TOKEN"], session=AiohttpSession(api=api))
    dp = Dispatcher()

    @dp.message(Command("help"))
    async def help_(message: Message) -> None:
        await message.answer("Commands: /start /help")

    logging.basicConfig(level=logging.WARNING)
    await dp.start_polling(bot, handle_signals=True)


if __name__ == "__main__":
    asyncio.run(main())
