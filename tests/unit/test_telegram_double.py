"""The Bot API test double refuses what Telegram refuses and its updates feed a Dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandStart
from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)

from tests.telegram import SPEC_PATH, FakeTelegram, SpecError, Updates, load_spec, parse_html, plain, utf16_len

ANN = 1001
GROUP = -1001234567890


def kb(*labels: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)] for text, data in labels]
    )


@pytest.fixture
def tg() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    bot = tg.make_bot()
    yield bot
    await bot.session.close()


@pytest.fixture
def up(tg: FakeTelegram) -> Updates:
    return Updates(tg)


@pytest.fixture
def started(tg: FakeTelegram, up: Updates) -> int:
    """Ann has started the bot (so it may write to her)."""
    up.text(up.user(ANN), "/start")
    return ANN


# ------------------------------------------------------------------------------------- HTML


@pytest.mark.parametrize(
    "html",
    [
        "line<br>break",
        "a < b",
        "<b>unclosed",
        "<b><i>crossed</b></i>",
        "stray </b>",
        "<span>not a spoiler</span>",
        "<a>no href</a>",
        "<div>block</div>",
        "Tom & Jerry",
        "&nbsp;space",
        "<b/>",
        "<tg-emoji>x</tg-emoji>",
    ],
)
async def test_refuses_html_telegram_cannot_parse(bot: Bot, tg: FakeTelegram, started: int, html: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(started, html)
    assert tg.calls[-1].error is not None
    assert tg.sent() == []


@pytest.mark.parametrize(
    "html",
    [
        "<b>b</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>i</ins> <s>s</s> <strike>s</strike>",
        "<del>d</del> <tg-spoiler>t</tg-spoiler> <span class='tg-spoiler'>s</span> <code>c</code>",
        '<a href="https://example.org/?a=1&b=2">link</a> <a href="tg://user?id=1">me</a>',
        '<pre><code class="language-python">print(1 &lt; 2)</code></pre>',
        "<blockquote>q</blockquote><blockquote expandable>long</blockquote>",
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> <tg-time unix="1647531900">then</tg-time>',
        "&lt;tag&gt; &amp; &quot;q&quot; &#39;s&#39; &#x27; a > b <B>upper</B>",
        "<b>bold <i>and italic</i></b>",
    ],
)
async def test_accepts_valid_html(bot: Bot, tg: FakeTelegram, started: int, html: str) -> None:
    message = await bot.send_message(started, html)
    assert message.text == plain(html)
    assert tg.last(started).params["parse_mode"] == "HTML"  # resolved from DefaultBotProperties


async def test_without_parse_mode_html_is_not_checked(bot: Bot, tg: FakeTelegram, started: int) -> None:
    message = await bot.send_message(started, "a < b & <br>", parse_mode=None)
    assert message.text == "a < b & <br>"
    assert "parse_mode" not in tg.last(started).params


def test_parse_html_entities_in_utf16_units() -> None:
    text, entities = parse_html('😀 <b>x</b> <a href="https://e.org">y</a>')
    assert text == "😀 x y"
    assert entities == [
        {"type": "bold", "offset": 3, "length": 1},
        {"type": "text_link", "url": "https://e.org", "offset": 5, "length": 1},
    ]
    assert parse_html('<pre><code class="language-py">z</code></pre>')[1] == [
        {"type": "pre", "language": "py", "offset": 0, "length": 1}
    ]
    assert utf16_len("😀您a") == 4


# ------------------------------------------------------------------------------------- limits


async def test_text_limit_counts_utf16_after_parsing(bot: Bot, started: int) -> None:
    await bot.send_message(started, "a" * 4096)
    await bot.send_message(started, "您" * 4096)  # BMP: one unit each
    await bot.send_message(started, "<b>" + "&amp;" * 4096 + "</b>")  # tags and entities removed
    await bot.send_message(started, "😀" * 2048)  # an emoji is two units
    for too_long in ("a" * 4097, "您" * 4097, "😀" * 2048 + "a", "您好" * 2047 + "😀😀"):
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(started, too_long)


async def test_caption_limit(bot: Bot, started: int) -> None:
    photo = BufferedInputFile(b"jpeg", "p.jpg")
    await bot.send_photo(started, photo, caption="公告" * 512)
    await bot.send_photo(started, photo, caption="<b>" + "x" * 1024 + "</b>")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(started, photo, caption="公告" * 511 + "😀x")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(started, BufferedInputFile(b"x", "a.pdf"), caption="x" * 1025)


async def test_empty_text(bot: Bot, started: int) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(started, "<b> </b>")


async def test_callback_data_over_64_bytes(bot: Bot, tg: FakeTelegram, started: int) -> None:
    ok = "报" * 21  # 63 bytes
    await bot.send_message(started, "ok", reply_markup=kb(("Go", ok)))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(started, "bad", reply_markup=kb(("Go", "报" * 22)))  # 66 bytes
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(started, "bad", reply_markup=kb(("Go", "x" * 65)))
    assert [c.text for c in tg.sent()] == ["ok"]


async def test_inline_button_needs_an_action(bot: Bot, started: int) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="nothing")]])
    with pytest.raises(TelegramBadRequest, match="text buttons are unallowed"):
        await bot.send_message(started, "x", reply_markup=markup)


async def test_callback_answer_limit_and_single_answer(bot: Bot, tg: FakeTelegram, up: Updates) -> None:
    query = up.callback(up.user(ANN), "x").callback_query
    assert query is not None
    with pytest.raises(TelegramBadRequest):
        await bot.answer_callback_query(query.id, text="x" * 201)
    await bot.answer_callback_query(query.id, text="x" * 200)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    assert [c.ok for c in tg.alerts()] == [False, True, False]


async def test_media_group_rules(bot: Bot, started: int) -> None:
    def photos(n: int) -> list[Any]:
        return [InputMediaPhoto(media=BufferedInputFile(b"p", f"{i}.jpg")) for i in range(n)]

    for n in (1, 11):
        with pytest.raises(TelegramBadRequest):
            await bot.send_media_group(started, photos(n))
    media = photos(3)
    media[0] = InputMediaPhoto(media=BufferedInputFile(b"p", "0.jpg"), caption="<b>album</b>")
    messages = await bot.send_media_group(started, media)
    assert len(messages) == 3
    assert len({m.media_group_id for m in messages}) == 1
    assert messages[0].caption == "album"
    with pytest.raises(TelegramBadRequest, match="can't parse"):
        await bot.send_media_group(started, [InputMediaPhoto(media="a", caption="<x>"), *photos(1)])


# ------------------------------------------------------------------------------------- chats


async def test_unknown_chat(bot: Bot, tg: FakeTelegram, up: Updates) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(555, "hello")
    # Seen in a group but never started the bot: Telegram refuses the first private message.
    up.text(up.user(777), "hi all", GROUP)
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(777, "hello")
    await bot.send_message(GROUP, "hello group")  # the group is known
    tg.add_chat(555)
    await bot.send_message(555, "now known")


async def test_not_strict_chats(up: Updates) -> None:
    tg = FakeTelegram(strict_chats=False)
    bot = tg.make_bot()
    assert (await bot.send_message(555, "hello")).chat.type == "private"


async def test_blocked_user_and_kicked_bot(bot: Bot, tg: FakeTelegram, up: Updates, started: int) -> None:
    tg.block(started)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(started, "hello")
    up.text(up.user(ANN), "/start")  # writing to the bot again means she unblocked it
    await bot.send_message(started, "welcome back")

    up.bot_added(GROUP, up.user(ANN))
    await bot.send_message(GROUP, "hi")
    tg.kick(GROUP)
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "still here?")


async def test_migrated_group(bot: Bot, tg: FakeTelegram, up: Updates) -> None:
    old, new = -4001, -1004001
    ann = up.user(ANN)
    up.bot_added(old, ann, chat_type="group")
    update = up.migrate_to_supergroup(old, new, ann)
    assert update.message is not None and update.message.migrate_to_chat_id == new
    with pytest.raises(TelegramMigrateToChat) as raised:
        await bot.send_message(old, "hello")
    assert raised.value.migrate_to_chat_id == new
    message = await bot.send_message(new, "hello")
    assert message.chat.type == "supergroup"


# ------------------------------------------------------------------------------------- faults


async def test_fail_next_retry_after(bot: Bot, tg: FakeTelegram, started: int) -> None:
    tg.fail_next("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(started, "one")
    assert raised.value.retry_after == 7
    await bot.send_message(started, "two")
    assert [(c.text, c.ok) for c in tg.calls] == [("one", False), ("two", True)]
    assert tg.texts(started) == ["two"]


async def test_fail_next_other_kinds(bot: Bot, tg: FakeTelegram, started: int) -> None:
    tg.fail_next(server_error=True, count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(started, "x")
    tg.fail_next("sendMessage", timeout=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(started, "lost")
    tg.fail_next("sendMessage", timeout=True, delivered=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(started, "delivered, answer lost")
    tg.fail_next("sendMessage", chat_id=999, forbidden="bot was blocked by the user")
    await bot.send_message(started, "other chat unaffected")
    assert tg.texts(started) == ["delivered, answer lost", "other chat unaffected"]
    with pytest.raises(ValueError):
        tg.fail_next()


# ------------------------------------------------------------------------------------- spec


class SendNonsense(TelegramMethod[bool]):
    __returning__ = bool
    __api_method__ = "sendNonsense"

    chat_id: int


async def test_spec_checks_method_names_and_required_fields(bot: Bot, tg: FakeTelegram, started: int) -> None:
    assert tg.spec.version.startswith("Bot API")
    with pytest.raises(TelegramBadRequest, match="sendNonsense"):
        await bot(SendNonsense(chat_id=started))
    with pytest.raises(TelegramBadRequest, match="text is required"):
        await bot(SendMessage.model_construct(chat_id=started))


async def test_spec_refuses_parameters_the_method_does_not_list(bot: Bot, tg: FakeTelegram, started: int) -> None:
    # disable_web_page_preview was replaced by link_preview_options (Bot API 7.0); Telegram ignores it.
    with pytest.raises(TelegramBadRequest, match="disable_web_page_preview is not a parameter of sendMessage"):
        await bot.send_message(started, "see https://example.org", disable_web_page_preview=True)
    await bot.send_message(started, "see https://example.org",
                           link_preview_options=LinkPreviewOptions(is_disabled=True))
    assert tg.last(started).params["link_preview_options"] == {"is_disabled": True}


def test_spec_is_kept_in_the_repository_and_a_missing_one_fails_loudly(tmp_path: Path) -> None:
    # The double must not depend on a folder beside the checkout (../shared) ...
    repo = Path(__file__).resolve().parents[2]
    assert SPEC_PATH.is_file() and SPEC_PATH.is_relative_to(repo / "tests" / "data")
    assert "sendMessage" in load_spec(str(SPEC_PATH)).fields
    # ... and must never quietly stop checking when the spec cannot be read.
    with pytest.raises(SpecError, match="cannot read the Bot API spec"):
        FakeTelegram(spec_path=tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(SpecError):
        load_spec(str(broken))
    empty = tmp_path / "empty.json"
    empty.write_text('{"version": "Bot API 0", "methods": {}}', encoding="utf-8")
    with pytest.raises(SpecError, match="no methods"):
        load_spec(str(empty))


# ------------------------------------------------------------------------------------- results


async def test_realistic_results(bot: Bot, tg: FakeTelegram, up: Updates, started: int) -> None:
    first = await bot.send_message(started, "<b>Hi</b>", reply_markup=kb(("Open", "open")))
    second = await bot.send_message(started, "again", reply_parameters=ReplyParameters(message_id=first.message_id))
    assert second.message_id == first.message_id + 1
    assert second.reply_to_message is not None and second.reply_to_message.text == "Hi"
    assert first.from_user is not None and first.from_user.id == bot.id and first.from_user.is_bot
    assert first.entities is not None and first.entities[0].type == "bold"
    assert first.html_text == "<b>Hi</b>"

    photo = await bot.send_photo(started, BufferedInputFile(b"\x89PNG-data", "chart.png"), caption="c")
    assert photo.photo is not None
    file = await bot.get_file(photo.photo[-1].file_id)
    assert file.file_path
    downloaded = await bot.download(photo.photo[-1].file_id)
    assert downloaded is not None and downloaded.read() == b"\x89PNG-data"
    resent = await bot.send_photo(started, photo.photo[-1].file_id)
    assert resent.photo is not None and resent.photo[-1].file_id == photo.photo[-1].file_id

    document = up.document(up.user(ANN), "big.zip", "application/zip", 25 * 1024 * 1024)
    assert document.message is not None and document.message.document is not None
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(document.message.document.file_id)

    me = await bot.get_me()
    assert (me.id, me.username) == (123456, "test_bot")
    assert await bot.set_my_commands([]) is True
    assert await bot.send_chat_action(started, "typing") is True
    assert await bot.delete_message(started, second.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(started, second.message_id)
    location = await bot.send_location(started, 31.2, 121.5)
    assert location.location is not None and location.location.latitude == 31.2

    up.bot_added(GROUP, up.user(ANN))
    tg.set_admin(GROUP, ANN)
    assert isinstance(await bot.get_chat_member(GROUP, ANN), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, 42), ChatMemberMember)
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Building 1 team"


async def test_edits_and_not_modified(bot: Bot, tg: FakeTelegram, started: int) -> None:
    sent = await bot.send_message(started, "<b>Card</b>", reply_markup=kb(("Accept", "a")))
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<strong>Card</strong>", chat_id=started, message_id=sent.message_id, reply_markup=kb(("Accept", "a"))
        )
    edited = await bot.edit_message_text("<b>Card</b>", chat_id=started, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None  # no markup passed: removed
    await bot.edit_message_reply_markup(chat_id=started, message_id=sent.message_id, reply_markup=kb(("Undo", "u")))
    assert tg.buttons(tg.edits(started)[-1]) == [["Undo"]]
    assert tg.current(started, sent.message_id).reply_markup is not None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=started, message_id=999)
    with pytest.raises(TelegramBadRequest, match="there is no caption"):
        await bot.edit_message_caption(chat_id=started, message_id=sent.message_id, caption="x")
    photo = await bot.send_photo(started, "file-1", caption="old")
    await bot.edit_message_caption(chat_id=started, message_id=photo.message_id, caption="new")
    with pytest.raises(TelegramBadRequest, match="there is no text"):
        await bot.edit_message_text("x", chat_id=started, message_id=photo.message_id)
    assert len(tg.edits(started)) == 3


async def test_query_helpers(bot: Bot, tg: FakeTelegram, started: int) -> None:
    await bot.send_message(started, "Pick <b>one</b>", reply_markup=kb(("✅ Accept", "acc"), ("Reject", "rej")))
    call = tg.last(started)
    assert call.text == "Pick <b>one</b>" and call.plain == "Pick one"
    assert tg.texts(started, as_plain=True) == ["Pick one"]
    assert tg.buttons(call) == [["✅ Accept"], ["Reject"]]
    assert tg.callback_data(call, "Reject") == "rej"
    assert tg.callback_data(call, "accept") == "acc"  # substring, case-insensitive
    with pytest.raises(AssertionError):
        tg.callback_data(call, "Maybe")
    assert tg.sent(started, "sendPhoto") == []
    with pytest.raises(AssertionError, match="nothing was sent"):
        tg.last(424242)
    tg.reset()
    assert tg.calls == []


# ------------------------------------------------------------------------------------- dispatcher


def make_dispatcher() -> Dispatcher:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        assert message.from_user is not None
        greeting = "您好" if (message.from_user.language_code or "").startswith("zh") else "Hello"
        await message.answer(
            f"{greeting}, <b>{message.from_user.first_name}</b>!",
            reply_markup=kb(("⚙️ Settings", "settings"), ("Help", "help")),
        )

    @router.message(Command("report"))
    async def report(message: Message) -> None:
        await message.reply("Report received")

    @router.callback_query(F.data == "settings")
    async def settings(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Settings", reply_markup=kb(("Back", "back")))
        await query.answer("Opened")

    @router.callback_query()
    async def other(query: CallbackQuery) -> None:
        await query.answer(f"pressed {query.data}", show_alert=True)

    @router.my_chat_member()
    async def added(event: ChatMemberUpdated) -> None:
        if event.new_chat_member.status in ("member", "administrator"):
            await event.answer("Thanks for adding me")

    @router.message()
    async def anything(message: Message) -> None:
        await message.answer(f"got {message.content_type}")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def test_dispatcher_start_and_callback(bot: Bot, tg: FakeTelegram, up: Updates) -> None:
    dp = make_dispatcher()
    ann = up.user(ANN, "Ann", "zh-hans")
    await dp.feed_update(bot, up.text(ann, "/start"))
    assert "您好" in tg.texts(ANN)[-1]
    assert tg.buttons(tg.last(ANN)) == [["⚙️ Settings"], ["Help"]]

    await dp.feed_update(bot, up.callback_on(tg.last(ANN), ann, "Settings"))
    assert tg.edits(ANN)[-1].text == "Settings"
    assert tg.alerts()[-1].params["text"] == "Opened"
    assert tg.current(ANN, tg.last(ANN).message_id or 0).text == "Settings"

    # The message now shows "Back": pressing the old "Help" button is impossible.
    with pytest.raises(AssertionError):
        up.callback_on(tg.last(ANN), ann, "Help")
    await dp.feed_update(bot, up.callback_on(tg.last(ANN), ann, "Back"))
    assert tg.alerts()[-1].params == {
        "callback_query_id": tg.alerts()[-1].params["callback_query_id"],
        "text": "pressed back",
        "show_alert": True,
    }


async def test_dispatcher_group_updates(bot: Bot, tg: FakeTelegram, up: Updates) -> None:
    dp = make_dispatcher()
    ann = up.user(ANN, "Ann", "en")
    await dp.feed_update(bot, up.bot_added(GROUP, ann))
    assert tg.texts(GROUP) == ["Thanks for adding me"]
    await dp.feed_update(bot, up.text(ann, "/report@test_bot leak", GROUP))
    reply = tg.last(GROUP).message
    assert reply is not None and reply.reply_to_message is not None
    await dp.feed_update(bot, up.callback(ann, "help", chat=GROUP))
    assert tg.alerts()[-1].ok
    await dp.feed_update(bot, up.anonymous_admin(GROUP, "from the admins"))
    await dp.feed_update(bot, up.forum_topic_message(ann, GROUP, 7, "in a topic"))
    assert tg.last(GROUP).params.get("message_thread_id") == 7


def factory_updates(up: Updates) -> list[Update]:
    ann = up.user(ANN, "Ann", "en", username="ann")
    bob = up.user(2002, "Bob", "zh-hant-tw")
    return [
        up.text(ann, "hello"),
        up.photo(ann, caption="leak"),
        *up.album(ann, 3, caption="three"),
        up.document(ann, "plan.xlsx", "application/vnd.ms-excel", 2048),
        up.sticker(ann),
        up.voice(ann),
        up.location(ann, 31.23, 121.47),
        up.contact(ann, "+8613800000000"),
        up.contact(ann, "+8613900000000", contact_user_id=bob.id),
        up.poll(ann),
        up.forwarded(ann, "forwarded text", origin=bob),
        up.forwarded(ann, "hidden", hidden_name="Secret"),
        up.edited_text(ann, "hello (edited)"),
        up.channel_post(-1009999, "announcement"),
        up.callback(ann, "x", inaccessible=True),
        up.new_chat_members(GROUP, ann, [bob]),
        up.bot_removed(GROUP, ann),
        up.bot_blocked(bob),
    ]


async def test_every_factory_feeds_the_dispatcher(bot: Bot, tg: FakeTelegram, up: Updates) -> None:
    seen: list[str] = []
    router = Router()

    @router.message()
    @router.edited_message()
    @router.channel_post()
    async def on_message(message: Message) -> None:
        seen.append(message.content_type)

    @router.callback_query()
    async def on_query(query: CallbackQuery) -> None:
        seen.append("callback_query")

    @router.my_chat_member()
    async def on_member(event: ChatMemberUpdated) -> None:
        seen.append(f"my_chat_member:{event.new_chat_member.status}")

    dp = Dispatcher()
    dp.include_router(router)
    updates = factory_updates(up)
    assert len({u.update_id for u in updates}) == len(updates)
    for update in updates:
        await dp.feed_update(bot, update)
    assert seen == [
        "text",
        "photo",
        "photo",
        "photo",
        "photo",
        "document",
        "sticker",
        "voice",
        "location",
        "contact",
        "contact",
        "poll",
        "text",
        "text",
        "text",
        "text",
        "callback_query",
        "new_chat_members",
        "my_chat_member:kicked",
        "my_chat_member:kicked",
    ]
    album = updates[2:5]
    assert len({u.message.media_group_id for u in album if u.message}) == 1
    assert [u.message.caption for u in album if u.message] == ["three", None, None]
    own, other = (u.message.contact for u in updates[9:11] if u.message)
    assert own is not None and own.user_id == ANN
    assert other is not None and other.user_id == 2002
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(GROUP, "removed")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(2002, "blocked")


async def test_command_entity(up: Updates) -> None:
    message = up.text(up.user(ANN), "/start ref_42").message
    assert message is not None and message.entities is not None
    entity = message.entities[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
