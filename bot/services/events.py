"""Domain events: how a rule tells the words-and-buttons layer what happened, without knowing any words.

A service records a typed event (a frozen dataclass, e.g. `IssueAccepted(issue_id, by_id)`) with
`await self.events.record(...)`. Every notice registered for that event type (`@notice(IssueAccepted)` in
`bot/notices/<capability>.py`) runs at once, in the same session and so the same transaction: it decides
who is told what, in their language, and enqueues it in the outbox. If the update rolls back, the event's
messages roll back with it; nothing is sent that did not happen.

The dependency points one way: services import this module and their own event types; `bot/notices/`
imports services' types and registers here. A service never imports a notice (tests/unit/test_layers.py).
An event nobody listens to is a programming error (a notices module that was never imported), so it
raises instead of dropping a message in silence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock

if TYPE_CHECKING:
    from bot.services.chats import ChatsService
    from bot.services.members import MembersService
    from bot.services.outbox import Outbox


@dataclass(frozen=True)
class Event:
    """Base of every domain event: facts in ids and plain values, never text."""


E = TypeVar("E", bound=Event)
NoticeFn = Callable[[Any, "NoticeContext"], Awaitable[None]]
_NOTICES: dict[type[Event], list[NoticeFn]] = {}


def notice(event_type: type[E]) -> Callable[[Callable[[E, NoticeContext], Awaitable[None]]],
                                            Callable[[E, NoticeContext], Awaitable[None]]]:
    """Register the words for an event type (used by bot/notices/*). Registering the same function twice
    (a module imported again) keeps one."""

    def wrap(fn: Callable[[E, NoticeContext], Awaitable[None]]) -> Callable[[E, NoticeContext], Awaitable[None]]:
        fns = _NOTICES.setdefault(event_type, [])
        name = (fn.__module__, fn.__qualname__)
        fns[:] = [f for f in fns if (f.__module__, f.__qualname__) != name]
        fns.append(fn)
        return fn

    return wrap


@dataclass
class NoticeContext:
    """What a notice needs to word and send: the update's session and clock, and the same members, chats
    and outbox the service used (so the outbox rows join the service's transaction)."""

    session: AsyncSession
    clock: Clock
    members: MembersService
    chats: ChatsService
    outbox: Outbox


class Events:
    """A service's recorder. `recorded` keeps what was recorded through it (tests and handlers may look)."""

    def __init__(self, ctx: NoticeContext) -> None:
        self.ctx = ctx
        self.recorded: list[Event] = []

    async def record(self, event: Event) -> None:
        fns = _NOTICES.get(type(event))
        if not fns:
            _load_notices()
            fns = _NOTICES.get(type(event))
        if not fns:
            raise RuntimeError(f"no notice is registered for {type(event).__name__}")
        self.recorded.append(event)
        for fn in fns:
            await fn(event, self.ctx)


def _load_notices() -> None:
    """Import every capability's notices module (the registrations happen at import)."""
    from bot.capabilities import load_notices

    load_notices()
