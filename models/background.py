"""Background jobs: work that may take longer than a second or two (a ledger export with photos, a digest
on demand), asked for in a chat and done off the update path by the bot's job worker (bot/worker.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # an error, or over the size or time cap: the person was told why

    ACTIVE = (QUEUED, RUNNING)


class BackgroundJob(Base):
    __tablename__ = "background_jobs"
    __table_args__ = (Index("ix_background_jobs_due", "status", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    # One job per person at a time: the member id while the job is queued or running, NULL after (NULLs
    # do not collide in a unique column), so two requests racing cannot both start one.
    active_for: Mapped[int | None] = mapped_column(unique=True)
    chat_id: Mapped[int]
    # The message the worker edits with the progress ("Exporting… 1,200 of 3,400 rows").
    message_id: Mapped[int | None]
    locale: Mapped[str] = mapped_column(String(16), default="en")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default=JobStatus.QUEUED)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
