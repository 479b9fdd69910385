"""The rules, free of aiogram. `build_services` makes the per-update set handlers receive by name
(e.g. a handler parameter `members: MembersService`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings


def build_services(session: AsyncSession, clock: Clock, settings: Settings) -> dict[str, Any]:
    from bot.capabilities import load_all
    from bot.services.chats import ChatsService
    from bot.services.members import MembersService
    from bot.services.onboarding import OnboardingService

    load_all()
    from bot.services.outbox import Outbox

    members = MembersService(session, clock, settings.admin_ids)
    outbox = Outbox(session, clock)
    chats = ChatsService(session, clock, members)
    services: dict[str, Any] = {
        "outbox": outbox,
        "members": members,
        "chats": chats,
        "onboarding": OnboardingService(session, clock, members, chats, outbox),
    }
    for name, factory in EXTRA_SERVICES.items():
        services[name] = factory(session, clock, settings, services)
    return services


# Capability service modules register their factories here when imported (see bot/capabilities.py):
# name -> factory(session, clock, settings, services) where `services` holds those built before it.
EXTRA_SERVICES: dict[str, Any] = {}
