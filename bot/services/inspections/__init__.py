"""Inspections (检查, 明查暗访), by seam: checklists (the lists and editing them in the bot) and service
(walking a checklist, filing its failures, the week's spot checks, the record). Importing the package
registers the spot-check reminder job and the roles-ended step (bot/services/inspections/service.py)."""

from bot.services.inspections.checklists import (
    DEFAULT_CHECKLIST,
    DEFAULT_ITEMS,
    DEFAULT_NAME,
    MAX_ITEMS,
    Checklist,
    ChecklistEditor,
    InspectionError,
    checklists,
    default_checklist,
)
from bot.services.inspections.service import (
    DEFAULT_SPOT_CHECKS,
    MAX_NOTE,
    Finished,
    InspectionRow,
    InspectionsService,
    SpotCheckDue,
    inspections_done,
    pass_rates,
    spot_check_reminders,
    week_start,
)

__all__ = ["DEFAULT_CHECKLIST", "DEFAULT_ITEMS", "DEFAULT_NAME", "DEFAULT_SPOT_CHECKS", "MAX_ITEMS", "MAX_NOTE",
           "Checklist", "ChecklistEditor", "Finished", "InspectionError", "InspectionRow", "InspectionsService",
           "SpotCheckDue", "checklists", "default_checklist", "inspections_done", "pass_rates",
           "spot_check_reminders", "week_start"]
