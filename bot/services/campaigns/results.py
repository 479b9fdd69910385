"""What the campaign rules hand back and tell: figures per building (computed from the issues' timestamps,
so "the change since last week" needs no snapshots), a campaign's progress and end summary, and the events
of its tick (a phase started, the campaign ended), worded in bot/notices/campaigns.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.services.events import Event
from models import Campaign, Community


@dataclass
class Figures:
    found: int = 0
    fixed: int = 0
    verified: int = 0
    overdue: int = 0
    refused: int = 0

    def add(self, other: Figures) -> None:
        for name in ("found", "fixed", "verified", "overdue", "refused"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def minus(self, other: Figures) -> Figures:
        return Figures(*(getattr(self, n) - getattr(other, n)
                         for n in ("found", "fixed", "verified", "overdue", "refused")))


@dataclass
class ProgressRow:
    name: str
    now: Figures
    change: Figures  # since a week ago


@dataclass
class Progress:
    campaign: Campaign
    community: Community
    rows: list[ProgressRow]
    total: ProgressRow
    phase: int | None  # index of the current phase
    as_of: datetime
    places: list[str] = field(default_factory=list)  # its areas' and buildings' names; empty: the community


@dataclass
class IssueChoice:
    campaign: Campaign
    member: bool


@dataclass
class Summary:
    progress: Progress
    album: list[tuple[str, str, str]]  # (reference, before file id, after file id), best first


@dataclass(frozen=True)
class CampaignPhaseStarted(Event):
    """A phase's first day has come (09:00 local): its instruction goes to the captains and residents' chats."""

    campaign_id: int
    index: int


@dataclass(frozen=True)
class CampaignEnded(Event):
    """A campaign is past its last day: the office gets its summary."""

    campaign_id: int
