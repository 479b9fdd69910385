"""Announcements (通知): a text (and photo) for an audience, delivered through the outbox as batch
`ann:{id}`, with a delivery report to the author once the batch is done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Announcement(Base):
    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_status", "status", "send_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    # The body as Telegram HTML built by the bot from the author's text and formatting entities
    # (user text escaped; never raw user HTML).
    body_html: Mapped[str] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(255))
    # Audience: buildings (building_ids) | area (area_id) | community | volunteers | captains
    audience: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    building_ids: Mapped[list[Any]] = mapped_column(default=list)
    urgent: Mapped[bool] = mapped_column(default=False)
    send_at: Mapped[datetime]
    # scheduled -> sending (rows in the outbox) -> reported; or cancelled
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    client_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Figures fixed when the batch is queued: recipients, never_started, muted, chats.
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]

    @property
    def batch(self) -> str:
        return f"ann:{self.id}"
