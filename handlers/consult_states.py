"""The /consult wizard's conversation states, shared by the wizard (handlers/consultations.py) and the
door-to-door screens (handlers/consult_door.py), which both live in private chats only."""

from __future__ import annotations

from aiogram import F
from aiogram.fsm.state import State, StatesGroup

# The wizard and the door-to-door screens name flats: they live in private chats only.
PRIVATE = F.message.chat.type == "private"


class Wiz(StatesGroup):
    place = State()
    question = State()
    plan = State()
    choices = State()
    deadline = State()
    rule = State()
    threshold = State()
    secret = State()
    confirm = State()
    form = State()  # door to door: the optional photo of the signed paper form
