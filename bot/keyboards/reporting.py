"""Keyboards of the report flow, /my and a person's own view of an issue."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, current_locale
from bot.keyboards.issues import IssueCb, triage_buttons
from bot.services.lifecycle import IssueAction, Viewer, available_actions
from bot.services.reporting import Category
from models import Building, Issue

CATEGORIES_PER_PAGE = 10
BUILDINGS_PER_PAGE = 12


class ReportCb(CallbackData, prefix="rp"):
    """action: nophoto | cat | catpage | bld | bldpage | skip | same | rebound | new | send | edit |
    editf | back | cancel; arg: the action's argument (category key, page, id, draft token, field)."""

    action: str
    arg: str = ""


class MyCb(CallbackData, prefix="my"):
    page: int


def _cancel_row() -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=ReportCb(action="cancel").pack())]


def cancel_kb() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[_cancel_row()])


def photos_kb() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("No photo"), callback_data=ReportCb(action="nophoto").pack())],
            _cancel_row(),
        ]
    )


def categories_kb(cats: Sequence[Category], page: int = 0) -> InlineKeyboardMarkup:
    """Two per row; the first page holds the most frequent ones and "More…" pages through the rest."""
    pages = max(1, (len(cats) + CATEGORIES_PER_PAGE - 1) // CATEGORIES_PER_PAGE)
    page = min(max(0, page), pages - 1)
    kb = InlineKeyboardBuilder()
    for c in cats[page * CATEGORIES_PER_PAGE : (page + 1) * CATEGORIES_PER_PAGE]:
        kb.button(text=c.button(current_locale())[:60], callback_data=ReportCb(action="cat", arg=c.key))
    kb.adjust(2)
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(text=_("◀️ Back"), callback_data=ReportCb(action="catpage", arg=str(page - 1)).pack())
        )
    if page < pages - 1:
        nav.append(
            InlineKeyboardButton(text=_("More…"), callback_data=ReportCb(action="catpage", arg=str(page + 1)).pack())
        )
    if nav:
        kb.row(*nav)
    kb.row(*_cancel_row())
    return kb.as_markup()


def location_reply_kb() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_("📍 Send my location"), request_location=True)],
            [KeyboardButton(text=_("✖️ Cancel"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def buildings_kb(
    own: Sequence[Building], others: Sequence[Building], *, show_others: bool, page: int = 0
) -> InlineKeyboardMarkup:
    """The reporter's own building(s) first; "Another building" opens the rest (paged)."""
    kb = InlineKeyboardBuilder()
    rows: list[list[InlineKeyboardButton]] = []
    for b in own:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("{building} (my building)").format(building=b.name[:50]),
                    callback_data=ReportCb(action="bld", arg=str(b.id)).pack(),
                )
            ]
        )
    if others and (show_others or not own):
        start = page * BUILDINGS_PER_PAGE
        chunk = list(others[start : start + BUILDINGS_PER_PAGE])
        for i in range(0, len(chunk), 3):
            rows.append(
                [
                    InlineKeyboardButton(text=b.name[:40], callback_data=ReportCb(action="bld", arg=str(b.id)).pack())
                    for b in chunk[i : i + 3]
                ]
            )
        nav: list[InlineKeyboardButton] = []
        if page > 0:
            nav.append(
                InlineKeyboardButton(text="◀️", callback_data=ReportCb(action="bldpage", arg=str(page - 1)).pack())
            )
        if start + BUILDINGS_PER_PAGE < len(others):
            nav.append(
                InlineKeyboardButton(text="▶️", callback_data=ReportCb(action="bldpage", arg=str(page + 1)).pack())
            )
        if nav:
            rows.append(nav)
    elif others:
        rows.append(
            [InlineKeyboardButton(text=_("Another building"), callback_data=ReportCb(action="bldpage", arg="0").pack())]
        )
    for row in rows:
        kb.row(*row)
    kb.row(*_cancel_row())
    return kb.as_markup()


def description_kb() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("Skip"), callback_data=ReportCb(action="skip").pack())],
            _cancel_row(),
        ]
    )


def duplicate_kb(issue_id: int, is_open: bool) -> InlineKeyboardMarkup:
    if is_open:
        first = InlineKeyboardButton(
            text=_("Same — follow it"), callback_data=ReportCb(action="same", arg=str(issue_id)).pack()
        )
    else:
        first = InlineKeyboardButton(
            text=_("It came back — reopen it"), callback_data=ReportCb(action="rebound", arg=str(issue_id)).pack()
        )
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [first],
            [InlineKeyboardButton(text=_("No, mine is new"), callback_data=ReportCb(action="new").pack())],
            _cancel_row(),
        ]
    )


def preview_kb(token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=_("✅ Send"), callback_data=ReportCb(action="send", arg=token).pack()),
                InlineKeyboardButton(text=_("✏️ Edit"), callback_data=ReportCb(action="edit").pack()),
                InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=ReportCb(action="cancel").pack()),
            ]
        ]
    )


def edit_kb() -> InlineKeyboardMarkup:
    def b(text: str, field: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=ReportCb(action="editf", arg=field).pack())

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [b(_("📷 Photos"), "photos"), b(_("🏷 Category"), "category")],
            [b(_("📍 Place"), "place"), b(_("📝 Description"), "description")],
            [InlineKeyboardButton(text=_("⬅️ Back to the preview"), callback_data=ReportCb(action="back").pack())],
        ]
    )


def my_kb(issues: Sequence[Issue], labels: Sequence[str], page: int, pages: int) -> InlineKeyboardMarkup:
    rows = [
        [InlineKeyboardButton(text=label[:60], callback_data=IssueCb(action="view", id=i.id).pack())]
        for i, label in zip(issues, labels, strict=True)
    ]
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(InlineKeyboardButton(text="◀️", callback_data=MyCb(page=page - 1).pack()))
    if page < pages - 1:
        nav.append(InlineKeyboardButton(text="▶️", callback_data=MyCb(page=page + 1).pack()))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def issue_view_kb(
    issue: Issue, *, is_reporter: bool, is_follower: bool, may_triage: bool
) -> InlineKeyboardMarkup | None:
    """Buttons under a person's own view of an issue: the reporter may edit or withdraw until it is
    accepted; others may follow; captains get the triage buttons."""
    rows: list[list[InlineKeyboardButton]] = []
    viewer = Viewer(frozenset({"triage"}) if may_triage else frozenset(), is_reporter=is_reporter,
                    is_follower=is_follower)
    actions = available_actions(issue, viewer)
    if IssueAction.EDIT in actions and IssueAction.WITHDRAW in actions:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("✏️ Edit description"), callback_data=IssueCb(action="edit", id=issue.id).pack()
                ),
                InlineKeyboardButton(
                    text=_("↩️ Withdraw"), callback_data=IssueCb(action="withdraw", id=issue.id).pack()
                ),
            ]
        )
    if IssueAction.FOLLOW in actions:
        rows.append(
            [InlineKeyboardButton(text=_("🔔 Follow"), callback_data=IssueCb(action="follow", id=issue.id).pack())]
        )
    # The team's buttons while the issue is worked on (a deadline can be set exactly then).
    if IssueAction.DEADLINE in actions:
        rows.extend(
            [
                [InlineKeyboardButton(text=t, callback_data=d) for t, d in row]
                for row in triage_buttons(issue)
                if not any(IssueCb.unpack(d).action == "details" for _t, d in row)
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def withdraw_confirm_kb(issue_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("Yes, withdraw it"), callback_data=IssueCb(action="withdraw", id=issue_id, arg="yes").pack()
                ),
                InlineKeyboardButton(text=_("No, keep it"), callback_data=IssueCb(action="view", id=issue_id).pack()),
            ]
        ]
    )
