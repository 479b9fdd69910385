"""Openings many end-to-end stories share (built on tests/e2e/test_triage.py's helpers)."""

from __future__ import annotations

from typing import Any

from tests.conftest import BotHarness, unique_id
from tests.e2e.test_triage import CAPTAIN, groups, person, set_locale


async def english_with_ann(harness: BotHarness) -> Any:
    """An English community with its team and area chats, and Ann: a new resident of Building 1, her
    private chat open."""
    await set_locale(harness, "en")
    groups(harness)
    return await person(harness, unique_id(), "Ann", resident_of="b1")


async def ann_and_zhang(harness: BotHarness) -> tuple[Any, Any]:
    """english_with_ann, and Captain Zhang."""
    ann = await english_with_ann(harness)
    return ann, await person(harness, CAPTAIN, "Zhang")
