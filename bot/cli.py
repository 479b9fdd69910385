"""Capability subcommands of main.py (export, digest, backup ...). A capability's service module
registers its subcommand with `@subcommand(...)` at import; `load()` imports them all so that
`python main.py --help` lists everything."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bot.config import Settings

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace, Settings], int]
SUBCOMMANDS: dict[str, tuple[str, Configure, Run]] = {}


def subcommand(name: str, help_text: str, configure: Configure) -> Callable[[Run], Run]:
    def register(fn: Run) -> Run:
        SUBCOMMANDS[name] = (help_text, configure, fn)
        return fn

    return register


def load() -> dict[str, tuple[str, Configure, Run]]:
    from bot.capabilities import load_all

    load_all()
    return SUBCOMMANDS
