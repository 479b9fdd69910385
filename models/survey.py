"""Satisfaction surveys (满意度测评): one response per household, each question scored 1–5."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    # [{"en": "...", "zh_Hans": "..."}] from the template, or [{"text": "..."}] when typed by staff.
    questions: Mapped[list[Any]]
    # The buildings asked, fixed when the survey starts (a community or an area expands to its buildings).
    building_ids: Mapped[list[Any]]
    target: Mapped[float] = mapped_column(default=2 / 3)  # share of households per building
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | closed
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyResponse(Base):
    """The one response of a household. `member_id` is who answered (None once they erased their data)."""

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("survey_id", "household_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    building_id: Mapped[int]
    member_id: Mapped[int | None]
    scores: Mapped[list[Any]]  # one 1..5 per question
    comments: Mapped[list[Any]]  # one str (may be empty) per question
    in_person: Mapped[bool] = mapped_column(default=False)  # recorded by a captain door to door
    recorded_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
