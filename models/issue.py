"""Reported problems (the ledger, 台账): issues, their photos, events and followers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.base import Base, utcnow


class IssueStatus:
    NEW = "new"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    REOPENED = "reopened"
    WITHDRAWN = "withdrawn"
    # Fixed, and the reporter confirmed (or the confirmation window passed), but the office or the area
    # head still has to check it (验收) before it leaves the ledger (销号).
    VERIFYING = "verifying"
    # With an enforcement or service department (转办), working to the department's deadline.
    REFERRED = "referred"

    OPEN = (NEW, ACCEPTED, IN_PROGRESS, REOPENED, REFERRED)
    # Nobody has to *work* on a VERIFYING issue (no reminders, no escalation for the fix), so it sits
    # with the finished statuses: resolved_at is set, like RESOLVED. Not accepted sends it back to OPEN.
    DONE = (RESOLVED, VERIFYING, CLOSED, REJECTED, DUPLICATE, WITHDRAWN)
    # Fixed but not yet closed out: waiting for the reporter (RESOLVED) or for the check (VERIFYING).
    AWAITING = (RESOLVED, VERIFYING)


class CloseHow:
    """How an issue left the ledger (recorded with who and when on every close-out)."""

    VERIFIED = "verified"  # checked on site by staff or an area head
    CONFIRMED = "confirmed"  # the reporter said it is fixed; no check required
    UNCONFIRMED = "unconfirmed"  # nobody answered within the window; no check required
    MERGED = "merged"  # a duplicate of another issue
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    SETTLED = "settled"  # a private matter (私事) the captain says is settled
    SETTLED_BY_PARTIES = "both_settled"  # both sides of a private matter said so through the bot

    ALL = (VERIFIED, CONFIRMED, UNCONFIRMED, MERGED, REJECTED, WITHDRAWN, SETTLED, SETTLED_BY_PARTIES)
    # Fixed work that left the ledger without anybody checking it.
    WITHOUT_VERIFICATION = (CONFIRMED, UNCONFIRMED)


class Issue(Base):
    __tablename__ = "issues"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_issues_open", "community_id", "status", "deadline_at"),
        Index("ix_issues_created", "community_id", "created_at"),
        Index("ix_issues_resolved", "community_id", "resolved_at"),
        Index("ix_issues_closed", "community_id", "closed_at"),
        Index("ix_issues_accepted", "community_id", "accepted_at"),
        Index("ix_issues_dup", "building_id", "category", "created_at"),
        Index("ix_issues_missed", "community_id", "missed_deadline_at"),
        # The desk's ledger filters and sorts (bench_dashboard): rare values found without a scan.
        Index("ix_issues_triage", "community_id", "triage", "created_at"),
        Index("ix_issues_overdue", "community_id", "overdue", "created_at"),
        Index("ix_issues_deadline", "community_id", "deadline_at"),
        # One building's issues newest first (the ledger's building filter) without sorting them all.
        Index("ix_issues_building_created", "building_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    number: Mapped[int]
    reference: Mapped[str] = mapped_column(String(16), unique=True)  # e.g. NC0042 (shown as #NC0042)
    # Idempotency token of the draft that created it: a double-pressed Confirm creates one issue.
    client_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"), index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="SET NULL"))
    category: Mapped[str] = mapped_column(String(32))
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default=IssueStatus.NEW)
    triage: Mapped[str | None] = mapped_column(String(16))  # office | joint | residents (三事分流)
    # A captain's proposal of the way, waiting for staff to confirm or change it (None once decided).
    triage_proposed: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    place_note: Mapped[str | None] = mapped_column(String(255))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    assigned_to_office: Mapped[bool] = mapped_column(default=False)
    deadline_at: Mapped[datetime | None]
    # The first deadline the issue was given: escalation and rebounds give it new ones, but the office
    # judges the work against this one (shown beside the current deadline).
    first_deadline_at: Mapped[datetime | None]
    # The first deadline it missed (set when the tick finds it overdue). It stays when escalation sets a
    # new deadline, so the figures keep counting the issue as overdue work until it is done.
    missed_deadline_at: Mapped[datetime | None]
    # 0 building (captains), 1 area head, 2 office staff: who is responsible now.
    escalation_level: Mapped[int] = mapped_column(default=0)
    escalations: Mapped[int] = mapped_column(default=0)
    overdue: Mapped[bool] = mapped_column(default=False)
    reopen_count: Mapped[int] = mapped_column(default=0)
    satisfaction: Mapped[int | None]
    closed_without_confirmation: Mapped[bool] = mapped_column(default=False)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    reject_reason: Mapped[str | None] = mapped_column(String(32))
    shift_id: Mapped[int | None] = mapped_column(index=True)
    cleaning_day_id: Mapped[int | None] = mapped_column(index=True)
    # The triage card in the team chat (or a captain's private chat), edited in place.
    card_chat_id: Mapped[int | None]
    card_message_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Who closed it out and how (CloseHow); None for a person while the bot closed it (auto-close).
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    close_how: Mapped[str | None] = mapped_column(String(16))
    # Referral (转办): the department, when, and how often the responsible party refused to comply.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    referred_at: Mapped[datetime | None]
    refusals: Mapped[int] = mapped_column(default=0)
    # Set while the fix waits for the office's check; kept afterwards as the moment it was asked for.
    verify_requested_at: Mapped[datetime | None]
    last_escalated_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    photos: Mapped[list[IssuePhoto]] = relationship(
        back_populates="issue", order_by="IssuePhoto.position", cascade="all, delete-orphan")
    events: Mapped[list[IssueEvent]] = relationship(
        back_populates="issue", order_by="IssueEvent.id", cascade="all, delete-orphan")

    @validates("deadline_at")
    def _keep_first_deadline(self, _key: str, value: datetime | None) -> datetime | None:
        # Every path that sets a deadline (creation, accept, escalation, rebound) passes here, so the
        # first one is recorded without each of them having to remember it.
        if value is not None and self.first_deadline_at is None:
            self.first_deadline_at = value
        return value

    @property
    def is_open(self) -> bool:
        return self.status in IssueStatus.OPEN

    @property
    def deadline_moved(self) -> bool:
        """The current deadline is not the first one (escalated, extended or reopened)."""
        return (self.deadline_at is not None and self.first_deadline_at is not None
                and abs((self.deadline_at - self.first_deadline_at).total_seconds()) >= 60)

    @property
    def hashtag(self) -> str:
        return f"#{self.reference}"


class IssuePhoto(Base):
    __tablename__ = "issue_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8), default="before")  # before | after
    position: Mapped[int] = mapped_column(default=0)

    issue: Mapped[Issue] = relationship(back_populates="photos")


class IssueEvent(Base):
    """Every change of an issue, kept forever: who, when, from, to, note."""

    __tablename__ = "issue_events"
    __table_args__ = (Index("ix_issue_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))  # created, status, assigned, deadline, note, escalated...
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(default=True)
    # An "answered" event names the "asked" event it answers; unique, so a question is answered once.
    answer_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("issue_events.id", ondelete="SET NULL"), unique=True)

    issue: Mapped[Issue] = relationship(back_populates="events")


class IssueFollower(Base):
    __tablename__ = "issue_followers"
    __table_args__ = (UniqueConstraint("issue_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _install_search() -> None:
    from models.search import install

    install(Issue.__table__)


_install_search()
