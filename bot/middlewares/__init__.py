"""Middlewares, in the order the dispatcher wraps them: the chat's lock, throttling, database session
and services, FSM state, current member and locale, the update's time budget."""

from bot.middlewares.budget import HandlerName, TimeBudget
from bot.middlewares.db import DbMiddleware
from bot.middlewares.fsm import ChatOrderMiddleware, StateMiddleware
from bot.middlewares.member import MemberMiddleware
from bot.middlewares.throttling import ThrottlingMiddleware

__all__ = ["ChatOrderMiddleware", "DbMiddleware", "HandlerName", "MemberMiddleware", "StateMiddleware",
           "ThrottlingMiddleware", "TimeBudget"]
