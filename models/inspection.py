"""Inspections (检查, 明查暗访): a checklist walked building by building, item by item, pass or fail; and
the week's unannounced spot checks (星期抽查) drawn at random and given to inspectors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Inspection(Base):
    """One walk of one checklist through one building. The items are copied in when it starts, so a
    checklist edited later does not change a record already kept."""

    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_done", "community_id", "status", "finished_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    checklist_key: Mapped[str] = mapped_column(String(64))
    # [{"key", "category", "msgid"} or {"key", "category", "en", "zh"}] as the checklist stood at the start.
    items: Mapped[list[Any]]
    # One entry per item once answered: {"ok": bool, "note": str, "photos": [file_id], "issue_id": int|None}.
    results: Mapped[list[Any]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(default=0)  # the item on screen
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | done | cancelled
    passed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    spot_check_id: Mapped[int | None] = mapped_column(ForeignKey("spot_checks.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class SpotCheck(Base):
    """A building drawn for this week's unannounced check and the inspector it was given to."""

    __tablename__ = "spot_checks"
    __table_args__ = (UniqueConstraint("community_id", "week_start", "building_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    week_start: Mapped[date] = mapped_column(Date)  # the local Monday
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    drawn_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
