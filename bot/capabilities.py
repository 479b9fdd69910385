"""The capabilities of the bot, in one list. Each name is a module in every layer that has one:
`bot/services/<name>.py` (importing it registers its service factory, scheduled jobs, structure-file
sections, digest sections and CLI subcommands) and `handlers/<name>.py` (its router). Adding a
capability is adding its name here."""

from __future__ import annotations

import importlib
import importlib.util

CAPABILITIES: list[str] = ["background", "cleaning", "announcements", "operations", "digests", "reporting",
                           "triage", "ledger", "patrols", "households", "surveys", "consultations", "referrals",
                           "notices", "web", "campaigns", "relays", "inspections", "scores", "points", "board"]

# Words for parts of the bot that are not capabilities of their own (issue cards, onboarding, members,
# recurrence rules, the rectification notice).
NOTICE_ONLY: list[str] = ["cards", "onboarding", "members", "recurrence", "rectification"]

_loaded = False


def load_all() -> None:
    """Import every capability's service module once (registrations happen at import)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in CAPABILITIES:
        if importlib.util.find_spec(f"bot.services.{name}") is not None:
            importlib.import_module(f"bot.services.{name}")
    load_notices()


_notices_loaded = False


def load_notices() -> None:
    """Import every capability's words-and-buttons module (`bot/notices/<name>.py`): importing one
    registers its `@notice(Event)` functions (bot/services/events.py). Services never import them."""
    global _notices_loaded
    if _notices_loaded:
        return
    _notices_loaded = True
    for name in CAPABILITIES + NOTICE_ONLY:
        if importlib.util.find_spec(f"bot.notices.{name}") is not None:
            importlib.import_module(f"bot.notices.{name}")


def handler_modules() -> list[str]:
    return [f"handlers.{n}" for n in CAPABILITIES if importlib.util.find_spec(f"handlers.{n}") is not None]
