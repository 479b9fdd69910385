"""The household picker's callback data: unit → floor → room, never one long list of flats."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

# What the picker is for, which decides its way out and what happens after a flat is chosen:
# jr joined as a resident (invite) · jc joined as a captain (invite; may not live there) ·
# rq asked to join (the request is filed with the flat) · st /settings · cp a captain correcting /members.
MODES = ("jr", "jc", "rq", "st", "cp")


class HhCb(CallbackData, prefix="hh"):
    """a: top | u (unit chosen) | f (floor chosen) | g (group of numbered flats) | r (flat h chosen) |
    no (skip / I don't live here / cancel). b: building · m: whose household · mo: mode (MODES) ·
    u, f: the unit and floor chosen (-1 = none) · g: group index · h: household id."""

    a: str
    b: int
    m: int
    mo: str
    u: int = -1
    f: int = -1
    g: int = -1
    h: int = 0
