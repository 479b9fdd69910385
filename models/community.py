"""The three-level grid: community (一级网格) → area (片区) → building (楼栋), and linked group chats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class Community(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    code: Mapped[str] = mapped_column(String(4), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    # Community settings: categories override, escalation hours, digest time ... (documented in README).
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Numbers issue references (#NC0042); incremented under the write lock.
    next_issue_number: Mapped[int] = mapped_column(default=1)
    # Office hours as the structure file says them (`hours:`), shown in /contacts.
    hours: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    areas: Mapped[list[Area]] = relationship(back_populates="community", order_by="Area.id")


class Area(Base):
    __tablename__ = "areas"
    __table_args__ = (UniqueConstraint("community_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    hours: Mapped[str | None] = mapped_column(String(200))  # the area head's hours (`hours:`), for /contacts

    community: Mapped[Community] = relationship(back_populates="areas")
    buildings: Mapped[list[Building]] = relationship(back_populates="area", order_by="Building.id")


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("community_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    households: Mapped[int | None]
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    hours: Mapped[str | None] = mapped_column(String(200))  # the captains' hours (`hours:`), for /contacts

    area: Mapped[Area] = relationship(back_populates="buildings")


class ChatLink(Base):
    """A group chat linked to a place, as its team chat or its residents' chat."""

    __tablename__ = "chat_links"
    __table_args__ = (UniqueConstraint("place_kind", "place_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    place_kind: Mapped[str] = mapped_column(String(16))  # community | area | building
    place_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # team | residents
    source: Mapped[str] = mapped_column(String(16), default="link")  # import | link
    linked_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupChat(Base):
    """Every group the bot is in, so that unlinked ones can be left after a day."""

    __tablename__ = "group_chats"

    chat_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(255), default="")
    added_by: Mapped[int | None]
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]
