"""/web: the office's desk in a browser. Staff and area heads get a one-time sign-in link (ten minutes,
used once), and their chat's menu button opens the dashboard as a Mini App. Glue only: bot/services/web.py
holds the rules, bot/web/ serves the pages."""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, MenuButtonWebApp, Message, WebAppInfo

from bot.i18n import _
from bot.services.access import Actor
from bot.services.web import WebService
from models import Member

log = logging.getLogger(__name__)
router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


def desk_url(base: str, path: str = "/") -> str:
    return base.rstrip("/") + path


@router.message(Command("web"))
async def web_cmd(message: Message, bot: Bot, actor: Actor, member: Member, web: WebService,
                  settings: object) -> None:
    base = getattr(settings, "web_url", None)
    if not await web.scopes(actor):
        await message.answer(_("The desk is for the community office and area heads. Everything you need is "
                               "right here in the chat: /help"))
        return
    if not base:
        await message.answer(_("The desk is not switched on for this bot yet: the operator sets WEB_URL."))
        return
    raw = await web.issue_link(member)
    link = desk_url(base, f"/login?t={raw}")
    await message.answer(
        _("Here is your sign-in link for the desk. It works once, for 10 minutes, and only for you: "
          "please don't forward it.\n{link}").format(link=link),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=_("🗂 Open the desk here"), web_app=WebAppInfo(url=desk_url(base)))]]))
    # The menu button of this chat opens the Mini App from now on; a failure costs only the shortcut.
    with suppress(TelegramAPIError):
        await bot.set_chat_menu_button(chat_id=message.chat.id, menu_button=MenuButtonWebApp(
            text=_("Desk"), web_app=WebAppInfo(url=desk_url(base))))
