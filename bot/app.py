"""Builds engine, bot, dispatcher, outbox sender and scheduler, wires the dependencies, and runs the
bot in polling or webhook mode with a clean shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramRetryAfter
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import LinkPreviewOptions, TelegramObject
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.db import create_engine, current_session, session_factory
from bot.fsm_storage import SqlStorage
from bot.jobs import JobContext, Ticker
from bot.logging import UpdateContextMiddleware
from bot.middlewares import (
    ChatOrderMiddleware,
    DbMiddleware,
    HandlerName,
    MemberMiddleware,
    StateMiddleware,
    ThrottlingMiddleware,
    TimeBudget,
)
from bot.sender import OutboxSender
from bot.worker import JobWorker

log = logging.getLogger(__name__)

# Handlers running at once per process: below the database pool (10 + 20 overflow) so that the outbox
# sender and the scheduler always find a connection.
HANDLER_CONCURRENCY = 20


class InFlight(BaseMiddleware):
    """Counts running handlers so that shutdown can let them finish (within a bound), and caps how many
    run at once: in webhook mode aiogram starts a task per POST, and a burst of hundreds would otherwise
    all wait for a database connection at the same time and time out instead of queueing."""

    def __init__(self, limit: int = 0) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()
        self.slots = asyncio.Semaphore(limit or HANDLER_CONCURRENCY)

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        self.count += 1
        self.idle.clear()
        try:
            async with self.slots:
                return await handler(event, data)
        finally:
            self.count -= 1
            if self.count == 0:
                self.idle.set()


# aiogram parses every answer with the model class Response[T]; pydantic keeps such parametrised classes
# only weakly, so each garbage collection threw them away and the next call rebuilt one (tens of ms,
# measured: most of a /help's cost). Holding them for the process's life keeps them built.
_RESPONSE_MODELS: dict[Any, Any] = {}


class KeepResponseModels(BaseRequestMiddleware):
    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        returning = method.__returning__
        if returning not in _RESPONSE_MODELS:
            _RESPONSE_MODELS[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)


class CommitBeforeRequest(BaseRequestMiddleware):
    """Commit the handler's work before each call to Telegram (see bot.db.current_session)."""

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        session = current_session.get()
        if session is not None and session.in_transaction():
            await session.commit()
        return await make_request(bot, method)


REPLY_RETRY_MAX_WAIT = 3  # seconds: a person's own reply waits this long at most for a flood window


class RetryReplyAfterFlood(BaseRequestMiddleware):
    """A reply sent while handling a person's update (their answer, their /cleaning list) waits out a
    short 429 and is sent again, instead of failing the update after its work was committed: the
    outbox may just have delivered a reminder to the same chat (1 message/s per chat). Only inside
    a handler (current_session set); the outbox sender handles its own 429s."""

    async def __call__(self, make_request: NextRequestMiddlewareType[Any], bot: Bot,
                       method: TelegramMethod[Any]) -> Any:
        for attempt in range(3):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if current_session.get() is None or exc.retry_after > REPLY_RETRY_MAX_WAIT or attempt == 2:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")


def create_bot(settings: Settings, session: BaseSession | None = None) -> Bot:
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.bot_api_url)) \
            if settings.bot_api_url else AiohttpSession()
    session.middleware(KeepResponseModels())
    session.middleware(CommitBeforeRequest())
    session.middleware(RetryReplyAfterFlood())
    # Previews off through link_preview_options: aiogram's link_preview_is_disabled also fills the
    # disable_web_page_preview parameter, which the Bot API no longer lists (replaced in 7.0).
    return Bot(settings.bot_token, session=session,
               default=DefaultBotProperties(parse_mode=ParseMode.HTML,
                                            link_preview=LinkPreviewOptions(is_disabled=True)))


def create_storage(settings: Settings, sessions: async_sessionmaker[AsyncSession]
                   ) -> tuple[BaseStorage, BaseEventIsolation]:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import DefaultKeyBuilder, RedisEventIsolation, RedisStorage

        # Keys carry the bot id and the destiny, like SqlStorage: several bots may share one Redis,
        # and a non-default destiny would otherwise raise in aiogram's default key builder.
        keys = DefaultKeyBuilder(prefix=settings.redis_prefix, with_bot_id=True, with_destiny=True)
        from redis.asyncio import BlockingConnectionPool, Redis

        # A blocking pool: under a burst, callers wait for a connection instead of failing with
        # "Too many connections" (every chat's isolation lock polls Redis while it waits).
        pool = BlockingConnectionPool.from_url(settings.redis_url, max_connections=64, timeout=30)
        storage = RedisStorage(Redis(connection_pool=pool), key_builder=keys)
        return storage, RedisEventIsolation(storage.redis, key_builder=keys)
    return SqlStorage(sessions), SimpleEventIsolation()


def create_throttle(settings: Settings, storage: BaseStorage) -> ThrottlingMiddleware:
    """The per-person throttle: with REDIS_URL shared by every worker through the FSM storage's Redis
    client, else kept in this process."""
    shared = getattr(storage, "redis", None) if settings.redis_url else None
    return ThrottlingMiddleware(rate=settings.throttle_rate, redis=shared, prefix=settings.redis_prefix)


def create_dispatcher(settings: Settings, sessions: async_sessionmaker[AsyncSession], *,
                      clock: Clock = system_clock, storage: BaseStorage | None = None,
                      isolation: BaseEventIsolation | None = None,
                      on_commit: Callable[[], None] | None = None,
                      in_flight: InFlight | None = None) -> Dispatcher:
    from handlers import get_routers

    if storage is None:
        storage, isolation = create_storage(settings, sessions)
    # FSM wiring is ours (bot/middlewares/fsm.py): the chat lock outside, the state read inside the session.
    dp = Dispatcher(storage=storage, events_isolation=isolation or SimpleEventIsolation(), disable_fsm=True)
    dp.update.outer_middleware(ChatOrderMiddleware(dp.fsm))
    # Every log record made while handling an update carries its id (bot/logging.py).
    dp.update.outer_middleware(UpdateContextMiddleware())
    if in_flight is not None:
        dp.update.outer_middleware(in_flight)
    dp.update.outer_middleware(create_throttle(settings, storage))
    db_middleware = DbMiddleware(sessions, settings, clock, on_commit)
    dp.update.outer_middleware(db_middleware)
    dp.update.outer_middleware(StateMiddleware())
    dp.update.outer_middleware(MemberMiddleware())
    # Innermost: the budget covers the handler, and on running out it still has the session and locale.
    budget = TimeBudget(settings.update_time_budget)
    dp.update.outer_middleware(budget)
    for name, observer in dp.observers.items():
        if name not in ("update", "error"):
            observer.middleware(HandlerName())
    dp.include_routers(*get_routers())
    _run_sync_filters_inline(dp)
    # Kept for tests that swap the database or clock under a dispatcher built once per session.
    dp["db_middleware"] = db_middleware
    dp["time_budget"] = budget
    return dp


def _run_sync_filters_inline(dp: Dispatcher) -> None:
    """aiogram runs every synchronous filter (each `F.…` magic filter among them) in a worker thread; an
    update meets dozens of them on its way through the routers, and the thread round trips were a large
    part of dispatch time (measured with tests/benchmarks/bench_dispatch.py). They are pure and take
    microseconds: run them in the event loop."""
    for router in dp.chain_tail:
        for observer in router.observers.values():
            holders = [getattr(observer, "_handler", None), *observer.handlers]
            for holder in holders:
                for filter_ in (holder.filters or []) if holder is not None else []:
                    if not filter_.awaitable:
                        filter_.callback = _awaitable(filter_.callback)
                        filter_.awaitable = True


def _awaitable(sync: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def run(*args: Any, **kwargs: Any) -> Any:
        return sync(*args, **kwargs)

    return run


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bot: Bot
    dp: Dispatcher
    sender: OutboxSender
    ticker: Ticker
    clock: Clock
    in_flight: InFlight = field(default_factory=InFlight)
    worker: JobWorker | None = None


def build_app(settings: Settings, *, bot_session: BaseSession | None = None,
              clock: Clock = system_clock) -> App:
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    bot = create_bot(settings, bot_session)
    sender = OutboxSender(bot, sessions, rate=settings.send_rate, clock=clock)
    in_flight = InFlight()
    worker = JobWorker(bot, sessions, settings, clock=clock, on_enqueue=sender.wake)

    def committed() -> None:
        # An update's commit may have queued messages (the sender) or a background job (the worker).
        sender.wake()
        worker.wake()

    dp = create_dispatcher(settings, sessions, clock=clock, on_commit=committed, in_flight=in_flight)
    ticker = Ticker(JobContext(sessions, clock, settings, bot), on_done=sender.wake)
    return App(settings, engine, sessions, bot, dp, sender, ticker, clock, in_flight, worker)


async def set_commands(bot: Bot) -> None:
    """The bot menu, set once per scope and language (not per user)."""
    from aiogram.types import (
        BotCommand,
        BotCommandScopeAllChatAdministrators,
        BotCommandScopeAllGroupChats,
        BotCommandScopeAllPrivateChats,
    )

    from bot.commands import visible
    from bot.i18n import use_locale
    from bot.services.access import Level

    for locale, code in (("en", None), ("zh_Hans", "zh")):
        with use_locale(locale):
            private = [BotCommand(command=c.name, description=str(c.description)[:256])
                       for c in visible(Level.RESIDENT)]
            group = [BotCommand(command=c.name, description=str(c.description)[:256])
                     for c in visible(Level.NONE, private=False)]
            admins = [BotCommand(command=c.name, description=str(c.description)[:256])
                      for c in visible(Level.STAFF, private=False)]
        await bot.set_my_commands(private, scope=BotCommandScopeAllPrivateChats(), language_code=code)
        await bot.set_my_commands(group, scope=BotCommandScopeAllGroupChats(), language_code=code)
        await bot.set_my_commands(admins, scope=BotCommandScopeAllChatAdministrators(), language_code=code)


def start_scheduler(tick: Callable[[], Awaitable[Any]], seconds: float) -> Any:
    """The periodic tick, first `seconds` from now (the run starts one at once itself). Not
    `next_run_time=None`: to APScheduler that means a paused job, and the bot ticked only at start."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    async def run_tick() -> None:
        # The tick runs in its own task: APScheduler's shutdown cancels the jobs it is running (and logs
        # the CancelledError as a failed job with its traceback). Shielded, the tick goes on, and the
        # shutdown waits for it (Ticker.stop) before the engine is disposed.
        task = asyncio.ensure_future(tick())
        with suppress(asyncio.CancelledError):
            await asyncio.shield(task)

    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
    scheduler.add_job(run_tick, "interval", seconds=seconds, id="tick", coalesce=True, max_instances=1,
                      misfire_grace_time=None)
    scheduler.start()
    return scheduler


async def run(app: App, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or until `stop` is set): scheduler, outbox sender, then polling or the
    webhook server."""
    settings = app.settings
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)

    me = await app.bot.get_me()
    log.info("bot @%s starting (%s mode)", me.username, "webhook" if settings.webhook_url else "polling")
    with suppress(Exception):
        await set_commands(app.bot)

    from bot import charts

    charts.configure(settings.chart_workers)  # the pool itself starts with the first chart
    scheduler = start_scheduler(app.ticker.tick, settings.tick_seconds)
    sender_task = asyncio.create_task(app.sender.run(), name="outbox-sender")
    # Long work (exports, digests on demand) runs here, off the update path.
    worker_task = asyncio.create_task(app.worker.run(), name="job-worker") if app.worker is not None else None
    # Catch up at once after downtime instead of waiting for the first interval.
    first_tick = asyncio.create_task(app.ticker.tick(), name="first-tick")

    try:
        if settings.webhook_url:
            await _serve_webhook(app, stop)
        else:
            from bot.polling import Poller

            desk = await _serve_desk(app) if settings.web_url else None
            polling = asyncio.create_task(Poller(app.bot, app.dp).run(stop), name="polling")
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({polling, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            # A batch being handled finishes (within the grace period) so that it is not handled twice.
            try:
                await asyncio.wait_for(polling, settings.shutdown_grace + 5)
            except TimeoutError:
                log.warning("stopping in the middle of a batch; Telegram will deliver it again")
            if desk is not None:
                await desk.cleanup()
    finally:
        log.info("stopping: waiting up to %.0fs for %d running handler(s)", settings.shutdown_grace,
                 app.in_flight.count)
        with suppress(TimeoutError):
            await asyncio.wait_for(app.in_flight.idle.wait(), settings.shutdown_grace)
        # The scheduler first (no new tick), then the tick that may be running (the first one or the
        # scheduler's) finishes before the engine goes: disposing it under a running job logged a
        # traceback from the job's session.
        scheduler.shutdown(wait=False)
        await app.ticker.stop(settings.shutdown_grace)
        with suppress(BaseException):
            await first_tick
        if app.worker is not None and worker_task is not None:
            # A job still running is queued again and resumed at the next start.
            await app.worker.stop(settings.shutdown_grace)
            with suppress(BaseException):
                await asyncio.wait_for(worker_task, 10)
        # No tick or job draws any more: the chart processes can go.
        with suppress(Exception):
            await asyncio.to_thread(charts.shutdown)
        await app.sender.stop()
        with suppress(TimeoutError):
            await asyncio.wait_for(sender_task, 20)
        with suppress(Exception):
            await app.ticker.release()
        await app.dp.storage.close()
        await app.bot.session.close()
        await app.engine.dispose()
        log.info("stopped")


async def _serve_webhook(app: App, stop: asyncio.Event) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    settings = app.settings
    web_app = web.Application()

    async def health(_request: web.Request) -> web.Response:
        async with app.sessions() as session:
            from sqlalchemy import text

            await session.execute(text("SELECT 1"))
        return web.json_response({"ok": True, "in_flight": app.in_flight.count})

    web_app.router.add_get("/healthz", health)
    SimpleRequestHandler(dispatcher=app.dp, bot=app.bot, secret_token=settings.webhook_secret,
                         # Answer Telegram after the update was handled (and committed): a worker that
                         # dies mid-update leaves it unanswered, and Telegram delivers it again.
                         handle_in_background=False).register(web_app, path=_webhook_path(settings))
    setup_application(web_app, app.dp, bot=app.bot)
    if settings.web_url:
        # The desk shares the webhook's server (and its nginx site).
        from bot.web import DeskContext, setup_desk

        setup_desk(web_app, DeskContext(settings, app.sessions, app.clock, app.bot))
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port, reuse_port=True)
    await site.start()
    assert settings.webhook_url
    if not settings.webhook_url.startswith("http://127.0.0.1"):
        await app.bot.set_webhook(settings.webhook_url, secret_token=settings.webhook_secret,
                                  allowed_updates=app.dp.resolve_used_update_types())
    log.info("webhook listening on %s:%s", settings.webhook_host, settings.webhook_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def _serve_desk(app: App) -> Any:
    """In polling mode the desk gets a server of its own on WEB_HOST:WEB_PORT (only when WEB_URL is set)."""
    from aiohttp import web

    from bot.web import DeskContext, desk_app

    settings = app.settings
    runner = web.AppRunner(desk_app(DeskContext(settings, app.sessions, app.clock, app.bot)))
    await runner.setup()
    await web.TCPSite(runner, settings.web_host, settings.web_port).start()
    log.info("desk listening on %s:%s (%s)", settings.web_host, settings.web_port, settings.web_url)
    return runner


def _webhook_path(settings: Settings) -> str:
    from urllib.parse import urlparse

    path = urlparse(settings.webhook_url or "").path
    return path or "/webhook"
