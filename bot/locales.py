"""The languages the bot speaks, as plain data (no gettext): services store and compare locale names,
the words themselves are bot/i18n.py's."""

from __future__ import annotations

SUPPORTED = ("en", "zh_Hans")


def normalize_locale(tag: str | None) -> str | None:
    """Map a Telegram language tag (en-US, zh-hans, zh-hant-tw, zh_Hans ...) to a supported locale."""
    if not tag:
        return None
    low = tag.replace("_", "-").lower()
    if low == "zh" or low.startswith("zh-"):
        # Traditional tags fall back to Simplified until a Traditional catalogue exists.
        return "zh_Hans"
    if low == "en" or low.startswith("en-"):
        return "en"
    return None
