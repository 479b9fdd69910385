"""Callback data and buttons of an issue card (triage in the team chat, /queue, /issue).

The buttons are returned as plain (text, callback_data) rows so that services can put them into the
outbox; handlers turn them into markup with `markup()`."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import _
from bot.keyboards.common import CancelCb
from bot.services.lifecycle import CARD, IssueAction, available_actions
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


# What each button of a card does: its label and its callback's action (the IssueCb name, kept short).
def _button(action: IssueAction, issue_id: int) -> tuple[str, str]:
    labels = {
        IssueAction.ACCEPT: (_("✅ Accept"), "accept"),
        IssueAction.ASSIGN: (_("👤 Assign"), "assign"),
        IssueAction.DEADLINE: (_("⏰ Deadline"), "deadline"),
        IssueAction.REJECT: (_("❌ Reject"), "reject"),
        IssueAction.RESOLVE: (_("🔧 Resolve"), "resolve"),
        IssueAction.REFUSED: (_("🚫 Refused to comply"), "refused"),
        IssueAction.SETTLE: (_("🤝 Settled"), "settled"),
        IssueAction.TOUCH: (_("📞 Put in touch"), "touch"),
        IssueAction.CONSULT: (_("🗳 Start a consultation"), "consult"),
        IssueAction.VERIFY: (_("✅ Verify and close"), "verify"),
        IssueAction.NOT_ACCEPTED: (_("❌ Not accepted"), "notacc"),
        IssueAction.DETAILS: (_("📄 Details"), "details"),
        IssueAction.TRIAGE: (_("🏷 Triage"), "triage"),
        IssueAction.NOTE: (_("📝 Note"), "note"),
        IssueAction.REFER: (_("📨 Refer to a department"), "refer"),
        IssueAction.NOTICE: (_("📄 Rectification notice"), "notice"),
        IssueAction.ASK: (_("❓ Ask the reporter"), "ask"),
    }
    text, name = labels[action]
    return text, cb(name, issue_id)


MORE = "more"  # the ⋯ More sub-menu: not an action of its own
A = IssueAction
_WORK = (IssueStatus.ACCEPTED, IssueStatus.IN_PROGRESS, IssueStatus.REOPENED)
# Where each action sits on the card, per status. Whether it is there at all is the lifecycle table's
# (bot/services/lifecycle.py); a button whose action the status does not allow is left out.
_CARD: list[tuple[tuple[str, ...], list[list[IssueAction | str]]]] = [
    ((IssueStatus.NEW,), [[A.ACCEPT, A.ASSIGN], [A.DEADLINE, A.REJECT, MORE]]),
    # The department reports back: fixed (the normal resolve → verification path) or refused.
    ((IssueStatus.REFERRED,), [[A.RESOLVE, A.REFUSED], [A.DEADLINE, MORE]]),
    # A private matter closes when the sides settle it, not with an "after" photo; the captain's job is to
    # put the sides in touch (a relay through the bot, bot/services/relays.py). A joint matter (小事) may
    # need the building's say: a consultation from the card.
    (_WORK, [[A.RESOLVE, A.ASSIGN], [A.SETTLE, A.TOUCH], [A.CONSULT], [A.DEADLINE, MORE]]),
    ((IssueStatus.VERIFYING,), [[A.VERIFY, A.NOT_ACCEPTED], [A.DETAILS]]),
]


def _rows(issue: Issue, layout: list[list[IssueAction | str]]) -> Rows:
    available = set(available_actions(issue, CARD))
    rows: Rows = []
    for row in layout:
        buttons = [(_("⋯ More"), cb("more", issue.id)) if a == MORE else _button(IssueAction(a), issue.id)
                   for a in row if a == MORE or a in available]
        if buttons:
            rows.append(buttons)
    return rows


def triage_buttons(issue: Issue) -> Rows:
    """The card's buttons for its status (what a captain can do next)."""
    for statuses, layout in _CARD:
        if issue.status in statuses:
            return _rows(issue, layout)
    return _rows(issue, [[A.DETAILS]])


def consult_confirm_buttons(issue_id: int) -> Rows:
    return [[(_("✅ Start it"), cb("consult", issue_id, "go"))], back_row(issue_id)]


def verify_buttons(issue_id: int) -> Rows:
    """The optional on-site photo and note of a check: send them, or close now."""
    return [[(_("✅ Close without a photo"), cb("vfy", issue_id, "go"))], [(_("✖️ Cancel"), CancelCb().pack())]]


def markup(rows: Rows) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows])


# ---------------------------------------------------------------------------- triage sub-menus
# Sub-menus replace the card's buttons in place (the same message), so a captain never gets a new
# message per click; ⬅️ Back restores the card's buttons.


def back_row(issue_id: int) -> list[tuple[str, str]]:
    return [(_("⬅️ Back"), cb("back", issue_id))]


def more_buttons(issue: Issue) -> Rows:
    i = issue.id
    # ❌ Reject sits on a new card's first screen already, and a referred issue is the department's.
    rows = _rows(issue, [[A.REJECT]] if issue.status in _WORK else [])
    rows += _rows(issue, [[A.TRIAGE, A.NOTE], [A.REFER, A.NOTICE], [A.ASK, A.DETAILS]])
    # The campaigns (专项整治) menu: bot/keyboards/campaigns.py IssueCampCb(a="menu", i=id, c=0), written
    # packed because that module imports this one.
    rows.append([(_("🎯 Campaign"), f"ic:menu:{i}:0")])
    rows.append(back_row(i))
    return rows


def deadline_buttons(issue_id: int) -> Rows:
    return [[(_("+1 day"), cb("dl", issue_id, "1")), (_("+3 days"), cb("dl", issue_id, "3")),
             (_("+7 days"), cb("dl", issue_id, "7"))],
            [(_("📅 Pick a date"), cb("dl", issue_id, "pick"))], back_row(issue_id)]


def reject_buttons(issue_id: int) -> Rows:
    return [[(_("Not a problem"), cb("rej", issue_id, "not_a_problem"))],
            [(_("Not our responsibility"), cb("rej", issue_id, "not_ours"))],
            [(_("Duplicate of #…"), cb("rej", issue_id, "duplicate"))], back_row(issue_id)]


def triage_kind_buttons(issue_id: int) -> Rows:
    return [[(_("🏛 Office (big matter)"), cb("tri", issue_id, "office"))],
            [(_("🤝 Joint (small matter)"), cb("tri", issue_id, "joint"))],
            [(_("🏠 Residents (private matter)"), cb("tri", issue_id, "residents"))], back_row(issue_id)]


def note_kind_buttons(issue_id: int) -> Rows:
    return [[(_("🔒 Internal note"), cb("note", issue_id, "internal")),
             (_("📢 Public note"), cb("note", issue_id, "public"))], back_row(issue_id)]


def assign_buttons(issue_id: int, people: list[tuple[int, str]]) -> Rows:
    """people: (member id, shown name)."""
    rows: Rows = []
    row: list[tuple[str, str]] = []
    for member_id, name in people:
        row.append((f"👤 {name[:24]}", cb("asg", issue_id, str(member_id))))
        if len(row) == 2:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    rows.append([(_("🏢 Community office"), cb("asg", issue_id, "office"))])
    rows.append(back_row(issue_id))
    return rows


def department_buttons(issue_id: int, departments: list[tuple[int, str]]) -> Rows:
    """departments: (id, label in the viewer's language)."""
    return [*([(f"📨 {label[:40]}", cb("ref", issue_id, str(dept_id)))] for dept_id, label in departments[:8]),
            back_row(issue_id)]


def referral_deadline_buttons(issue_id: int, department_id: int, days: tuple[int, ...]) -> Rows:
    return [[(_("{n} days").format(n=n), cb("refd", issue_id, f"{department_id}-{n}")) for n in days],
            back_row(issue_id)]


def confirm_buttons(issue_id: int, *, reporter: bool) -> Rows:
    """Under the "is it fixed?" question: the reporter confirms or not; followers can only say no."""
    if reporter:
        return [[(_("👍 Fixed, thank you"), cb("confirm", issue_id)), (_("👎 Not fixed"), cb("notfixed", issue_id))]]
    return [[(_("👎 Not fixed"), cb("notfixed", issue_id))]]


def rating_buttons(issue_id: int) -> Rows:
    return [[(str(n), cb("rate", issue_id, str(n))) for n in range(1, 6)]]


def skip_note_buttons(issue_id: int) -> Rows:
    return [[(_("✅ Resolve without a note"), cb("rsv", issue_id, "go"))], [(_("✖️ Cancel"), CancelCb().pack())]]


# ---------------------------------------------------------------------------- /queue


class QueueCb(CallbackData, prefix="q"):
    """status: open | new | work | resolved | overdue | verify; cat: category key or ""; page from 0;
    open: an issue id to show (0 = the list)."""

    status: str = "open"
    cat: str = ""
    page: int = 0
    open: int = 0


class CampaignQueueCb(CallbackData, prefix="qc"):
    """/queue filtered to one campaign (专项整治): QueueCb's fields and the campaign's id. A prefix of its
    own, so the packed QueueCb stays as it was (buttons already sent keep working)."""

    status: str = "open"
    cat: str = ""
    page: int = 0
    open: int = 0
    cg: int = 0


def queue_cb(cg: int = 0, **fields: object) -> QueueCb | CampaignQueueCb:
    return CampaignQueueCb(cg=cg, **fields) if cg else QueueCb(**fields)  # type: ignore[arg-type]


QUEUE_FILTERS = ("open", "new", "work", "overdue", "resolved", "verify")


def queue_filter_label(status: str) -> str:
    return {"open": _("All open"), "new": _("🆕 New"), "work": _("🔧 In progress"), "overdue": _("⚠️ Overdue"),
            "resolved": _("✅ Awaiting confirmation"), "verify": _("🔍 To verify")}.get(status, status)
