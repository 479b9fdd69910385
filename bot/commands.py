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
    # The capabilities' commands, in the order /help lists them. They are words for Telegram's menu, so
    # they live here and not in the capabilities' services.
    CommandInfo("report", Level.RESIDENT, __("Report a problem with a photo")),
    CommandInfo("my", Level.RESIDENT, __("My reports and the issues I follow")),
    CommandInfo("issue", Level.RESIDENT, __("Show an issue: /issue NC0042")),
    CommandInfo("cleaning", Level.RESIDENT, __("Cleaning days: next dates and who's coming")),
    CommandInfo("cleanday", Level.CAPTAIN, __("Set up a cleaning day")),
    CommandInfo("announce", Level.CAPTAIN, __("Send an announcement to residents")),
    CommandInfo("export", Level.AREA_HEAD, __("Export the ledger (XLSX/CSV)")),
    CommandInfo("digest", Level.AREA_HEAD, __("Today's digest, or another day's")),
    CommandInfo("queue", Level.CAPTAIN, __("Open reports in my places")),
    CommandInfo("spotcheck", Level.STAFF, __("Spot-check issues closed out last week")),
    CommandInfo("patrols", Level.VOLUNTEER, __("My patrol shifts, open shifts, hours")),
    CommandInfo("roster", Level.CAPTAIN, __("Plan patrol routes and shifts")),
    CommandInfo("survey", Level.RESIDENT, __("Satisfaction surveys")),
    CommandInfo("consult", Level.CAPTAIN, __("Consultations: start one, follow it, go door to door")),
    CommandInfo("campaign", Level.CAPTAIN, __("Campaigns (专项整治): start one, see progress")),
    CommandInfo("contacts", Level.RESIDENT, __("Who to talk to: captains, area head, the office")),
    CommandInfo("inspect", Level.AREA_HEAD, __("Inspect a building with a checklist")),
    CommandInfo("ranking", Level.AREA_HEAD, __("Building scores and ranking")),
    CommandInfo("points", Level.RESIDENT, __("My volunteer points")),
    CommandInfo("board", Level.RESIDENT, __("What is open and what was fixed in your building")),
    CommandInfo("web", Level.AREA_HEAD, __("The office's desk in a browser")),
]


def register(*commands: CommandInfo) -> None:
    names = {c.name for c in COMMANDS}
    for command in commands:
        if command.name not in names:
            COMMANDS.append(command)
            names.add(command.name)


def visible(level: Level, *, private: bool = True) -> list[CommandInfo]:
    return [c for c in COMMANDS if c.level <= level and (c.private if private else c.group)]
