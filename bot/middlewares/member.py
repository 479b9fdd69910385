"""The current member, their permissions and their language, for every update from a person."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, User

from bot import i18n
from bot.services.chats import ChatsService
from bot.services.members import MembersService, TelegramPerson
from bot.services.update_context import UpdateContext


class MemberMiddleware(BaseMiddleware):
    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        members: MembersService | None = data.get("members")
        settings = data.get("settings")
        default = settings.default_locale if settings else "en"
        if members is None or user is None or user.is_bot:
            i18n.set_locale(default)
            data["locale"] = default
            return await handler(event, data)
        context: UpdateContext | None = data.get("update_context")
        if context is not None and context.member is not None and context.member.telegram_id != user.id:
            context = None
        member = await members.touch(TelegramPerson(
            id=user.id, first_name=user.first_name or "", last_name=user.last_name,
            username=user.username, language_code=user.language_code),
            known=context.member if context is not None else None, stranger=context is not None)
        if chat is not None and chat.type == "private" and not member.started:
            member.started = True
        data["member"] = member
        data["actor"] = members.actor_of(member, context.grants) if context is not None \
            else await members.actor(member)
        # The community's language is only the fallback: skip its query when the person's own decides.
        communities = [] if members.locale_for(member, None, "") else await members.member_communities(member)
        locale = members.locale_for(member, communities[0] if communities else None, default)
        if chat is not None and chat.type != "private" and context is not None:
            # Group chats speak their community's language (read with the member when the chat is linked).
            if context.chat_locale is not None:
                locale = context.chat_locale
        elif chat is not None and chat.type != "private":
            chats: ChatsService | None = data.get("chats")
            link = await chats.link_of(chat.id) if chats is not None else None
            if chats is not None and link is not None:
                place = await chats.place_of(link)
                info = await members.place_info(place)
                locale = info.community.locale
        i18n.set_locale(locale)
        data["locale"] = locale
        return await handler(event, data)
