"""People, their roles in the grid, invites and join requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, utcnow


class Member(Base):
    """A Telegram user the bot knows. Personal data can be erased (/deletedata); the row stays."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(unique=True)
    first_name: Mapped[str] = mapped_column(String(255), default="")
    last_name: Mapped[str | None] = mapped_column(String(255))
    username: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    language_code: Mapped[str | None] = mapped_column(String(35))  # as Telegram sends it
    locale: Mapped[str | None] = mapped_column(String(16))  # the person's explicit choice
    # Quiet hours for private messages, minutes after local midnight; both None = off.
    quiet_start: Mapped[int | None]
    quiet_end: Mapped[int | None]
    # Notification preferences: {"announcements": false, "cleaning": false, "digest": true, ...}
    prefs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started: Mapped[bool] = mapped_column(default=False)  # has opened a private chat with the bot
    privacy_seen_at: Mapped[datetime | None]
    data_deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[Role]] = relationship(back_populates="member", cascade="all, delete-orphan")

    @property
    def display_name(self) -> str:
        if self.data_deleted_at:
            return "—"
        return (self.first_name or self.username or f"#{self.id}").strip()


class Role(Base):
    """A role scoped to a place: resident/captain of a building, area_head of an area, staff/volunteer
    of a community. `source` tells who granted it, so a re-import removes only what the file granted."""

    __tablename__ = "roles"
    __table_args__ = (
        UniqueConstraint("member_id", "role", "community_id", "area_id", "building_id"),
        Index("ix_roles_place", "community_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="invite")  # import | invite | approval
    granted_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[Member] = relationship(back_populates="roles")


class Invite(Base):
    """A single-purpose code: join a place with a role, or link a group chat to a place."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(8), default="join")  # join | link
    role: Mapped[str | None] = mapped_column(String(16))  # join: the role granted
    chat_kind: Mapped[str | None] = mapped_column(String(16))  # link: team | residents
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime | None]
    max_uses: Mapped[int | None]
    uses: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JoinRequest(Base):
    """A person asking to join a building without an invite; its captains approve or decline."""

    __tablename__ = "join_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|approved|declined
    decided_by: Mapped[int | None]
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
