"""What happened on a patrol, as facts for bot/notices/patrols.py to word (bot/services/events.py): ids and
plain values, recorded in the transaction that made them true. Where the rules decide who is asked (the
volunteer pool for a swap or a cover call), the event names them; captains are found by the notice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.services.events import Event


@dataclass(frozen=True)
class ShiftCancelled(Event):
    """A planner cancelled a shift; `member_ids` held a place on it (or were asked)."""

    shift_id: int
    member_ids: tuple[int, ...]


@dataclass(frozen=True)
class VolunteerRemoved(Event):
    """A captain took a volunteer off a shift."""

    shift_id: int
    assignment_id: int
    member_id: int
    at: datetime


@dataclass(frozen=True)
class VolunteerCantCome(Event):
    """A volunteer answered "can't make it" to the reminder: the captains are told."""

    shift_id: int
    assignment_id: int
    member_id: int


@dataclass(frozen=True)
class CoverNeeded(Event):
    """A shift fell below its minimum when someone left: the pool (`asked`) is called to cover."""

    shift_id: int
    assignment_id: int
    stamp: str  # when the place was left (seconds), so a second leaving asks again
    asked: tuple[int, ...]


@dataclass(frozen=True)
class VolunteerAsked(Event):
    """A captain put a volunteer on a shift; the volunteer is asked to confirm."""

    shift_id: int
    assignment_id: int
    member_id: int
    captain_id: int
    at: datetime


@dataclass(frozen=True)
class AssignmentAnswered(Event):
    """The volunteer's yes or no to a captain's assignment, for that captain."""

    shift_id: int
    assignment_id: int
    member_id: int
    captain_id: int
    yes: bool
    at: datetime


@dataclass(frozen=True)
class SwapOffered(Event):
    """A volunteer offers their place; `asked` are the volunteers it is offered to."""

    shift_id: int
    swap_id: int
    from_member_id: int
    asked: tuple[int, ...]


@dataclass(frozen=True)
class SwapTaken(Event):
    """Someone took an offered place: the giver and the captains are told."""

    shift_id: int
    swap_id: int
    taker_id: int
    giver_id: int


@dataclass(frozen=True)
class CheckedIn(Event):
    """A volunteer checked in: the others on the shift are told."""

    shift_id: int
    member_id: int


@dataclass(frozen=True)
class ShiftReminder(Event):
    """Reminder to a volunteer, `hours` (24 or 1) before the start."""

    shift_id: int
    member_id: int
    hours: int


@dataclass(frozen=True)
class ShiftUnderstaffed(Event):
    """A shift below its minimum 48 h or 24 h (`window`) before the start: the captains are told."""

    shift_id: int
    window: str
    have: int
    need: int


@dataclass(frozen=True)
class NobodyCheckedIn(Event):
    """Nobody checked in 15 minutes after the start."""

    shift_id: int


@dataclass(frozen=True)
class ShiftAutoClosed(Event):
    """No check-out 2 h after the end: these volunteers were checked out at the scheduled end."""

    shift_id: int
    member_ids: tuple[int, ...]


@dataclass(frozen=True)
class RosterDue(Event):
    """The week's roster message of a team chat is to be posted (RosterMessage row `roster_id`)."""

    roster_id: int
    expires_at: datetime


@dataclass(frozen=True)
class RosterChanged(Event):
    """A shift of a week whose roster was posted (or is waiting to be) changed: the message follows."""

    roster_id: int
