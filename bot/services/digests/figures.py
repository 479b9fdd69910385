"""What the numbers of a digest are: the figures of a daily digest (`DailyDigest`) and of a weekly or monthly
report (`PeriodReport`), as plain dataclasses. No words: bot/notices/digests.py turns them into messages,
a chart and spreadsheets in each reader's language."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from models import Area, Community

if TYPE_CHECKING:  # only named in annotations: importing them here would make a cycle through campaigns
    from bot.services.campaigns import Progress
    from bot.services.surveys import BuildingProgress, SurveyResults
    from models import Survey

TOP = 3  # entries shown per list before "and N more"


@dataclass(frozen=True)
class IssueRow:
    id: int
    reference: str
    category: str
    building_id: int | None
    area_id: int | None
    urgent: bool
    status: str
    deadline_at: datetime | None
    created_at: datetime
    escalation_level: int = 0
    missed_deadline_at: datetime | None = None
    first_deadline_at: datetime | None = None
    done_at: datetime | None = None  # resolved or closed, for an issue finished within a report's period

    @property
    def hashtag(self) -> str:
        return f"#{self.reference}"

    @property
    def overdue_since(self) -> datetime | None:
        """When it became overdue: the first deadline it missed (kept when escalation sets a new one),
        else its current deadline (which may still be ahead)."""
        return self.missed_deadline_at or self.deadline_at

    def overdue_at(self, at: datetime) -> bool:
        """It had missed a deadline by `at` (or by the time it was done, if that was earlier)."""
        since = self.overdue_since
        until = min(self.done_at, at) if self.done_at is not None else at
        return since is not None and since < until

    def new_deadline(self, at: datetime) -> datetime | None:
        """The deadline it was given after missing one (escalation, a captain), if still ahead."""
        if self.missed_deadline_at is not None and self.deadline_at is not None and self.deadline_at > at:
            return self.deadline_at
        return None


@dataclass
class Listing:
    """A list shown as its top entries and "and N more"."""

    total: int
    top: list[IssueRow]

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.top))


@dataclass
class Shift:
    name: str
    starts_at: datetime | None
    ends_at: datetime | None


@dataclass
class PatrolFigures:
    planned: int = 0
    staffed: int = 0
    checked_in: int = 0
    findings: int = 0
    no_checkin: list[Shift] = field(default_factory=list)

    @property
    def coverage(self) -> int | None:
        """Checked-in shifts as a share of planned ones, in percent."""
        return round(100 * self.checked_in / self.planned) if self.planned else None


@dataclass
class CleaningDay:
    starts_at: datetime | None
    place: str
    signed_up: int | None
    attended: int | None
    held: bool

    @property
    def attended_or_zero(self) -> int:
        return self.attended if self.attended is not None else (self.signed_up or 0)


@dataclass
class Hotspot:
    building: str
    category: str
    count: int


@dataclass
class DailyDigest:
    community: Community
    area: Area | None
    day: date  # the digest's date (sent that morning)
    covered: date  # the local calendar day it reports on (the day before)
    as_of: datetime
    places: dict[str, dict[int, Any]]  # names of areas and buildings, and each building's area
    urgent: Listing
    overdue: Listing
    escalated: Listing
    reopened: Listing
    open_total: int
    new_total: int
    new_by_category: list[tuple[str, int]]
    new_by_building: list[tuple[str, int]]
    accepted: int
    resolved: int
    closed: int
    median_accept: float | None  # seconds
    median_resolve: float | None
    satisfaction: float | None
    ratings: int
    patrols: PatrolFigures | None
    cleaning: list[CleaningDay] | None
    hotspots: list[Hotspot]
    chart_days: list[date]
    chart_new: list[int]
    chart_resolved: list[int]
    open_by_category: list[tuple[str, int]]
    late: bool = False
    skipped: list[date] = field(default_factory=list)
    missed: int = 0  # issues whose deadline passed during the covered day before they were done
    # Running satisfaction surveys with a building behind schedule: (survey, [BuildingProgress]).
    surveys_behind: list[tuple[Survey, list[BuildingProgress]]] = field(default_factory=list)
    # Fixed and confirmed, waiting for the office's or area head's check (验收) before they are closed out.
    verifying: Listing = field(default_factory=lambda: Listing(0, []))
    # Closed out during the covered day: checked on site, and closed without anybody checking.
    closed_verified: int = 0
    closed_unverified: int = 0

    @property
    def attention(self) -> bool:
        return bool(self.urgent.total or self.overdue.total or self.escalated.total or self.reopened.total
                    or self.verifying.total or (self.patrols and self.patrols.no_checkin))

    @property
    def quiet(self) -> bool:
        return not (self.new_total or self.accepted or self.resolved or self.closed or self.missed
                    or self.attention or self.surveys_behind)

    def attention_issues(self) -> list[IssueRow]:
        seen: dict[int, IssueRow] = {}
        for row in [*self.urgent.top, *self.overdue.top, *self.escalated.top,
                    *self.reopened.top, *self.verifying.top]:
            seen.setdefault(row.id, row)
        return list(seen.values())


@dataclass
class PeriodTotals:
    new: int = 0
    accepted: int = 0
    resolved: int = 0
    closed: int = 0
    overdue: int = 0  # overdue at some moment of the period (a missed deadline, not yet done by then)
    open: int = 0
    median_accept: float | None = None
    median_resolve: float | None = None
    satisfaction: float | None = None
    ratings: int = 0
    verified: int = 0  # closed out after a check on site
    unverified: int = 0  # closed out without a check (the reporter's word, or nobody's)


@dataclass
class PlaceRow:
    name: str
    area: str
    new: int
    resolved: int
    open: int
    overdue: int


@dataclass
class PeriodReport:
    community: Community
    kind: str  # weekly | monthly
    start: date  # first local day
    end: date  # last local day (inclusive)
    as_of: datetime
    places: dict[str, dict[int, Any]]  # names of areas and buildings, and each building's area
    current: PeriodTotals
    previous: PeriodTotals
    areas: list[PlaceRow]
    buildings: list[PlaceRow]
    overdue: Listing
    overdue_all: list[IssueRow]
    top_categories: list[tuple[str, int]]
    patrols: PatrolFigures | None
    cleaning: list[CleaningDay] | None
    volunteer_hours: list[tuple[str, float]] | None
    late: bool = False
    skipped: list[date] = field(default_factory=list)
    # Satisfaction surveys that ended in the period (bot.services.surveys.SurveyResults).
    surveys: list[SurveyResults] = field(default_factory=list)
    # 三事分流: issues reported in the period by way (office / joint / residents / not decided).
    ways: list[tuple[str, int]] = field(default_factory=list)
    # "Refused to comply" recorded in the period: (hashtag, department name, department name in Chinese).
    refusals: list[tuple[str, str, str]] = field(default_factory=list)
    # Campaigns (专项整治) running during the period (bot.services.campaigns.Progress).
    campaigns: list[Progress] = field(default_factory=list)



def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def deadline_key(row: IssueRow) -> tuple[datetime, int]:
    return (row.deadline_at or datetime.max.replace(tzinfo=UTC), row.id)


def overdue_key(row: IssueRow) -> tuple[datetime, int]:
    return (row.overdue_since or datetime.max.replace(tzinfo=UTC), row.id)


def listing(items: list[IssueRow], top: int = TOP) -> Listing:
    return Listing(len(items), items[:top])


def category_label(community: Community | None, key: str, locale: str) -> str:
    """A category's name in a language: the community's own list (its structure file), else the defaults;
    a key no longer listed still shows as itself. Data, not gettext (bot.services.reporting.Category)."""
    # Imported here: reporting's import chain reaches campaigns, whose words import this module.
    from bot.services.reporting import category

    return category(community, key).label(locale)
