"""The persistent outbox: every message the bot sends on its own, and what it knows about chats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class OutboxStatus:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # permanent: blocked, chat not found, kicked
    EXPIRED = "expired"  # its moment passed before it could be sent


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        Index("ix_outbox_batch", "batch"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique per kind, subject and recipient: enqueueing twice is a no-op.
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(index=True)
    member_id: Mapped[int | None]
    community_id: Mapped[int | None] = mapped_column(index=True)
    # {"method": "message"|"photo"|"album"|"document"|"edit", "text": ..., "buttons": [[[t, data]]], ...}
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    urgent: Mapped[bool] = mapped_column(default=False)
    # A group of items whose delivery is reported together (an announcement).
    batch: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.PENDING)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    deferred: Mapped[bool] = mapped_column(default=False)  # held back by quiet hours
    expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None]  # of the sent message, for later edits
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatState(Base):
    """What the bot learned about a chat while sending: blocked, gone, migrated to a supergroup."""

    __tablename__ = "chat_states"

    chat_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    unreachable: Mapped[str | None] = mapped_column(String(64))  # reason, when sending stopped
    migrated_to: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
