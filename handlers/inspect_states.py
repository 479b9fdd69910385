"""/inspect's conversation states, shared by the walk (handlers/inspections.py) and the office's screens
(handlers/inspect_office.py)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class InspectFlow(StatesGroup):
    choosing = State()  # a building, or a location
    walking = State()  # photos and a note for a failed item
    naming = State()  # a new checklist's name
    item_text = State()  # a new item's words
