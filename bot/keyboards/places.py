"""The one place picker of /announce, /cleanday, /campaign and /consult: buildings (toggled, ✅ when chosen)
and one-tap choices (a whole area, the community, an audience), Next once something is chosen, Cancel.
Each conversation keeps its own callback data; the picker only lays out the buttons. Also how places are
named on them and in the texts about them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.keyboards.common import CancelCb

# The letter a place's kind carries in callback data ("b12" = building 12).
CODES = {"building": "b", "area": "a", "area_captains": "h", "community": "c", "volunteers": "v", "captains": "k"}
KINDS = {code: kind for kind, code in CODES.items()}


class Option(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class PlaceButton:
    kind: str
    name: str
    value: str  # what the button's callback data carries
    ticked: bool = False  # a toggled place that is chosen


def place_text(kind: str, name: str) -> str:
    """A place as its button names it."""
    if kind == "area":
        return _("🏘 All of {area}").format(area=name)
    if kind == "area_captains":
        return _("🏠 Captains of {area}").format(area=name)
    if kind == "community":
        return _("🏙 The whole community")
    if kind == "volunteers":
        return _("🦺 All volunteers")
    if kind == "captains":
        return _("🏠 All building captains")
    return name


def buildings_text(names: Sequence[str]) -> str:
    """Buildings by name, shortened when there are many ("A, B, C and 4 more buildings")."""
    if len(names) > 4:
        return _("{first} and {n} more buildings").format(first=", ".join(names[:3]), n=len(names) - 3)
    return ", ".join(names)


def buildings_first(options: Sequence[Option], chosen: Collection[int]) -> list[PlaceButton]:
    """The buildings (toggled) first, then the one-tap choices in their order."""
    return ([PlaceButton(o.kind, o.name, f"b{o.id}", o.id in chosen) for o in options if o.kind == "building"] +
            [PlaceButton(o.kind, o.name, f"{CODES[o.kind]}{o.id}") for o in options if o.kind != "building"])


def picker_kb(buttons: Sequence[PlaceButton], pick: Callable[[str], CallbackData], next_cb: CallbackData | None,
              sizes: Sequence[int] = (2,)) -> InlineKeyboardMarkup:
    """The picker: `pick(value)` is each button's callback data; Next (when given) and Cancel follow."""
    kb = InlineKeyboardBuilder()
    for b in buttons:
        kb.button(text=(("✅ " if b.ticked else "") + place_text(b.kind, b.name))[:60], callback_data=pick(b.value))
    if next_cb is not None:
        kb.button(text=_("➡️ Next"), callback_data=next_cb)
    kb.button(text=_("✖️ Cancel"), callback_data=CancelCb())
    kb.adjust(*sizes)
    return kb.as_markup()


def picked(value: str) -> tuple[str, int] | None:
    """A place button's value ("b12") as (kind, id); None when forged or stale."""
    kind, raw = KINDS.get(value[:1]), value[1:]
    if kind is None or not raw.isdigit() or not 0 < int(raw) < 2**62:
        return None
    return kind, int(raw)
