"""Residents' consultations (民意征集), by seam: service (starting one, answers per household, the tally,
closing) and tick (announce, tally, remind, close at the deadline: events worded in
bot/notices/consultations.py). Importing the package registers the job, the erasure step and the sent hook."""

from bot.services.consultations.service import (
    DEFAULT_CHOICES,
    MAX_CHOICES,
    MAX_DAYS,
    RULES,
    TALLY_EVERY_MINUTES,
    ConsultationClosed,
    ConsultationError,
    ConsultationsService,
    ConsultOption,
    HouseholdAnswer,
    Result,
    Tally,
    VoteOutcome,
    parse_deadline,
    result_xlsx,
    tally_every,
)
from bot.services.consultations.tick import (
    MORNING,
    REMIND_BEFORE,
    ConsultationAnnounced,
    ConsultationOpen,
    ConsultationReminderDue,
    consultations_job,
    run_due,
)

__all__ = ["DEFAULT_CHOICES", "MAX_CHOICES", "MAX_DAYS", "MORNING", "REMIND_BEFORE", "RULES", "TALLY_EVERY_MINUTES",
           "ConsultOption", "ConsultationAnnounced", "ConsultationClosed", "ConsultationError", "ConsultationOpen",
           "ConsultationReminderDue", "ConsultationsService", "HouseholdAnswer", "Result", "Tally", "VoteOutcome",
           "consultations_job", "parse_deadline", "result_xlsx", "run_due", "tally_every"]
