"""Callback data and buttons of an issue card (triage in the team chat, /queue, /issue).

The buttons are returned as plain (text, callback_data) rows so that services can put them into the
outbox; handlers turn them into markup with `markup()`."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import _
from models import Issue, IssueStatus

Rows = list[list[tuple[str, str]]]


class IssueCb(CallbackData, prefix="is"):
    """action: accept | assign | deadline | reject | resolve | triage | note | ask | more | details |
    follow | confirm | notfixed | rate | withdraw | edit | ... ; arg: an action's small argument."""

    action: str
    id: int
    arg: str = ""


def cb(action: str, issue_id: int, arg: str = "") -> str:
    return IssueCb(action=action, id=issue_id, arg=arg).pack()


def triage_buttons(issue: Issue) -> Rows:
    """The card's buttons for its status (what a captain can do next)."""
    i = issue.id
    if issue.status == IssueStatus.NEW:
        return [[(_("✅ Accept"), cb("accept", i)), (_("👤 Assign"), cb("assign", i))],
                [(_("⏰ Deadline"), cb("deadline", i)), (_("❌ Reject"), cb("reject", i)),
                 (_("⋯ More"), cb("more", i))]]
    if issue.status in (IssueStatus.ACCEPTED, IssueStatus.IN_PROGRESS, IssueStatus.REOPENED):
        return [[(_("🔧 Resolve"), cb("resolve", i)), (_("👤 Assign"), cb("assign", i))],
                [(_("⏰ Deadline"), cb("deadline", i)), (_("⋯ More"), cb("more", i))]]
    return [[(_("📄 Details"), cb("details", i))]]


def markup(rows: Rows) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows])
