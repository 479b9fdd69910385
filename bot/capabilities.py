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


def handler_modules() -> list[str]:
    return [f"handlers.{n}" for n in CAPABILITIES if importlib.util.find_spec(f"handlers.{n}") is not None]
