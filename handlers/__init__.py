"""Telegram routers: thin glue between updates and services. get_routers() is the one place that
decides the order routers are included in (specific before general, fallback last)."""

from __future__ import annotations

import importlib

from aiogram import Router

from bot.capabilities import handler_modules, load_all


def get_routers() -> list[Router]:
    from handlers import errors, groups, members, settings, start

    load_all()
    routers: list[Router] = [errors.router, groups.router, start.router, settings.router, members.router]
    for name in handler_modules():
        routers.append(importlib.import_module(name).router)
    routers.append(errors.fallback)
    return routers
