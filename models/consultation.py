"""Consultations (民意征集 / 议事协商): a question put to every household of some buildings, one vote per
household, decided by a rule over *all* households of those places (default: more than 60% agree)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(Text)
    # The plan to look at (公示设计方案): [{"kind": "photo"|"document", "file_id": ...}]
    plan: Mapped[list[Any]] = mapped_column(default=list)
    # Custom choices as typed; empty = the default agree / disagree / no opinion (translated when shown).
    choices: Mapped[list[Any]] = mapped_column(default=list)
    building_ids: Mapped[list[Any]] = mapped_column(default=list)
    # Rule: "all" = share of ALL households of the places (the plans' rule); "answered" = of those who answered.
    rule: Mapped[str] = mapped_column(String(16), default="all")
    threshold_pct: Mapped[int] = mapped_column(default=60)  # passes when strictly MORE than this share agrees
    secret: Mapped[bool] = mapped_column(default=False)
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | closed
    # Set by the tick once the private messages and the residents' chat posts are enqueued.
    announced_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_early: Mapped[bool] = mapped_column(default=False)
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsultationVote(Base):
    """The one answer of a household; any member may change it until the deadline."""

    __tablename__ = "consultation_votes"
    __table_args__ = (UniqueConstraint("consultation_id", "household_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    choice: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    # Who answered: the member (None once they erased their data — the vote stays, anonymised).
    voter_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # "bot" | "in_person" (入户: recorded by the captain, in person)
    via: Mapped[str] = mapped_column(String(16), default="bot")
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    form_photo: Mapped[str | None] = mapped_column(String(255))  # the signed paper form
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsultationPost(Base):
    """The consultation's post in one residents' chat, edited in place with the live tally. The state
    of the coalescing lives here (not in memory), so a restarted bot goes on editing the same message
    no more often than the community's `consultations.tally_every_minutes`."""

    __tablename__ = "consultation_posts"
    __table_args__ = (UniqueConstraint("consultation_id", "chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int]
    message_id: Mapped[int | None]  # set once the post is sent (outbox sent hook)
    shown: Mapped[str | None] = mapped_column(Text)  # the tally text last put on the message (or queued)
    edited_at: Mapped[datetime | None]  # when the last edit was queued: the next waits the interval
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
