"""Volunteer patrols (志愿巡防): routes, shift templates, rosters, taking/dropping/swapping shifts,
reminders and alerts, check-in/out, checkpoints, hours, the weekly roster message and the digest figures.

Rules kept here (no aiogram):
- Shifts are generated from templates at local wall time in the community's time zone. A time that
  does not exist (spring forward) moves to the next valid minute; an ambiguous one (autumn) takes the
  first occurrence. Generation never duplicates: (template, local date) is unique.
- Capacity is enforced with one conditional UPDATE on `patrol_shifts.filled`, atomic on SQLite and
  PostgreSQL, so two volunteers pressing Take on the last place cannot both get it.
- A volunteer may drop until 12 h before the start; later only a captain can take them off (or they
  answer "can't make it" on the 24 h reminder, which tells the captains). Dropping below the minimum
  calls the community's volunteer pool to cover.
- Every bot-initiated message goes through the outbox with a key unique per shift, kind and
  recipient; per-shift keys start with `pt:s<id>:` so cancelling a shift drops what is still pending.
  The tick marks what it has done on the rows, so a restart or a double tick sends nothing twice.
- No words here: what must be told to whom is recorded as an event (events.py) and worded by
  bot/notices/patrols.py; direct answers are worded by the handlers from what the service returns.

The seams: timing (local times, limits, parsers), views (what screens get), base / roster / planning /
volunteers / duty / reminders (PatrolService, one layer each), jobs (the tick), summary (figures for the
digest and the desk), structure_file (`patrols:` in the structure file). Importing this package registers
the jobs, the structure-file section, the roster's on-sent hook and the /deletedata eraser.
"""

from __future__ import annotations

from bot.services.patrols import jobs, structure_file  # noqa: F401  (registrations happen at import)
from bot.services.patrols.duty import calendar_for
from bot.services.patrols.events import (
    AssignmentAnswered,
    CheckedIn,
    CoverNeeded,
    NobodyCheckedIn,
    RosterChanged,
    RosterDue,
    ShiftAutoClosed,
    ShiftCancelled,
    ShiftReminder,
    ShiftUnderstaffed,
    SwapOffered,
    SwapTaken,
    VolunteerAsked,
    VolunteerCantCome,
    VolunteerRemoved,
)
from bot.services.patrols.roster import remember_roster_message
from bot.services.patrols.service import PatrolService
from bot.services.patrols.structure_file import import_patrols
from bot.services.patrols.summary import (
    MissedShift,
    PatrolSummary,
    RosterShift,
    RouteWeek,
    patrol_summary,
    roster_week,
    volunteer_hours,
)
from bot.services.patrols.timing import (
    DEFAULT_WEEKS,
    HELD,
    MAX_WEEKS,
    PatrolError,
    hhmm,
    parse_date,
    parse_people,
    parse_time,
    resolve_local,
    shift_window,
)
from bot.services.patrols.views import (
    CalendarEntry,
    Hours,
    PlanPlace,
    RecordRow,
    ShiftRecord,
    ShiftView,
    VisitView,
    place_of,
)

__all__ = [
    "DEFAULT_WEEKS", "HELD", "MAX_WEEKS", "AssignmentAnswered", "CalendarEntry", "CheckedIn", "CoverNeeded",
    "Hours", "MissedShift", "NobodyCheckedIn", "PatrolError", "PatrolService", "PatrolSummary", "PlanPlace",
    "RecordRow", "RosterChanged", "RosterDue", "RosterShift", "RouteWeek", "ShiftAutoClosed", "ShiftCancelled",
    "ShiftRecord", "ShiftReminder", "ShiftUnderstaffed", "ShiftView", "SwapOffered", "SwapTaken", "VisitView",
    "VolunteerAsked", "VolunteerCantCome", "VolunteerRemoved", "calendar_for", "hhmm", "import_patrols", "parse_date",
    "parse_people", "parse_time", "patrol_summary", "place_of", "remember_roster_message", "resolve_local",
    "roster_week", "shift_window", "volunteer_hours",
]
