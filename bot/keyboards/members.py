"""/members and /invite keyboards. Callback data carries only ids and short codes; handlers re-load
everything and the services check the presser's rights again."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _
from bot.services.access import Place

PAGE = 8  # buttons of people or places per page: fits a phone screen


class MemCb(CallbackData, prefix="mem"):
    """a: list | place | rm | rmask | rmgo | ho | hob | hof | hot | hog | close
    p: place code · pg: page · id/fr/to: a role, building or member id, as the action needs."""

    a: str
    p: str = ""
    pg: int = 0
    id: int = 0
    fr: int = 0
    to: int = 0


class InvCb(CallbackData, prefix="inv"):
    """a: home | places | place | make | link | lplace | lmake | revoke | close
    p: place code · v: role or chat kind · id: invite id · pg: page."""

    a: str
    p: str = ""
    v: str = ""
    id: int = 0
    pg: int = 0


def place_code(place: Place) -> str:
    if place.building_id is not None:
        return f"b{place.building_id}"
    if place.area_id is not None:
        return f"a{place.area_id}"
    return f"c{place.community_id}"


def page_slice(items: Sequence[object], page: int, size: int = PAGE) -> tuple[int, int, int]:
    """(page clamped to range, start, end) of one page of items."""
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 0), pages - 1)
    return page, page * size, min(len(items), (page + 1) * size)


def nav_row(kb: InlineKeyboardBuilder, total: int, page: int, make: Callable[[int], CallbackData],
            size: int = PAGE) -> int:
    """Add ◀️ n/N ▶️ buttons when there is more than one page. Returns how many buttons were added."""
    pages = max(1, -(-total // size))
    if pages <= 1:
        return 0
    added = 0
    if page > 0:
        kb.button(text="◀️", callback_data=make(page - 1))
        added += 1
    if page < pages - 1:
        kb.button(text="▶️", callback_data=make(page + 1))
        added += 1
    return added


def widths(n: int, per_row: int) -> list[int]:
    """Row sizes for n buttons, per_row to a row, the last row holding the rest."""
    return [min(per_row, n - i) for i in range(0, n, per_row)]


def builder() -> InlineKeyboardBuilder:
    return InlineKeyboardBuilder()


def finish(kb: InlineKeyboardBuilder, sizes: list[int]) -> InlineKeyboardMarkup:
    kb.adjust(*[s for s in sizes if s > 0] or [1])
    return kb.as_markup()


def back_to_members(place: str = "") -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("⬅️ Back"), callback_data=MemCb(a="place" if place else "list", p=place))
    return kb.as_markup()


def back_to_invites() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("⬅️ Back to invites"), callback_data=InvCb(a="home"))
    return kb.as_markup()
