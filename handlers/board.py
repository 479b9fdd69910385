"""/board and its menu button: a resident's building's open issues and those fixed in the last 30 days,
with before/after photos on request and 🔔 to follow one — never who reported them. Glue only: the rules
are in bot/services/board.py, the lines in bot/notices/board.py."""

from __future__ import annotations

import contextlib

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, InputMediaPhoto, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, ngettext
from bot.keyboards.common import MenuCb
from bot.notices.board import item_lines, photos_of
from bot.rendering import esc
from bot.services.access import Actor, NotAllowed, can
from bot.services.board import FIXED_DAYS, BoardService
from bot.services.members import MembersService
from bot.services.reporting import ReportingService
from models import Building, Member

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class BoardCb(CallbackData, prefix="bd"):
    """a: p (page p of building b) | f (follow issue i, shown on page p) | ph (photos of issue i)."""

    a: str
    b: int
    p: int = 0
    i: int = 0


async def _building(board: BoardService, members: MembersService, actor: Actor, member: Member,
                    building_id: int) -> Building:
    """A building whose board this person may read: one they belong to, or one they may see issues of."""
    building = await board.building(building_id)
    if building.id in {b.id for b in await board.buildings_of(member.id)}:
        return building
    if can(actor, "view_issue", await members.building_place(building.id)):
        return building
    raise NotAllowed("view_issue")


async def _screen(board: BoardService, member: Member, building: Building,
                  page: int) -> tuple[str, InlineKeyboardMarkup]:
    community = await board.community_of(building)
    result = await board.page(building, page)
    now = board.clock()
    lines = [_("📌 <b>{building}: the board</b>").format(building=esc(building.name)),
             ngettext("%(num)d open", "%(num)d open", result.open_total) + " · "
             + ngettext("%(num)d fixed in the last %(days)d days", "%(num)d fixed in the last %(days)d days",
                        result.fixed_total, days=FIXED_DAYS)]
    if not result.items:
        lines += ["", _("Nothing open and nothing fixed lately. Seen a problem? Report it with 📷.")]
    for it in result.items:
        lines += ["", *item_lines(it, community, now)]
    if result.pages > 1:
        lines += ["", _("Page {page} of {pages}").format(page=result.page + 1, pages=result.pages)]
    lines += ["", _("Nobody's name is shown here: who reported what stays with the captains.")]
    kb = InlineKeyboardBuilder()
    mine = await board.mine(member.id, [it.id for it in result.items])
    widths: list[int] = []
    for it in result.items:
        if not it.fixed and it.id not in mine:
            kb.button(text=_("🔔 Follow {ref}").format(ref=it.hashtag),
                      callback_data=BoardCb(a="f", b=building.id, p=result.page, i=it.id))
            widths.append(1)
        if it.fixed and (it.before or it.after):
            kb.button(text=_("📷 {ref} before/after").format(ref=it.hashtag),
                      callback_data=BoardCb(a="ph", b=building.id, p=result.page, i=it.id))
            widths.append(1)
    nav = 0
    if result.page > 0:
        kb.button(text=_("◀️ Back"), callback_data=BoardCb(a="p", b=building.id, p=result.page - 1))
        nav += 1
    if result.page + 1 < result.pages:
        kb.button(text=_("More ▶️"), callback_data=BoardCb(a="p", b=building.id, p=result.page + 1))
        nav += 1
    kb.adjust(*widths, *([nav] if nav else []))
    return "\n".join(lines), kb.as_markup()


async def _open(message: Message, board: BoardService, member: Member) -> None:
    buildings = await board.buildings_of(member.id)
    if not buildings:
        await message.answer(_("The board shows your building's issues. Join your building first: /start"))
        return
    if len(buildings) > 1:
        kb = InlineKeyboardBuilder()
        for b in buildings[:20]:
            kb.button(text=b.name[:50], callback_data=BoardCb(a="p", b=b.id))
        kb.adjust(2)
        await message.answer(_("📌 Which building's board?"), reply_markup=kb.as_markup())
        return
    text, markup = await _screen(board, member, buildings[0], 0)
    await message.answer(text, reply_markup=markup)


@router.message(Command("board"))
async def cmd_board(message: Message, board: BoardService, member: Member) -> None:
    await _open(message, board, member)


@router.callback_query(MenuCb.filter(F.action == "board"))
async def menu_board(query: CallbackQuery, board: BoardService, member: Member) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await _open(query.message, board, member)


@router.callback_query(BoardCb.filter(F.a == "p"))
async def page(query: CallbackQuery, callback_data: BoardCb, board: BoardService, members: MembersService,
               actor: Actor, member: Member) -> None:
    building = await _building(board, members, actor, member, callback_data.b)
    text, markup = await _screen(board, member, building, callback_data.p)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # the same page again: "not modified"
            await query.message.edit_text(text, reply_markup=markup)


@router.callback_query(BoardCb.filter(F.a == "f"))
async def follow(query: CallbackQuery, callback_data: BoardCb, board: BoardService, members: MembersService,
                 reporting: ReportingService, actor: Actor, member: Member) -> None:
    building = await _building(board, members, actor, member, callback_data.b)
    item = await board.item(building.id, callback_data.i)
    if item is None or item.fixed:  # only what this board offers, and only while it is open
        await query.answer(_("That issue is no longer open."), show_alert=True)
        return
    issue, newly = await reporting.follow(member, actor, item.id)  # the follow rights, checked again
    text = _("You now follow {ref}. I'll tell you when it changes.") if newly else _("You already follow {ref}.")
    await query.answer(text.format(ref=issue.hashtag))
    text, markup = await _screen(board, member, building, callback_data.p)
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await query.message.edit_text(text, reply_markup=markup)


@router.callback_query(BoardCb.filter(F.a == "ph"))
async def photos(query: CallbackQuery, callback_data: BoardCb, board: BoardService, members: MembersService,
                 actor: Actor, member: Member) -> None:
    building = await _building(board, members, actor, member, callback_data.b)
    item = await board.item(building.id, callback_data.i)
    if item is None or not (item.before or item.after):
        await query.answer(_("No photos for that issue."), show_alert=True)
        return
    await query.answer()
    if not isinstance(query.message, Message):
        return
    files = photos_of(item)
    caption = _("{ref}: before → after").format(ref=item.hashtag) if item.before and item.after else item.hashtag
    if len(files) == 1:
        await query.message.answer_photo(files[0], caption=caption)
        return
    await query.message.answer_media_group(
        [InputMediaPhoto(media=f, caption=caption if n == 0 else None) for n, f in enumerate(files)])
