"""Callback data and buttons of relays (private matters, /contacts). Plain (text, data) rows, so the
outbox can carry them; handlers turn them into markup with bot.keyboards.issues.markup."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from bot.i18n import _
from bot.keyboards.common import CancelCb
from bot.keyboards.issues import Rows

# A household picker longer than this asks to type the flat instead (never a 100-button list).
MAX_ROOM_BUTTONS = 48


class RelayCb(CallbackData, prefix="rl"):
    """action: w (write on relay `id`) | s (settled, relay `id`) | c (/contacts: arg = contact key) |
    u / f / h (the household picker for issue `id`: arg = unit / "unit.floor" / household id)."""

    action: str
    id: int
    arg: str = ""


def rb(action: str, id_: int, arg: str = "") -> str:
    return RelayCb(action=action, id=id_, arg=arg).pack()


def message_buttons(relay_id: int, *, issue: bool, reply: bool) -> Rows:
    """Under a relayed message (or the first one): write / reply, and for a private matter 🤝 Settled."""
    rows: Rows = [[(_("↩️ Reply") if reply else _("✉️ Write"), rb("w", relay_id))]]
    if issue:
        rows[0].append((_("🤝 Settled"), rb("s", relay_id)))
    return rows


def settle_buttons(relay_id: int) -> Rows:
    return [[(_("🤝 Settled"), rb("s", relay_id))]]


def contact_buttons(keys: list[tuple[str, str]]) -> Rows:
    """keys: (contact key, button text)."""
    return [[(text[:40], rb("c", 0, key))] for key, text in keys]


def units_buttons(issue_id: int, units: list[int | None]) -> Rows:
    rows: Rows = []
    for i in range(0, len(units), 4):
        rows.append([(_("Unit {n}").format(n=u), rb("u", issue_id, str(u))) for u in units[i:i + 4]])
    rows.append([(_("✖️ Cancel"), CancelCb().pack())])
    return rows


def floors_buttons(issue_id: int, unit: int | None, floors: list[int | None]) -> Rows:
    rows: Rows = []
    u = "" if unit is None else str(unit)
    for i in range(0, len(floors), 5):
        rows.append([(_("Floor {n}").format(n=f), rb("f", issue_id, f"{u}.{f}")) for f in floors[i:i + 5]])
    rows.append([(_("✖️ Cancel"), CancelCb().pack())])
    return rows


def rooms_buttons(issue_id: int, rooms: list[tuple[int, str]]) -> Rows:
    """rooms: (household id, label)."""
    rows: Rows = []
    for i in range(0, len(rooms), 6):
        rows.append([(label, rb("h", issue_id, str(hid))) for hid, label in rooms[i:i + 6]])
    rows.append([(_("✖️ Cancel"), CancelCb().pack())])
    return rows
