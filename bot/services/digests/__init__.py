"""Daily digests and weekly/monthly reports for the community office.

The office starts its day with the daily digest: exceptions first (what needs attention now), then the
previous local day in figures, patrols, cleaning days and hotspots, with a chart. Weekly and monthly
reports compare a period with the one before, per area and per building, with an XLSX table.

The package by seam: `periods` (which days, when due), `figures` (what the numbers are), `queries` (how
they are read), `delivery` (when and to whom: claims, the shared job, /digest on demand) and `cli` (python
main.py digest). The words are in bot/notices/digests.py, reached through `DigestPresenter`.
"""

from bot.services.digests import cli as _cli  # noqa: F401  (registers the `digest` subcommand)
from bot.services.digests.delivery import (
    CATCH_UP,
    DIGEST_LOCK_SPACE,
    LATE_AFTER,
    REPORT_SECTIONS,
    Built,
    DigestPresenter,
    DigestService,
    OnDemand,
    ReportSection,
    digests_job,
    present_with,
    presenter,
)
from bot.services.digests.figures import (
    TOP,
    CleaningDay,
    DailyDigest,
    Hotspot,
    IssueRow,
    Listing,
    PatrolFigures,
    PeriodReport,
    PeriodTotals,
    PlaceRow,
    Shift,
    category_label,
)
from bot.services.digests.periods import (
    DEFAULT_DIGEST_TIME,
    DEFAULT_MONTHLY_TIME,
    DEFAULT_WEEKLY,
    KINDS,
    WEEKDAYS,
    local_bounds,
    parse_hhmm,
    parse_request,
    period_of,
    previous_period,
    send_moment,
    weekly_schedule,
)
from bot.services.digests.queries import CHART_DAYS, CLEANING_AHEAD, HOTSPOT_DAYS, HOTSPOT_MIN, DigestFigures

__all__ = ["CATCH_UP", "CHART_DAYS", "CLEANING_AHEAD", "DEFAULT_DIGEST_TIME", "DEFAULT_MONTHLY_TIME",
           "DEFAULT_WEEKLY", "DIGEST_LOCK_SPACE", "HOTSPOT_DAYS", "HOTSPOT_MIN", "KINDS", "LATE_AFTER",
           "REPORT_SECTIONS", "TOP", "WEEKDAYS", "Built", "CleaningDay", "DailyDigest", "DigestFigures",
           "DigestPresenter", "DigestService", "Hotspot", "IssueRow", "Listing", "OnDemand", "PatrolFigures",
           "PeriodReport", "PeriodTotals", "PlaceRow", "ReportSection", "Shift", "category_label", "digests_job",
           "local_bounds", "parse_hhmm", "parse_request", "period_of", "present_with", "presenter",
           "previous_period", "send_moment", "weekly_schedule"]
