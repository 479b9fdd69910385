"""Cleaning days (卫生清洁日): a series (how often, where, when), its occurrences materialised as rows so
reminders and RSVPs attach to them, the RSVPs, and the messages the bot keeps up to date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class CleaningSeries(Base):
    """What a captain sets up once: "every 2nd Saturday, 9:00, Buildings 1–4"."""

    __tablename__ = "cleaning_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    # Target: scope "buildings" uses building_ids; "area" every building of area_id; "community" all.
    scope: Mapped[str] = mapped_column(String(16), default="buildings")
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    building_ids: Mapped[list[Any]] = mapped_column(default=list)
    # Recurrence (bot/services/recurrence.Rule): once | weekly | monthly_nth | monthly_day.
    freq: Mapped[str] = mapped_column(String(16), default="once")
    interval: Mapped[int] = mapped_column(default=1)
    nth: Mapped[int | None]
    weekday: Mapped[int | None]
    month_day: Mapped[int | None]
    start_date: Mapped[date] = mapped_column(Date)
    until_date: Mapped[date | None] = mapped_column(Date)
    start_minutes: Mapped[int] = mapped_column(default=9 * 60)  # local wall-clock time
    duration_minutes: Mapped[int] = mapped_column(default=120)
    meeting_point: Mapped[str | None] = mapped_column(String(255))
    tasks: Mapped[str | None] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(255))
    # Reminder offsets, e.g. ["3d", "1d@19:00", "0d@08:00"] (see recurrence.py).
    reminders: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | cancelled
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # Idempotency token of the draft: a double-pressed Create makes one series.
    client_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]

    days: Mapped[list[CleaningDay]] = relationship(back_populates="series", order_by="CleaningDay.local_date")


class CleaningDay(Base):
    """One occurrence of a series, unique per series and local date."""

    __tablename__ = "cleaning_days"
    __table_args__ = (
        UniqueConstraint("series_id", "local_date"),
        Index("ix_cleaning_days_due", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("cleaning_series.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    local_date: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # scheduled | skipped | cancelled | held (attendance recorded)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    # Reminder offsets already handled (sent, or passed over because a later one was due).
    reminders_done: Mapped[list[Any]] = mapped_column(default=list)
    after_prompted: Mapped[bool] = mapped_column(default=False)  # the captain was asked how it went
    attendance: Mapped[int | None]
    bags: Mapped[int | None]
    summary: Mapped[str | None] = mapped_column(Text)
    after_photos: Mapped[list[Any]] = mapped_column(default=list)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime | None]

    series: Mapped[CleaningSeries] = relationship(back_populates="days")


class CleaningRsvp(Base):
    """One answer per person per occurrence; changing it is allowed. `attended` is filled in after."""

    __tablename__ = "cleaning_rsvps"
    __table_args__ = (UniqueConstraint("day_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day_id: Mapped[int] = mapped_column(ForeignKey("cleaning_days.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    coming: Mapped[bool] = mapped_column(default=True)
    attended: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CleaningPost(Base):
    """A message the bot sent about an occurrence and keeps current: the captain's count card, or a
    reminder in a residents' chat whose "· 14 neighbours coming" line follows the RSVPs."""

    __tablename__ = "cleaning_posts"
    __table_args__ = (UniqueConstraint("day_id", "chat_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day_id: Mapped[int] = mapped_column(ForeignKey("cleaning_days.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(index=True)
    message_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(12))  # card | reminder
    offset: Mapped[str | None] = mapped_column(String(16))
    photo: Mapped[bool] = mapped_column(default=False)
    locale: Mapped[str] = mapped_column(String(16), default="en")
