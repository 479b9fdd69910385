"""The command catalogue: which commands exist, who may use them (by role level) and their help text.
/help and the bot menu (setMyCommands) are built from it. Capabilities add their commands here."""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import LazyString, __
from bot.services.access import Level


@dataclass(frozen=True)
class CommandInfo:
    name: str
    level: Level
    description: LazyString
    private: bool = True
    group: bool = False


COMMANDS: list[CommandInfo] = [
    CommandInfo("start", Level.NONE, __("Start, or join your building")),
    CommandInfo("help", Level.NONE, __("What I can do for you"), group=True),
    CommandInfo("settings", Level.NONE, __("Language, notifications and quiet hours")),
    CommandInfo("privacy", Level.NONE, __("What I store and who sees it")),
    CommandInfo("deletedata", Level.NONE, __("Delete my personal data")),
    CommandInfo("cancel", Level.NONE, __("Stop what we are doing")),
    CommandInfo("members", Level.CAPTAIN, __("People and roles in my places")),
    CommandInfo("invite", Level.CAPTAIN, __("Invite links and group link codes")),
    CommandInfo("link", Level.CAPTAIN, __("Link this group to a place"), private=False, group=True),
    CommandInfo("unlink", Level.CAPTAIN, __("Unlink this group"), private=False, group=True),
]


def register(*commands: CommandInfo) -> None:
    names = {c.name for c in COMMANDS}
    for command in commands:
        if command.name not in names:
            COMMANDS.append(command)
            names.add(command.name)


def visible(level: Level, *, private: bool = True) -> list[CommandInfo]:
    return [c for c in COMMANDS if c.level <= level and (c.private if private else c.group)]
