"""Middlewares, in the order the dispatcher wraps them: throttling, database session and services,
current member and locale."""

from bot.middlewares.db import DbMiddleware
from bot.middlewares.member import MemberMiddleware
from bot.middlewares.throttling import ThrottlingMiddleware

__all__ = ["DbMiddleware", "MemberMiddleware", "ThrottlingMiddleware"]
