"""Relays (转达): the bot passes messages between two sides that do not see each other's accounts.

Two kinds share one table: `issue` — a private matter (私事) where the building captain puts the reporter
(side A) in touch with another household of the building (side B: its members in the bot); `contact` — a
resident (side A) writes to a contact from /contacts (side B: a captain, an area head, or the community
office's chat). Stored, so a restart in the middle keeps every open conversation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Relay(Base):
    __tablename__ = "relays"

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # issue | contact
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    # Side A: the reporter / the resident who writes. None once they erased their data.
    a_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    # Side B: a household (issue relays) or a person (captain, area head) or the office (contact relays).
    b_household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id", ondelete="SET NULL"))
    b_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    # For contact relays: which role of B's the resident wrote to (captain | area_head | office) and
    # where, so the role is re-checked at every use.
    b_role: Mapped[str | None] = mapped_column(String(16))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="SET NULL"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | closed | ended
    a_settled: Mapped[bool] = mapped_column(default=False)
    b_settled: Mapped[bool] = mapped_column(default=False)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]


class RelayMessage(Base):
    """One relayed message (text and/or a photo). Its contents are scrubbed when a side erases their data."""

    __tablename__ = "relay_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    relay_id: Mapped[int] = mapped_column(ForeignKey("relays.id", ondelete="CASCADE"), index=True)
    side: Mapped[str] = mapped_column(String(1))  # a | b
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    text: Mapped[str | None] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
