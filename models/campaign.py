"""Campaigns (专项整治): a named drive over some categories, places and dates, with optional phases
(宣传发动 → 自查自纠 → 集中整治 → 检查验收) and the issues that belong to it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    categories: Mapped[list[Any]]  # category keys
    # Places: both empty = the whole community; else its areas and single buildings.
    area_ids: Mapped[list[Any]]
    building_ids: Mapped[list[Any]]
    start_day: Mapped[date] = mapped_column(Date)  # local days, inclusive
    end_day: Mapped[date] = mapped_column(Date)
    # [{"key": "publicity", "start": "YYYY-MM-DD", "instruction": "..."}] in order; may be empty.
    phases: Mapped[list[Any]]
    # Indexes of the phases whose start was announced (or passed over after downtime): announced once.
    phases_done: Mapped[list[Any]]
    target: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    client_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | ended
    summary_at: Mapped[datetime | None]  # the end summary was queued for the office
    xlsx_queued_at: Mapped[datetime | None]  # its spreadsheet was handed to the background worker
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignIssue(Base):
    """An issue of a campaign: joined automatically when reported, or added by hand (`added_by`)."""

    __tablename__ = "campaign_issues"
    __table_args__ = (UniqueConstraint("campaign_id", "issue_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    manual: Mapped[bool] = mapped_column(default=False)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
