"""Households (户): the flats of a building, and the residents who belong to each.

A household is the unit of consultation votes and survey responses: one household, one vote. Every
denominator counts all households of a place, including those with nobody in the bot, so households
exist as rows of their own (from the structure file), not only as labels on members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Household(Base):
    """A flat, named the way people say it: "2-301" (unit 2, room 301), or "301" with one entrance."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("building_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(32))  # "2-301", "301", "12"
    unit: Mapped[int | None]  # 单元; None where the building has one entrance
    floor: Mapped[int | None]
    room: Mapped[str] = mapped_column(String(16))  # "301"
    source: Mapped[str] = mapped_column(String(16), default="import")  # import | captain
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HouseholdMember(Base):
    """A resident belonging to a household. Several people may belong to one household."""

    __tablename__ = "household_members"
    __table_args__ = (UniqueConstraint("household_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    # Who put them there: themselves (None) or the captain who corrected it in /members.
    set_by: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
