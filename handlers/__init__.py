"""Telegram routers: thin glue between updates and services. get_routers() is the one place that
decides the order routers are included in (specific before general, fallback last)."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from handlers import errors, groups, members, settings, start

    routers: list[Router] = [errors.router, groups.router, start.router, settings.router, members.router]
    for module in _capabilities():
        routers.append(module.router)
    routers.append(errors.fallback)
    return routers


def _capabilities() -> list:  # type: ignore[type-arg]
    """Capability routers, in order. A capability adds its module here."""
    modules = []
    for name in CAPABILITIES:
        modules.append(__import__(f"handlers.{name}", fromlist=["router"]))
    return modules


# Capability handler modules (each has `router`), included after onboarding and before the fallback.
CAPABILITIES: list[str] = []
