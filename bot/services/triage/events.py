"""What triage tells the words layer (bot/notices/triage.py): one event per thing people must hear.

Ids and plain values only; the notice loads the issue from the same session (already up to date) and
words the message for each recipient in their language. `place` is the issue's place name as stored
(a building's or area's name), `event_id` the IssueEvent the message is about (it makes the outbox
keys unique)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.services.events import Event


@dataclass(frozen=True)
class IssueAccepted(Event):
    issue_id: int
    event_id: int
    place: str


@dataclass(frozen=True)
class IssueAssigned(Event):
    issue_id: int
    event_id: int
    place: str
    to_office: bool
    worker_ids: tuple[int, ...]  # told privately, with the card's buttons


@dataclass(frozen=True)
class IssueUnassigned(Event):
    """The assignee lost their last role: the issue is back with the building's captains."""

    issue_id: int
    event_id: int
    place: str
    worker_ids: tuple[int, ...]


@dataclass(frozen=True)
class DeadlineSet(Event):
    issue_id: int
    event_id: int
    deadline: datetime


@dataclass(frozen=True)
class IssueRejected(Event):
    issue_id: int
    event_id: int
    reason: str


@dataclass(frozen=True)
class IssueMerged(Event):
    issue_id: int
    event_id: int
    original_id: int


@dataclass(frozen=True)
class IssueResolved(Event):
    """Marked fixed: followers get before → after and the "is it fixed?" question."""

    issue_id: int
    event_id: int
    note: str | None


@dataclass(frozen=True)
class WayProposed(Event):
    issue_id: int
    event_id: int
    way: str


@dataclass(frozen=True)
class WentToOffice(Event):
    """An office matter (三事分流): the office handles it now."""

    issue_id: int
    stamp: int


@dataclass(frozen=True)
class IssueSettled(Event):
    issue_id: int
    event_id: int


@dataclass(frozen=True)
class PublicNoteAdded(Event):
    issue_id: int
    event_id: int
    text: str


@dataclass(frozen=True)
class QuestionAsked(Event):
    issue_id: int
    event_id: int
    reporter_id: int
    question: str


@dataclass(frozen=True)
class ReporterAnswered(Event):
    """To the card's thread, or (no card chat) privately to each person who asked."""

    issue_id: int
    event_id: int
    text: str
    asker_ids: tuple[int, ...]


@dataclass(frozen=True)
class CheckAwaited(Event):
    """Fixed and confirmed (`how`); the office or the area head (`level`) must check it."""

    issue_id: int
    event_id: int
    place: str
    how: str
    level: int


@dataclass(frozen=True)
class IssueVerified(Event):
    issue_id: int
    event_id: int


@dataclass(frozen=True)
class IssueNotAccepted(Event):
    issue_id: int
    event_id: int
    reason: str
    fixer_id: int | None  # whoever fixed it, told privately (not when they are the checker)


@dataclass(frozen=True)
class IssueReopened(Event):
    issue_id: int
    event_id: int
    by_id: int
    comment: str


@dataclass(frozen=True)
class Overdue(Event):
    """A missed deadline that goes no higher: `where` is "referral" (the department is late), "private"
    (a private matter stays with the building) or "office" (nobody above the office)."""

    issue_id: int
    where: str
    place: str


@dataclass(frozen=True)
class IssueEscalated(Event):
    issue_id: int
    place: str
    overdue: bool  # else: nobody accepted it in time
    hours: float
    level: int
    old_level: int


@dataclass(frozen=True)
class ReminderDue(Event):
    """"Due in one day" (`kind` "1d") or "due today at hh:mm" ("day"), to whoever works on it. The notice
    adds the id of each person it newly enqueued for to `told` (the job counts them)."""

    issue_id: int
    kind: str
    at: str
    worker_ids: tuple[int, ...]
    told: list[int] = field(default_factory=list, compare=False)
