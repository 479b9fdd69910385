"""Cleaning days (卫生清洁日): series and their occurrences, reminders with RSVP buttons, live counts for
the captain, skipping and cancelling (everyone who answered is told), attendance and the summary after
the day, and the figures the daily digest shows.

Occurrences are rows (unique per series and local date), materialised a couple of months ahead by a
job, so reminders and RSVPs attach to them and a restart loses nothing. Reminders go through the
outbox under keys unique per occurrence, offset and recipient: a double tick sends nothing twice.

Rules only: what must be told to whom is recorded as events (base.py) and worded, with its buttons, in
bot/notices/cleaning.py. The parts: base.py (types, events, places and rights, lookups), schedule.py
(occurrences, reminder moments, the after-day prompt), service.py (series, RSVPs, views, attendance),
reads.py (the digest's and the desk's figures), jobs.py (the tick and the sent hooks).
"""

from bot.services.cleaning import jobs as _jobs  # noqa: F401  (registers the tick and the sent hooks)
from bot.services.cleaning.base import (
    AFTER_PROMPT_WINDOW,
    CARD_EDIT_DELAY,
    GROUP_EDIT_DELAY,
    HORIZON,
    NAMES_SHOWN,
    AfterDayDue,
    CountsChanged,
    DayChanged,
    DayClosed,
    DayRecorded,
    DayView,
    Draft,
    PlaceOption,
    ReminderDue,
    RsvpResult,
    SeriesFacts,
    rule_of,
)
from bot.services.cleaning.jobs import cleaning_days_job
from bot.services.cleaning.reads import (
    CleaningDayLine,
    CleaningFigures,
    cleaning_days_between,
    cleaning_figures,
)
from bot.services.cleaning.service import CleaningService

__all__ = ["AFTER_PROMPT_WINDOW", "CARD_EDIT_DELAY", "GROUP_EDIT_DELAY", "HORIZON", "NAMES_SHOWN", "AfterDayDue",
           "CleaningDayLine", "CleaningFigures", "CleaningService", "CountsChanged", "DayChanged", "DayClosed",
           "DayRecorded", "DayView", "Draft", "PlaceOption", "ReminderDue", "RsvpResult", "SeriesFacts",
           "cleaning_days_between", "cleaning_days_job", "cleaning_figures", "rule_of"]
