"""Volunteer patrols (志愿巡防): routes with checkpoints, shift templates, shifts, who is on them, what
they logged, swap offers and the weekly roster message in a team chat."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class PatrolRoute(Base):
    """A route or area a team walks. Its place (community, area or building) decides who plans it."""

    __tablename__ = "patrol_routes"
    __table_args__ = (UniqueConstraint("community_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    # Import key (structure file); routes made in the bot get "r<id>"-style keys of their own.
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(16), default="bot")  # bot | import
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    checkpoints: Mapped[list[PatrolCheckpoint]] = relationship(
        back_populates="route", order_by="PatrolCheckpoint.position", cascade="all, delete-orphan")
    templates: Mapped[list[ShiftTemplate]] = relationship(
        back_populates="route", order_by="ShiftTemplate.id", cascade="all, delete-orphan")


class PatrolCheckpoint(Base):
    __tablename__ = "patrol_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("patrol_routes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(String(120))
    lat: Mapped[float | None]
    lon: Mapped[float | None]

    route: Mapped[PatrolRoute] = relationship(back_populates="checkpoints")


class ShiftTemplate(Base):
    """A recurring shift: on some weekdays (0 = Monday) or on listed dates, local wall time start-end
    in the community's time zone (an end at or before the start ends the next day)."""

    __tablename__ = "patrol_templates"
    __table_args__ = (CheckConstraint("min_volunteers >= 1 AND max_volunteers >= min_volunteers", name="people"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("patrol_routes.id", ondelete="CASCADE"), index=True)
    weekdays: Mapped[list[Any]] = mapped_column(default=list)  # [0..6]
    dates: Mapped[list[Any]] = mapped_column(default=list)  # ["2026-12-31", ...]
    start_minute: Mapped[int]  # minutes after local midnight
    end_minute: Mapped[int]
    min_volunteers: Mapped[int] = mapped_column(default=1)
    max_volunteers: Mapped[int] = mapped_column(default=4)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    route: Mapped[PatrolRoute] = relationship(back_populates="templates")


class ShiftStatus:
    PLANNED = "planned"
    CANCELLED = "cancelled"
    DONE = "done"  # ended and closed (everyone checked out or auto-closed)


class PatrolShift(Base):
    """One shift on one local date. Generated shifts are unique per (template, local date), so running
    generation twice never duplicates; one-off shifts have no template."""

    __tablename__ = "patrol_shifts"
    __table_args__ = (
        UniqueConstraint("template_id", "local_date"),
        Index("ix_patrol_shifts_start", "community_id", "status", "starts_at"),
        CheckConstraint("filled >= 0 AND filled <= max_volunteers", name="capacity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    route_id: Mapped[int] = mapped_column(ForeignKey("patrol_routes.id", ondelete="CASCADE"), index=True)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_templates.id", ondelete="SET NULL"))
    local_date: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    min_volunteers: Mapped[int] = mapped_column(default=1)
    max_volunteers: Mapped[int] = mapped_column(default=4)
    # Active volunteers, changed only by single conditional UPDATEs: the capacity check is atomic.
    filled: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(12), default=ShiftStatus.PLANNED)
    note: Mapped[str | None] = mapped_column(String(255))  # one-off: "Spring Festival"
    cancelled_at: Mapped[datetime | None]
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # Alerts already raised (the tick looks only at rows where these are empty).
    under_48_at: Mapped[datetime | None]
    under_24_at: Mapped[datetime | None]
    no_checkin_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    route: Mapped[PatrolRoute] = relationship()
    assignments: Mapped[list[ShiftAssignment]] = relationship(
        back_populates="shift", order_by="ShiftAssignment.id", cascade="all, delete-orphan")


class AssignmentStatus:
    INVITED = "invited"  # a captain assigned them; waiting for their yes
    ACTIVE = "active"
    DROPPED = "dropped"  # dropped, couldn't make it, or removed by a captain
    DECLINED = "declined"  # said no to a captain's assignment
    SWAPPED = "swapped"  # handed over to someone who took their swap offer
    CANCELLED = "cancelled"  # the shift was cancelled


class ShiftAssignment(Base):
    __tablename__ = "patrol_assignments"
    __table_args__ = (
        UniqueConstraint("shift_id", "member_id"),
        Index("ix_patrol_assignments_member", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("patrol_shifts.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default=AssignmentStatus.ACTIVE)
    assigned_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None]  # "I'll be there" on the 24 h reminder
    reminded_24_at: Mapped[datetime | None]
    reminded_1_at: Mapped[datetime | None]
    dropped_at: Mapped[datetime | None]
    drop_reason: Mapped[str | None] = mapped_column(String(16))  # drop | cant_make_it | captain | swap
    checked_in_at: Mapped[datetime | None]
    check_in_lat: Mapped[float | None]
    check_in_lon: Mapped[float | None]
    checked_out_at: Mapped[datetime | None]
    check_out_note: Mapped[str | None] = mapped_column(Text)
    auto_closed: Mapped[bool] = mapped_column(default=False)  # no check-out: closed at the scheduled end
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shift: Mapped[PatrolShift] = relationship(back_populates="assignments")


class CheckpointVisit(Base):
    """"At checkpoint X" during a shift, in the order they were logged."""

    __tablename__ = "patrol_checkpoint_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("patrol_assignments.id", ondelete="CASCADE"),
                                               index=True)
    checkpoint_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_checkpoints.id", ondelete="SET NULL"))
    seq: Mapped[int] = mapped_column(default=1)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    lat: Mapped[float | None]
    lon: Mapped[float | None]


class ShiftSwap(Base):
    """A volunteer offering their place on a shift to the pool; the first to accept takes it."""

    __tablename__ = "patrol_swaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("patrol_shifts.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("patrol_assignments.id", ondelete="CASCADE"))
    from_member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | taken | withdrawn
    taken_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    taken_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RosterMessage(Base):
    """The weekly roster posted in a team chat on Monday morning and edited in place that week."""

    __tablename__ = "patrol_roster_messages"
    __table_args__ = (UniqueConstraint("community_id", "chat_id", "week_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(index=True)
    week_start: Mapped[date] = mapped_column(Date)  # the local Monday
    message_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
