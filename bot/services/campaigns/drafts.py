"""A campaign as staff draft it: the phases of the template (宣传发动 → 自查自纠 → 集中整治 → 检查验收) by key,
the draft the /campaign wizard fills, and what is wrong with one. The phases' names and instructions are
words: bot/notices/campaigns.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

MAX_NAME = 100
MAX_TARGET = 300
MAX_INSTRUCTION = 500

# The default template, in order. A phase stores its key, and its instruction only when staff typed their own.
PHASE_KEYS: tuple[str, ...] = ("publicity", "self_check", "clean_up", "acceptance")


def default_phases(start: date, end: date) -> list[dict[str, Any]]:
    """The four phases of the template with the days split evenly (the first ones get the extra days)."""
    days = (end - start).days + 1
    keys = list(PHASE_KEYS)
    n = min(len(keys), max(days, 1))
    out = []
    day = start
    for i, key in enumerate(keys[:n]):
        out.append({"key": key, "start": day.isoformat(), "instruction": None})
        day += timedelta(days=days // n + (1 if i < days % n else 0))
    return out


class CampaignError(ValueError):
    """A campaign that cannot be created as asked; `reason` names what (the handler words it)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CampDraft:
    community_id: int
    name: str = ""
    categories: list[str] = field(default_factory=list)
    whole: bool = False
    area_ids: list[int] = field(default_factory=list)
    building_ids: list[int] = field(default_factory=list)
    start: str | None = None  # ISO local day
    end: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    target: str = ""
    token: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CampDraft:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


