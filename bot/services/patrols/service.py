"""PatrolService: every patrol rule, one layer per seam, each module's class building on the one before:
base (loading) → roster (the weekly message) → planning → volunteers → duty → reminders."""

from __future__ import annotations

from bot.services.patrols.reminders import Scheduled


class PatrolService(Scheduled):
    """The rules of volunteer patrols (bot/services/patrols/__init__.py says which)."""


__all__ = ["PatrolService"]
