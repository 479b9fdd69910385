"""Capability subcommands of main.py (export, digest, backup ...). Each registers with
`main.subcommand`; this module imports them so that `python main.py --help` lists them all."""

from __future__ import annotations

import importlib

CLI_MODULES: list[str] = []

for _name in CLI_MODULES:
    importlib.import_module(_name)
