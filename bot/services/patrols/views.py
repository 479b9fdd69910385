"""What the patrol screens and notices are given: a shift with its route and people loaded eagerly (no lazy
loads after the session), hours, a shift's record, the places a person may plan. Data only, no words."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.services.access import Place
from models import AssignmentStatus, Issue, Member, PatrolRoute, PatrolShift, ShiftAssignment


@dataclass
class ShiftView:
    """A shift with what screens need, loaded eagerly (no lazy loads after the session)."""

    shift: PatrolShift
    route: PatrolRoute
    tz: ZoneInfo
    people: list[tuple[ShiftAssignment, Member]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.shift.id

    @property
    def active(self) -> list[tuple[ShiftAssignment, Member]]:
        return [(a, m) for a, m in self.people if a.status == AssignmentStatus.ACTIVE]

    @property
    def needs(self) -> int:
        return max(0, self.shift.min_volunteers - self.shift.filled)

    @property
    def local_start(self) -> datetime:
        return self.shift.starts_at.astimezone(self.tz)

    @property
    def local_end(self) -> datetime:
        return self.shift.ends_at.astimezone(self.tz)

    def names(self, exclude: int | None = None) -> list[str]:
        return [m.display_name for a, m in self.active if m.id != exclude]

    def assignment_of(self, member_id: int) -> ShiftAssignment | None:
        for a, m in self.people:
            if m.id == member_id:
                return a
        return None


@dataclass
class Hours:
    month: float
    total: float
    shifts: int


@dataclass
class VisitView:
    name: str
    at: datetime
    seq: int


@dataclass
class RecordRow:
    member: Member
    assignment: ShiftAssignment
    visits: list[VisitView]


@dataclass
class ShiftRecord:
    view: ShiftView
    rows: list[RecordRow]
    findings: list[Issue]


@dataclass
class PlanPlace:
    place: Place
    label: str


def place_of(route: PatrolRoute) -> Place:
    return Place(route.community_id, route.area_id, route.building_id)


@dataclass
class CalendarEntry:
    """A shift of a volunteer's calendar file, with the name of its place."""

    view: ShiftView
    place: str

