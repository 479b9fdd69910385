"""Digest runs: one row per digest the bot decided to send, so that each is enqueued exactly once.

The unique key (community, kind, period, scope, recipient) is what makes restarts, catch-up after
downtime and a second instance harmless: whoever inserts the row first enqueues the messages in the
same transaction; everyone else sees the row and does nothing. A row with recipient "*" is the
decision for the whole period (made once, marked late or skipped); the per-recipient rows record who
got a copy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class DigestRun(Base):
    __tablename__ = "digest_runs"
    __table_args__ = (
        UniqueConstraint("community_id", "kind", "period", "scope", "recipient"),
        Index("ix_digest_runs_latest", "community_id", "kind", "recipient", "period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # daily | weekly | monthly
    # The period's first local day, ISO (daily: the digest's own date; weekly: first day; monthly: the 1st).
    period: Mapped[str] = mapped_column(String(10))
    scope: Mapped[str] = mapped_column(String(24))  # community | area:<id>
    recipient: Mapped[str] = mapped_column(String(32))  # * (the decision) | chat:<id> | member:<id>
    late: Mapped[bool] = mapped_column(default=False)
    skipped: Mapped[bool] = mapped_column(default=False)  # too old to catch up: recorded, not sent
    messages: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
