"""Group chats: the bot being added or removed, /link and /unlink, supergroup migration."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import JOIN_TRANSITION, LEAVE_TRANSITION, ChatMemberUpdatedFilter, Command, CommandObject
from aiogram.types import ChatMemberUpdated, Message

from bot import i18n
from bot.i18n import _
from bot.rendering import esc
from bot.services.access import Actor
from bot.services.chats import ChatsService
from bot.services.members import InviteError
from handlers.start import invite_error_text

router = Router(name=__name__)
in_group = F.chat.type.in_({"group", "supergroup"})


@router.my_chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION), in_group)
async def bot_added(event: ChatMemberUpdated, chats: ChatsService) -> None:
    await chats.bot_added(event.chat.id, event.chat.title or "", event.from_user.id if event.from_user else None)
    link = await chats.link_of(event.chat.id)
    if link is not None:
        return
    await event.answer(_(
        "Hello! I help this neighbourhood handle reports, patrols and cleaning days.\n"
        "To link this group to a building, area or the office, a captain or staff member gets a code "
        "with /invite in a private chat with me, then sends <code>/link CODE</code> here.\n"
        "If nobody links this group within a day, I will leave it."))


@router.my_chat_member(ChatMemberUpdatedFilter(LEAVE_TRANSITION), in_group)
async def bot_removed(event: ChatMemberUpdated, chats: ChatsService) -> None:
    await chats.bot_removed(event.chat.id)


@router.message(F.migrate_to_chat_id)
async def migrated(message: Message, chats: ChatsService) -> None:
    assert message.migrate_to_chat_id is not None
    await chats.moved(message.chat.id, message.migrate_to_chat_id)


@router.message(Command("link"), in_group)
async def link(message: Message, command: CommandObject, actor: Actor | None = None,
               chats: ChatsService | None = None) -> None:
    if actor is None or chats is None or message.sender_chat is not None:
        await message.answer(_("Please send /link as yourself, not anonymously as the group."))
        return
    code = (command.args or "").strip()
    if not code:
        await message.answer(_("Send <code>/link CODE</code> with a code from /invite (in a private chat "
                               "with me)."))
        return
    try:
        result = await chats.link_with_code(actor, message.chat.id, code, message.chat.title or "")
    except InviteError as exc:
        if exc.reason == "purpose":
            await message.answer(_("This is an invite link for a person, not a group code. Get a group code in "
                                   "a private chat with me: /invite → 🔗 Group link code."))
        else:
            await message.answer(invite_error_text(exc.reason))
        return
    # From now on the group speaks its community's language, this confirmation included.
    locale = await chats.community_locale(result.link)
    if locale is not None:
        i18n.set_locale(locale)
    if result.link.kind == "team":
        text = _("✅ This group is now the team chat of {place}. New reports from there will appear here.")
    else:
        text = _("✅ This group is now the residents' chat of {place}. Announcements and reminders will "
                 "appear here.")
    await message.answer(text.format(place=esc(result.place_name)))


@router.message(Command("unlink"), in_group)
async def unlink(message: Message, actor: Actor | None = None, chats: ChatsService | None = None) -> None:
    if actor is None or chats is None or message.sender_chat is not None:
        await message.answer(_("Please send /unlink as yourself, not anonymously as the group."))
        return
    try:
        await chats.unlink(actor, message.chat.id)
    except LookupError:
        await message.answer(_("This group is not linked to any place."))
        return
    await message.answer(_("This group is no longer linked. I will stop posting here."))


@router.message(Command("start", "help"), in_group)
async def group_help(message: Message, bot: Bot) -> None:
    me = await bot.me()
    await message.answer(_("I work in private chats: open @{username} to report a problem or see your "
                           "tasks. In this group I post cards and reminders.").format(username=esc(me.username or "")))
