"""Callback data and keyboards of patrols: the volunteer's /patrols (prefix "pt") and the planner's
/roster (prefix "ro"). bot/notices/patrols.py puts `pt(...)`/`ro(...)` into outbox buttons ("pt:take:12:"),
the plain strings the sender sends; tests check `.pack()` gives exactly those."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.i18n import _, __
from bot.keyboards.common import CancelCb
from bot.services.patrols import PlanPlace, ShiftView, hhmm
from models import Member, PatrolRoute, ShiftTemplate

# The weekday picker's labels (also the days of bot/notices/patrols.day_label).
WEEKDAYS = (__("Mon"), __("Tue"), __("Wed"), __("Thu"), __("Fri"), __("Sat"), __("Sun"))


class PatrolCb(CallbackData, prefix="pt"):
    """action: menu | shift | take | drop | swap | swapok | confirm | cant | yes | no | checkin | nogps |
    cp | report | checkout | quiet | ics ; id: shift, swap, assignment or checkpoint id; arg: extra."""

    action: str
    id: int = 0
    arg: str = ""


class RosterCb(CallbackData, prefix="ro"):
    """action: menu | route | new | place | tpl | day | days | ppl | gen | weeks | shifts | past | shift |
    cancel | cancelok | assign | pick | remove | record | oneoff | rename | desc | cps | tploff | archive |
    archiveok | skip ; id: route, shift, template, member or place id; arg: small extra."""

    action: str
    id: int = 0
    arg: str = ""


def pt(action: str, id: int = 0, arg: str = "") -> str:
    return PatrolCb(action=action, id=id, arg=arg).pack()


def ro(action: str, id: int = 0, arg: str = "") -> str:
    return RosterCb(action=action, id=id, arg=arg).pack()


def rows_markup(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows if row])


def cancel_row() -> list[tuple[str, str]]:
    return [(_("✖️ Cancel"), CancelCb().pack())]


# ------------------------------------------------------------------------------------- volunteers


def patrols_kb(mine: Sequence[ShiftView], open_: Sequence[ShiftView], *, label: dict[int, str]) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    for v in mine:
        rows.append([(f"🗓 {label[v.id]} · {v.route.name}"[:60], pt("shift", v.id))])
    for v in open_:
        mark = "⚠️ " if v.needs else ""
        rows.append([(f"🙋 {mark}{label[v.id]} · {v.route.name}"[:60], pt("take", v.id))])
    rows.append([(_("📅 Calendar (.ics)"), pt("ics")), (_("🔄 Refresh"), pt("menu"))])
    return rows_markup(rows)


def my_shift_kb(v: ShiftView, member: Member, *, can_check_in: bool, on_duty: bool) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    a = v.assignment_of(member.id)
    if on_duty:
        return on_duty_kb(v)
    if a is not None and a.status == "invited":
        rows.append([(_("✅ Yes, I'll go"), pt("yes", a.id)), (_("🙅 No, sorry"), pt("no", a.id))])
    elif can_check_in:
        rows.append([(_("📍 Check in"), pt("checkin", v.id))])
    if a is not None and a.status == "active" and a.checked_in_at is None:
        rows.append([(_("🙅 Drop"), pt("drop", v.id)), (_("🔁 Swap"), pt("swap", v.id))])
    rows.append([(_("⬅️ Back"), pt("menu"))])
    return rows_markup(rows)


def on_duty_kb(v: ShiftView) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    cps = [(f"📌 {c.name}"[:40], pt("cp", v.id, str(c.id))) for c in v.route.checkpoints]
    for i in range(0, len(cps), 2):
        rows.append(cps[i:i + 2])
    rows.append([(_("📷 Report a problem"), pt("report", v.id))])
    rows.append([(_("🏁 Check out"), pt("checkout", v.id))])
    return rows_markup(rows)


def location_kb() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[
        [KeyboardButton(text=_("📍 Share my location"), request_location=True)],
        [KeyboardButton(text=_("✅ Check in without location"))],
        [KeyboardButton(text=_("✖️ Cancel"))],
    ], resize_keyboard=True, one_time_keyboard=True)


def checkout_kb(shift_id: int) -> InlineKeyboardMarkup:
    return rows_markup([[(_("🌙 All quiet"), pt("quiet", shift_id))], cancel_row()])


def confirm_drop_kb(shift_id: int) -> InlineKeyboardMarkup:
    return rows_markup([[(_("Yes, drop it"), pt("drop", shift_id, "ok")), (_("No, keep it"), pt("shift", shift_id))]])


# ------------------------------------------------------------------------------------- planners


def roster_menu_kb(routes: Sequence[PatrolRoute]) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = [[(f"🛣 {r.name}"[:60], ro("route", r.id))] for r in routes]
    rows.append([(_("➕ New route"), ro("new"))])
    if routes:
        rows.append([(_("🗓 Upcoming shifts"), ro("shifts")), (_("📄 Past shifts"), ro("past"))])
    rows.append(cancel_row())
    return rows_markup(rows)


def places_kb(places: Sequence[PlanPlace]) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    for i, p in enumerate(places[:30]):
        rows.append([(p.label[:60], ro("place", i))])
    rows.append(cancel_row())
    return rows_markup(rows)


def skip_kb() -> InlineKeyboardMarkup:
    return rows_markup([[(_("Skip"), ro("skip"))], cancel_row()])


def weekdays_kb(chosen: Sequence[int]) -> InlineKeyboardMarkup:
    days = [((("✅ " if i in chosen else "") + str(WEEKDAYS[i])), ro("day", i)) for i in range(7)]
    return rows_markup([
        days[:4], days[4:],
        [(_("Mon–Fri"), ro("days", 0, "wk")), (_("Sat–Sun"), ro("days", 0, "we")),
         (_("Every day"), ro("days", 0, "all"))],
        [(_("➡️ Next"), ro("days", 0, "next"))],
        cancel_row(),
    ])


def people_kb() -> InlineKeyboardMarkup:
    presets = ["1-2", "2-3", "2-4", "3-6"]
    return rows_markup([[(p.replace("-", "–"), ro("ppl", 0, p)) for p in presets], cancel_row()])


def weeks_kb(route_id: int) -> InlineKeyboardMarkup:
    return rows_markup([
        [(_("🔁 Generate 4 weeks"), ro("gen", route_id, "4"))],
        [(_("1 week"), ro("gen", route_id, "1")), (_("2 weeks"), ro("gen", route_id, "2")),
         (_("8 weeks"), ro("gen", route_id, "8"))],
        [(_("Not now"), ro("route", route_id))],
    ])


def route_kb(route: PatrolRoute) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    for t in route.templates:
        if t.active:
            rows.append([(_("🗑 Stop: {what}").format(what=template_label(t))[:60], ro("tploff", t.id))])
    rows += [
        [(_("➕ Shift times"), ro("tpl", route.id)), (_("➕ One-off shift"), ro("oneoff", route.id))],
        [(_("🔁 Generate shifts"), ro("weeks", route.id))],
        [(_("✏️ Name"), ro("rename", route.id)), (_("✏️ Description"), ro("desc", route.id)),
         (_("📌 Checkpoints"), ro("cps", route.id))],
        [(_("🗄 Archive route"), ro("archive", route.id)), (_("⬅️ Back"), ro("menu"))],
    ]
    return rows_markup(rows)


def template_label(t: ShiftTemplate) -> str:
    if t.weekdays == [0, 1, 2, 3, 4]:
        days = _("Mon–Fri")
    elif t.weekdays == list(range(7)):
        days = _("every day")
    else:
        days = ", ".join(str(WEEKDAYS[d]) for d in t.weekdays)
    parts = [days] if t.weekdays else []
    if t.dates:
        parts.append(", ".join(t.dates))
    return f"{'; '.join(parts)} {hhmm(t.start_minute)}–{hhmm(t.end_minute)} · {t.min_volunteers}–{t.max_volunteers}"


def shifts_kb(views: Sequence[ShiftView], label: dict[int, str], *, past: bool = False) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    for v in views:
        mark = "" if past or not v.needs else "⚠️ "
        rows.append([(f"{mark}{label[v.id]} · {v.route.name} ({v.shift.filled}/{v.shift.max_volunteers})"[:60],
                      ro("record" if past else "shift", v.id))])
    rows.append([(_("⬅️ Back"), ro("menu"))])
    return rows_markup(rows)


def planner_shift_kb(v: ShiftView) -> InlineKeyboardMarkup:
    rows: list[list[tuple[str, str]]] = []
    for a, m in v.people:
        if a.status in ("active", "invited"):
            rows.append([(_("➖ Take off {name}").format(name=m.display_name)[:60], ro("remove", a.id))])
    rows.append([(_("👤 Assign a volunteer"), ro("assign", v.id)), (_("📄 Record"), ro("record", v.id))])
    rows.append([(_("❌ Cancel shift"), ro("cancel", v.id)), (_("⬅️ Back"), ro("shifts"))])
    return rows_markup(rows)


def pick_volunteer_kb(shift_id: int, people: Sequence[Member]) -> InlineKeyboardMarkup:
    rows = [[(m.display_name[:40] or f"#{m.id}", ro("pick", shift_id, str(m.id)))] for m in people[:30]]
    rows.append([(_("⬅️ Back"), ro("shift", shift_id))])
    return rows_markup(rows)


def confirm_cancel_kb(shift_id: int) -> InlineKeyboardMarkup:
    return rows_markup([[(_("Yes, cancel the shift"), ro("cancelok", shift_id)), (_("No"), ro("shift", shift_id))]])


def confirm_archive_kb(route_id: int) -> InlineKeyboardMarkup:
    return rows_markup([[(_("Yes, archive"), ro("archiveok", route_id)), (_("No"), ro("route", route_id))]])


def back_kb(action: str = "menu", id: int = 0) -> InlineKeyboardMarkup:
    return rows_markup([[(_("⬅️ Back"), ro(action, id))]])
