"""Enforcement and service departments an issue can be referred to (城管、消防、派出所、物业、住建…)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base

DEPARTMENT_KINDS = ("urban_management", "fire", "police", "property", "housing", "other")


class Department(Base):
    """One per `departments:` entry of the structure file; matched by key on re-import."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("community_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    name_zh: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(24), default="other")
    # The liaison's Telegram group: it gets the card with photos (never a private view, never a name).
    chat_id: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)

    def label(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") and self.name_zh else self.name
