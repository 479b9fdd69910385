"""Bot API test double and update factories.

``FakeTelegram`` is an aiogram session that answers every Bot API call in-process, records it,
and refuses what Telegram refuses (malformed HTML, over-long texts, bad callback data, unknown
chats, blocked users, migrated groups, flood control on demand). Errors go through aiogram's own
``BaseSession.check_response``, so handlers see exactly the exceptions a real answer produces.

``Updates`` builds ``aiogram.types.Update`` objects with consistent ids and registers the chats
they come from with the double, so that what the bot may write to follows what users did.

    tg = FakeTelegram()
    bot = tg.make_bot()                      # Bot("123456:TEST-token", parse_mode HTML)
    up = Updates(tg)
    ann = up.user(1001, "Ann", "zh-hans")
    await dp.feed_update(bot, up.text(ann, "/start"))
    assert "您好" in tg.texts(1001)[-1]
    await dp.feed_update(bot, up.callback_on(tg.last(1001), ann, "Settings"))
"""

from __future__ import annotations

import datetime
import functools
import itertools
import json
import mimetypes
import re
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.client.default import Default, DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    AcceptedGiftTypes,
    BufferedInputFile,
    Chat,
    ChatFullInfo,
    ChatMemberAdministrator,
    ChatMemberRestricted,
    FSInputFile,
    InputFile,
    Message,
    TelegramObject,
    Update,
    User,
)

if TYPE_CHECKING:
    from aiogram.client.session.base import Response

__all__ = [
    "BOT_ID",
    "TEST_TOKEN",
    "Call",
    "FakeTelegram",
    "HtmlError",
    "Updates",
    "parse_html",
    "plain",
    "utf16_len",
]

TEST_TOKEN = "123456:TEST-token"
BOT_ID = 123456
GROUP_ANONYMOUS_BOT_ID = 1087968824

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes, UTF-8
CALLBACK_ANSWER_LIMIT = 200
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files

# The published Bot API method list (PaulSonOfLars/telegram-bot-api-spec), kept in the repository so
# that the check never depends on a folder beside the checkout.
SPEC_PATH = Path(__file__).resolve().parent / "data" / "telegram-bot-api" / "api.min.json"

# Methods that put a message into a chat (``sendChatAction`` and drafts are not messages).
_DELIVERY_METHODS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages"})
_NOT_MESSAGES = frozenset({"sendChatAction", "sendMessageDraft", "sendRichMessageDraft"})

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


def is_send(method: str) -> bool:
    """True for Bot API methods that deliver a message to a chat."""
    return (method.startswith("send") and method not in _NOT_MESSAGES) or (method in _DELIVERY_METHODS)


# --------------------------------------------------------------------------------------------
# Telegram HTML
# --------------------------------------------------------------------------------------------


class HtmlError(ValueError):
    """Telegram would answer ``Bad Request: can't parse entities: <message>``."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram text limit and entity offset."""
    return len(text.encode("utf-16-le")) // 2


_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
    "tg-time": "date_time",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL_RE = re.compile(r"[<&]")
_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z][a-zA-Z0-9]{0,31}));")
_START_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)")
_END_RE = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_ATTR_RE = re.compile(r"""\s+([a-zA-Z_][a-zA-Z0-9_:.-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_TAG_CLOSE_RE = re.compile(r"\s*(/?)>")


def _decode_entity(match: re.Match[str]) -> str | None:
    dec, hexa, name = match.groups()
    if name is not None:
        return _NAMED_ENTITIES.get(name)
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _unescape_attr(value: str) -> str:
    # Telegram is lenient inside attribute values (aiogram puts raw URLs with "&" in href).
    def repl(match: re.Match[str]) -> str:
        decoded = _decode_entity(match)
        return match.group(0) if decoded is None else decoded

    return _ENTITY_RE.sub(repl, value)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


@dataclass
class _Open:
    name: str
    start: int  # UTF-16 offset in the output
    entity: dict[str, Any] | None  # None: merged into the enclosing <pre> (language)


def parse_html(text: str, *, strict_entities: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (plain text, entities) or raise :class:`HtmlError`.

    Follows Telegram's rules: only the supported tags, properly nested and closed, ``<`` only as
    the start of a tag, entities ``&lt; &gt; &amp; &quot;`` and numeric ones. With
    ``strict_entities`` (the default) a bare ``&`` or an unknown entity is an error too: Telegram
    keeps those literally, but they always mean the text was not escaped.
    Entity offsets and lengths are in UTF-16 code units, as in the Bot API.
    """
    out: list[str] = []
    pos16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    i = 0
    n = len(text)
    while i < n:
        special = _SPECIAL_RE.search(text, i)
        j = special.start() if special else n
        if j > i:
            chunk = text[i:j]
            out.append(chunk)
            pos16 += utf16_len(chunk)
        if special is None:
            break
        if text[j] == "&":
            match = _ENTITY_RE.match(text, j)
            decoded = _decode_entity(match) if match else None
            if decoded is None:
                if strict_entities:
                    shown = match.group(0) if match else "&"
                    raise HtmlError(f'Unsupported HTML entity "{shown}" at byte offset {_byte_offset(text, j)}')
                decoded, i = "&", j + 1
            else:
                assert match is not None
                i = match.end()
            out.append(decoded)
            pos16 += utf16_len(decoded)
            continue
        # "<": an end tag or a start tag, nothing else.
        if text.startswith("</", j):
            end = _END_RE.match(text, j)
            if end is None:
                raise HtmlError(f"Can't find end of the tag at byte offset {_byte_offset(text, j)}")
            name = end.group(1).lower()
            if not stack:
                raise HtmlError(f"Unexpected end tag at byte offset {_byte_offset(text, j)}")
            top = stack.pop()
            if top.name != name:
                raise HtmlError(
                    f"Unmatched end tag at byte offset {_byte_offset(text, j)}, "
                    f'expected "</{top.name}>", found "</{name}>"'
                )
            if top.entity is not None and pos16 > top.start:
                top.entity["offset"] = top.start
                top.entity["length"] = pos16 - top.start
                entities.append(top.entity)
            i = end.end()
            continue
        start = _START_RE.match(text, j)
        if start is None:
            raise HtmlError(f'Unsupported start tag "" at byte offset {_byte_offset(text, j)}')
        name = start.group(1).lower()
        if name not in _TAG_ENTITY:
            raise HtmlError(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, j)}')
        k = start.end()
        attrs: dict[str, str] = {}
        while (attr := _ATTR_RE.match(text, k)) is not None:
            raw = next((g for g in attr.groups()[1:] if g is not None), "")
            attrs[attr.group(1).lower()] = _unescape_attr(raw)
            k = attr.end()
        close = _TAG_CLOSE_RE.match(text, k)
        if close is None:
            raise HtmlError(f"Unclosed start tag at byte offset {_byte_offset(text, j)}")
        if close.group(1):
            raise HtmlError(f'Unsupported start tag "{name}/" at byte offset {_byte_offset(text, j)}')
        entity: dict[str, Any] | None = {"type": _TAG_ENTITY[name]}
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlError('Tag "span" must have class "tg-spoiler"')
        if name == "a":
            href = attrs.get("href", "").strip()
            if not href:
                raise HtmlError(f'Tag "a" must have attribute "href" at byte offset {_byte_offset(text, j)}')
            entity = {"type": "text_link", "url": href}
        elif name == "tg-emoji":
            emoji_id = attrs.get("emoji-id", "")
            if not emoji_id.isdigit():
                raise HtmlError('Custom emoji entity must contain a tag "emoji-id"')
            entity = {"type": "custom_emoji", "custom_emoji_id": emoji_id}
        elif name == "tg-time":
            unix = attrs.get("unix", "")
            if not unix.lstrip("-").isdigit():
                raise HtmlError('Date-time entity must contain an integer attribute "unix"')
            entity = {"type": "date_time", "unix_time": int(unix)}
            if attrs.get("format"):
                entity["date_time_format"] = attrs["format"]
        elif name == "blockquote" and "expandable" in attrs:
            entity = {"type": "expandable_blockquote"}
        elif name == "code" and stack and stack[-1].name == "pre" and stack[-1].entity:
            language = attrs.get("class", "")
            if language.startswith("language-"):
                stack[-1].entity["language"] = language.removeprefix("language-")
                entity = None
        stack.append(_Open(name=name, start=pos16, entity=entity))
        i = close.end()
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_TAG_RE = re.compile(r"<[^>]*>")


def plain(html_text: str) -> str:
    """What the user sees: tags removed, entities unescaped (lenient on malformed input)."""
    try:
        return parse_html(html_text, strict_entities=False)[0]
    except HtmlError:
        import html

        return html.unescape(_TAG_RE.sub("", html_text))


def _parse_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Text and entities as Telegram stores them; raises HtmlError for unparsable HTML."""
    if entities is not None:
        return text, entities
    if parse_mode and parse_mode.lower() == "html":
        return parse_html(text)
    # Markdown modes are not validated by the double (the project uses HTML).
    return text, []


MEDIA_METHODS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendVideo": "video",
    "sendAnimation": "animation",
    "sendAudio": "audio",
    "sendVoice": "voice",
    "sendVideoNote": "video_note",
    "sendSticker": "sticker",
}


def media_content(kind: str, file_id: str, *, size: int = 1000, file_name: str | None = None) -> dict[str, Any]:
    """Message fields for a media item of `kind` (photo, document, video, ...), as Telegram sends."""
    base: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size}
    if kind == "photo":
        small = dict(
            base,
            file_id=f"{file_id}-s",
            file_unique_id=f"u-{file_id}-s",
            width=320,
            height=240,
            file_size=max(1, size // 10),
        )
        return {"photo": [small, dict(base, width=1280, height=960)]}
    if kind in ("video", "animation"):
        media = dict(base, width=640, height=480, duration=5)
        return {"animation": media, "document": media} if kind == "animation" else {"video": media}
    if kind in ("audio", "voice"):
        return {kind: dict(base, duration=3)}
    if kind == "video_note":
        return {kind: dict(base, length=240, duration=3)}
    if kind == "sticker":
        sticker = dict(base, type="regular", width=512, height=512, is_animated=False, is_video=False)
        return {kind: sticker}
    if kind == "document":
        name = file_name or f"{file_id}.bin"
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return {kind: dict(base, file_name=name, mime_type=mime)}
    return {kind: base}


# --------------------------------------------------------------------------------------------
# Spec (published Bot API method list)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    version: str
    required: dict[str, frozenset[str]]  # method -> required fields
    fields: dict[str, frozenset[str]]  # method -> every field it lists


class SpecError(RuntimeError):
    """The Bot API spec could not be read: the double refuses to run without it."""


@functools.cache
def load_spec(path: str) -> _Spec:
    """The method list of the published Bot API. Raises SpecError when it cannot be read: a double
    that quietly stopped checking would let calls Telegram refuses pass the tests."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        methods = data["methods"]
        required = {
            name: frozenset(f["name"] for f in method.get("fields", []) if f.get("required"))
            for name, method in methods.items()
        }
        fields = {name: frozenset(f["name"] for f in method.get("fields", [])) for name, method in methods.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SpecError(f"cannot read the Bot API spec {path}: {error}") from error
    if not methods:
        raise SpecError(f"the Bot API spec {path} lists no methods")
    return _Spec(version=str(data.get("version", "")), required=required, fields=fields)


# --------------------------------------------------------------------------------------------
# Recorded calls
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One Bot API call as the double saw it."""

    method: str
    params: dict[str, Any]
    chat_id: int | str | None = None
    result: Any = None
    error: str | None = None
    files: dict[str, InputFile] = field(default_factory=dict)
    at: float = 0.0
    delivered: bool = False  # the message reached the chat (also on a timeout with delivery)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str | None:
        """Text or caption as sent (raw, with HTML tags); first caption of an album."""
        for key in ("text", "caption"):
            if isinstance(self.params.get(key), str):
                return self.params[key]
        for item in self.params.get("media") or []:
            if isinstance(item, dict) and isinstance(item.get("caption"), str):
                return item["caption"]
        return None

    @property
    def plain(self) -> str | None:
        """Text or caption as the user sees it (tags removed, entities unescaped)."""
        return None if self.text is None else plain(self.text)

    @property
    def markup(self) -> dict[str, Any] | None:
        markup = self.params.get("reply_markup")
        return markup if isinstance(markup, dict) else None

    @property
    def message(self) -> Message | None:
        """The resulting Message (first one for an album)."""
        if isinstance(self.result, Message):
            return self.result
        if isinstance(self.result, list) and self.result and isinstance(self.result[0], Message):
            return self.result[0]
        return None

    @property
    def message_id(self) -> int | None:
        if (message := self.message) is not None:
            return message.message_id
        value = self.params.get("message_id")
        return value if isinstance(value, int) else None

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"error={self.error!r}"
        text = f" text={self.text[:60]!r}" if self.text else ""
        return f"<Call {self.method} chat={self.chat_id}{text} {state}>"


class _ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class _Timeout(Exception):
    """The answer never came; `raw` is the result if the request was delivered anyway."""

    def __init__(self, raw: Any) -> None:
        super().__init__("timeout")
        self.raw = raw


def _message_content(source: dict[str, Any], *also: str) -> dict[str, Any]:
    """What a copied or forwarded message carries over: its content, not its identity, place or buttons
    (nor the fields in `also`)."""
    left = ("message_id", "date", "chat", "from", "sender_chat", "reply_markup", "reply_to_message", "edit_date",
            *also)
    return {k: v for k, v in source.items() if k not in left}


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


@dataclass
class _Fault:
    method: str | None
    chat_id: int | str | None
    kind: str  # retry_after | server_error | timeout | bad_request | forbidden
    remaining: int
    retry_after: int = 0
    message: str = ""
    delivered: bool = False

    def error(self) -> _ApiError:
        if self.kind == "retry_after":
            return _ApiError(429, f"Too Many Requests: retry after {self.retry_after}", retry_after=self.retry_after)
        if self.kind == "server_error":
            return _ApiError(500, "Internal Server Error")
        code, prefix = (403, "Forbidden") if self.kind == "forbidden" else (400, "Bad Request")
        message = self.message if self.message.startswith(prefix) else f"{prefix}: {self.message}"
        return _ApiError(code, message)

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


def _norm_chat_id(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if re.fullmatch(r"-?\d+", stripped):
            return int(stripped)
        return stripped
    return None


def _required_flags(model: type[TelegramObject], *, can: bool) -> dict[str, Any]:
    """Fill every required boolean/int field of a ChatMember-like model (varies by version)."""
    flags: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required() or name in ("user", "status"):
            continue
        if name == "until_date":
            flags[name] = 0
        elif name.startswith("can_"):
            flags[name] = can and name != "can_be_edited"
        else:
            flags[name] = name == "is_member"
    return flags


# --------------------------------------------------------------------------------------------
# The double
# --------------------------------------------------------------------------------------------


class FakeTelegram(BaseSession):
    """An aiogram session that plays Telegram in-process.

    State you may touch directly: ``calls``, ``known_chats``, ``blocked``, ``kicked``,
    ``migrated``, ``messages`` ((chat_id, message_id) -> current message dict), ``chats``,
    ``users``.
    """

    def __init__(
        self,
        *,
        strict_chats: bool = True,
        strict_callbacks: bool = True,
        strict_entities: bool = True,
        bot_id: int = BOT_ID,
        clock: Callable[[], float] = time.time,
        spec_path: Path | str = SPEC_PATH,
    ) -> None:
        super().__init__()
        self.strict_chats = strict_chats
        self.strict_callbacks = strict_callbacks
        self.strict_entities = strict_entities
        self.bot_id = bot_id
        self.clock = clock
        self.spec = load_spec(str(spec_path))

        self.calls: list[Call] = []
        self.known_chats: set[int | str] = set()
        self.seen_users: set[int] = set()
        self.blocked: set[int] = set()
        self.kicked: set[int | str] = set()
        self.migrated: dict[int, int] = {}
        self.chats: dict[int | str, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.members: dict[tuple[int | str, int], str] = {}
        self.messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}  # file_id -> {size, path, content}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.callback_queries: dict[str, bool] = {}  # issued id -> answered
        self.closed = False

        self._faults: list[_Fault] = []
        self._results: dict[str, Any] = {}
        self._message_ids: dict[int | str, int] = {}
        self._file_seq = itertools.count(1)
        self._callback_seq = itertools.count(1)

    # ----------------------------------------------------------------------------- set-up

    def make_bot(self, token: str = TEST_TOKEN, *, parse_mode: str | None = "HTML") -> Bot:
        """A Bot using this double, with the project's defaults (parse_mode HTML)."""
        self.bot_id = int(token.split(":", 1)[0])
        return Bot(token, session=self, default=DefaultBotProperties(parse_mode=parse_mode))

    def add_chat(
        self,
        chat_id: int | str,
        *,
        type: str | None = None,
        title: str | None = None,
        is_forum: bool | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Make a chat known (the user started the bot / the bot is in the group)."""
        chat = self.chat_dict(chat_id)
        if type is not None:
            chat["type"] = type
        if title is not None:
            chat["title"] = title
        if is_forum is not None:
            chat["is_forum"] = is_forum
        chat.update(extra)
        if chat["type"] == "private":
            chat.pop("title", None)
        elif "title" not in chat:
            chat["title"] = f"Chat {chat_id}"
        self.chats[chat_id] = chat
        self.known_chats.add(chat_id)
        return chat

    def forget(self, chat_id: int | str) -> None:
        self.known_chats.discard(chat_id)

    def block(self, user_id: int) -> None:
        """The user blocked the bot: sends to their private chat raise TelegramForbiddenError."""
        self.blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        self.blocked.discard(user_id)
        self.known_chats.add(user_id)

    def kick(self, chat_id: int | str) -> None:
        """The bot was removed from the group: sends raise TelegramForbiddenError."""
        self.kicked.add(chat_id)

    def unkick(self, chat_id: int | str) -> None:
        self.kicked.discard(chat_id)
        self.known_chats.add(chat_id)

    def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: calls to the old id raise TelegramMigrateToChat."""
        self.migrated[old_chat_id] = new_chat_id
        old = self.chat_dict(old_chat_id)
        self.add_chat(new_chat_id, type="supergroup", title=old.get("title"))

    def set_admin(self, chat_id: int | str, user_id: int, *, owner: bool = False) -> None:
        self.members[(chat_id, user_id)] = "creator" if owner else "administrator"

    def set_member_status(self, chat_id: int | str, user_id: int, status: str) -> None:
        """status: creator, administrator, member, restricted, left or kicked."""
        self.members[(chat_id, user_id)] = status

    def register_file(
        self,
        file_id: str,
        *,
        content: bytes | None = None,
        size: int | None = None,
        path: str | None = None,
    ) -> None:
        """Declare a file for getFile / downloads (size defaults to len(content) or 1000)."""
        info = self.files.setdefault(file_id, {})
        if content is not None:
            info["content"] = content
            info.setdefault("size", len(content))
        if size is not None:
            info["size"] = size
        if path is not None:
            info["path"] = path

    def set_result(self, method: str, result: Any | Callable[[dict[str, Any]], Any]) -> None:
        """Answer `method` with a fixed result (JSON-like or aiogram object) or f(params)."""
        self._results[method.lower()] = result

    def fail_next(
        self,
        method: str | None = None,
        *,
        retry_after: int | None = None,
        server_error: bool = False,
        timeout: bool = False,
        bad_request: str | None = None,
        forbidden: str | None = None,
        chat_id: int | str | None = None,
        count: int = 1,
        delivered: bool = False,
    ) -> None:
        """Make the next `count` matching calls fail.

        retry_after=N -> TelegramRetryAfter (429); server_error -> TelegramServerError (500);
        timeout -> TelegramNetworkError("Request timeout error"), and with ``delivered=True``
        the message is delivered anyway (the answer was lost, as happens for real);
        bad_request="..." / forbidden="..." -> TelegramBadRequest / TelegramForbiddenError.
        """
        kinds = {
            "retry_after": retry_after is not None,
            "server_error": server_error,
            "timeout": timeout,
            "bad_request": bad_request is not None,
            "forbidden": forbidden is not None,
        }
        chosen = [kind for kind, on in kinds.items() if on]
        if len(chosen) != 1:
            msg = "fail_next needs exactly one of retry_after, server_error, timeout, bad_request, forbidden"
            raise ValueError(msg)
        self._faults.append(
            _Fault(
                method=method,
                chat_id=_norm_chat_id(chat_id),
                kind=chosen[0],
                remaining=count,
                retry_after=retry_after or 0,
                message=bad_request or forbidden or "",
                delivered=delivered,
            )
        )

    def reset(self) -> None:
        """Forget recorded calls and pending faults (chats and messages stay)."""
        self.calls.clear()
        self._faults.clear()

    # ----------------------------------------------------------------------------- queries

    def sent(self, chat_id: int | str | None = None, method: str | None = None) -> list[Call]:
        """Messages delivered (send*, copy, forward), optionally to one chat / by one method."""
        return [
            c
            for c in self.calls
            if c.delivered
            and is_send(c.method)
            and (chat_id is None or c.chat_id == chat_id)
            and (method is None or c.method == method)
        ]

    def last(self, chat_id: int | str | None = None) -> Call:
        """The last message delivered (to `chat_id`); AssertionError when there is none."""
        sent = self.sent(chat_id)
        if not sent:
            msg = f"nothing was sent to chat {chat_id}; calls: {self.calls!r}"
            raise AssertionError(msg)
        return sent[-1]

    def texts(self, chat_id: int | str | None = None, *, as_plain: bool = False) -> list[str]:
        """Texts/captions delivered, raw as sent (HTML) or as the user sees them."""
        texts = (c.plain if as_plain else c.text for c in self.sent(chat_id))
        return [t for t in texts if t is not None]

    def edits(self, chat_id: int | str | None = None) -> list[Call]:
        """Successful editMessage* calls."""
        return [
            c
            for c in self.calls
            if c.ok and c.method.startswith("editMessage") and (chat_id is None or c.chat_id == chat_id)
        ]

    def alerts(self) -> list[Call]:
        """answerCallbackQuery calls (params: callback_query_id, text, show_alert)."""
        return [c for c in self.calls if c.method == "answerCallbackQuery"]

    def errors(self, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if not c.ok and (method is None or c.method == method)]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def current(self, chat_id: int | str, message_id: int) -> Message:
        """A message as it is now (after edits)."""
        return Message.model_validate(self.messages[(chat_id, message_id)])

    @staticmethod
    def buttons(call: Call | Message | dict[str, Any]) -> list[list[str]]:
        """Button texts, row by row, of an inline or reply keyboard."""
        markup = _markup_of(call)
        rows = (markup or {}).get("inline_keyboard") or (markup or {}).get("keyboard") or []
        return [[b if isinstance(b, str) else b.get("text", "") for b in row] for row in rows]

    @staticmethod
    def callback_data(call: Call | Message | dict[str, Any], text: str) -> str:
        """callback_data of the inline button whose text is `text` (or uniquely contains it)."""
        button = _find_button(_markup_of(call), text)
        data = button.get("callback_data")
        if data is None:
            msg = f"button {button.get('text')!r} has no callback_data: {button}"
            raise AssertionError(msg)
        return str(data)

    # ----------------------------------------------------------------------------- session

    async def close(self) -> None:
        self.closed = True

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        path = url.split("/file/bot", 1)[-1].split("/", 1)[-1]
        data = self.file_content(path)
        for start in range(0, max(len(data), 1), chunk_size):
            yield data[start : start + chunk_size]

    def file_content(self, path_or_id: str) -> bytes:
        """Bytes served for a file path (from getFile) or file_id."""
        for file_id, info in self.files.items():
            if path_or_id in (file_id, info.get("path")):
                return info.get("content") or f"fake-bytes-of-{file_id}".encode()
        stem = Path(path_or_id).stem or path_or_id
        return f"fake-bytes-of-{stem}".encode()

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        api_method = method.__api_method__
        files: dict[str, InputFile] = {}
        params = self._prepare(method.model_dump(warnings=False), bot, files)
        call = Call(
            method=api_method,
            params=params,
            chat_id=_norm_chat_id(params.get("chat_id")),
            files=files,
            at=self.clock(),
        )
        self.calls.append(call)
        if self.bot_id != bot.id:
            self.bot_id = bot.id
        try:
            raw = self._handle(bot, call)
        except _ApiError as error:
            call.error = error.description
            payload = {
                "ok": False,
                "error_code": error.code,
                "description": error.description,
            }
            if error.parameters:
                payload["parameters"] = error.parameters
            self.check_response(bot, method, error.code, json.dumps(payload))
            raise AssertionError("unreachable: check_response raises") from error  # pragma: no cover
        except _Timeout as lost:
            call.error = "Request timeout error"
            if lost.raw is not None:
                call.result = self._validate(bot, method, lost.raw).result
                call.delivered = is_send(api_method)
            raise TelegramNetworkError(method=method, message="Request timeout error") from lost

        response: Response[TelegramType] = self._validate(bot, method, raw)
        call.result = response.result
        call.delivered = is_send(api_method)
        return response.result  # type: ignore[return-value]

    def _validate(self, bot: Bot, method: TelegramMethod[TelegramType], raw: Any) -> Any:
        from aiogram.exceptions import ClientDecodeError

        try:
            return self.check_response(bot, method, 200, json.dumps({"ok": True, "result": raw}))
        except ClientDecodeError as error:
            msg = (
                f"FakeTelegram has no realistic result for {method.__api_method__} "
                f"(got {raw!r}); register one with tg.set_result({method.__api_method__!r}, ...)"
            )
            raise NotImplementedError(msg) from error

    def _prepare(self, value: Any, bot: Bot, files: dict[str, InputFile]) -> Any:
        """Like BaseSession.prepare_value, but to plain Python values (no JSON strings)."""
        if value is None:
            return None
        if isinstance(value, Default):
            return self._prepare(bot.default[value.name], bot, files)
        if isinstance(value, str | bool | int | float):
            return value
        if isinstance(value, InputFile):
            key = f"file{len(files)}"
            files[key] = value
            return f"attach://{key}"
        if isinstance(value, TelegramObject):
            return self._prepare(value.model_dump(warnings=False), bot, files)
        if isinstance(value, dict):
            prepared = {k: self._prepare(v, bot, files) for k, v in value.items()}
            return {k: v for k, v in prepared.items() if v is not None}
        if isinstance(value, list | tuple):
            items = [self._prepare(v, bot, files) for v in value]
            return [v for v in items if v is not None]
        if isinstance(value, Enum):
            return self._prepare(value.value, bot, files)
        if isinstance(value, datetime.datetime):
            return round(value.timestamp())
        if isinstance(value, datetime.timedelta):
            return round(self.clock() + value.total_seconds())
        return value

    # ----------------------------------------------------------------------------- routing

    def _handle(self, bot: Bot, call: Call) -> Any:
        self._check_spec(call.method, call.params)
        fault = self._take_fault(call)
        if fault is None:
            return self._process(bot, call)
        if fault.kind != "timeout":
            raise fault.error()
        raw: Any = None
        if fault.delivered:
            # The request reached Telegram, only the answer was lost.
            try:
                raw = self._process(bot, call)
            except _ApiError:
                raw = None
        raise _Timeout(raw)

    def _process(self, bot: Bot, call: Call) -> Any:
        method, params = call.method, call.params
        for key in ("chat_id", "from_chat_id"):
            if key in params and (key == "chat_id" or method in _DELIVERY_METHODS):
                self._check_chat(method, _norm_chat_id(params[key]))
        if "reply_markup" in params:
            self._check_markup(params["reply_markup"])

        custom = self._results.get(method.lower())
        if custom is not None:
            result = custom(params) if callable(custom) else custom
            return self._prepare(result, bot, {})

        handler = getattr(self, f"_m_{method}", None)
        if handler is not None:
            return handler(bot, call)
        if is_send(method):
            return self._send_generic(bot, call)
        return True

    def _check_spec(self, method: str, params: dict[str, Any]) -> None:
        required = self.spec.required.get(method)
        if required is None:
            raise _bad(f"method {method} is not in {self.spec.version}")
        missing = sorted(name for name in required if name not in params)
        if missing:
            raise _bad(f"parameter {missing[0]} is required for {method}")
        # Telegram drops parameters it no longer lists (disable_web_page_preview since Bot API 7.0):
        # the call "works" but the option is lost. The double refuses them so that the code moves on.
        unknown = sorted(name for name in params if name not in self.spec.fields[method])
        if unknown:
            raise _bad(f"parameter {unknown[0]} is not a parameter of {method} in {self.spec.version}")

    def _take_fault(self, call: Call) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.matches(call.method, call.chat_id):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _check_chat(self, method: str, chat_id: int | str | None) -> None:
        if chat_id is None:
            return
        if isinstance(chat_id, int) and chat_id in self.migrated:
            raise _ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self.migrated[chat_id],
            )
        reading = method.startswith("get")
        if not reading and isinstance(chat_id, int) and chat_id in self.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if not reading and chat_id in self.kicked:
            kind = self.chat_dict(chat_id)["type"]
            where = "channel chat" if kind == "channel" else f"{kind} chat"
            raise _ApiError(403, f"Forbidden: bot was kicked from the {where}")
        if self.strict_chats and chat_id not in self.known_chats:
            if isinstance(chat_id, int) and chat_id in self.seen_users:
                raise _ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise _bad("chat not found")

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard") or []:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                    raise _bad("BUTTON_DATA_INVALID")
                actions = [k for k in button if k not in ("text", "icon_custom_emoji_id", "style")]
                if not actions:
                    raise _bad("text buttons are unallowed in the inline keyboard")

    def _parse(self, text: str, params: dict[str, Any], entities_key: str) -> tuple[str, list[dict[str, Any]]]:
        try:
            entities = params.get(entities_key)
            if entities is None and str(params.get("parse_mode") or "").lower() == "html":
                return parse_html(text, strict_entities=self.strict_entities)
            return _parse_text(text, params.get("parse_mode"), entities)
        except HtmlError as error:
            raise _bad(f"can't parse entities: {error}") from error

    def _text_content(self, params: dict[str, Any]) -> dict[str, Any]:
        text, entities = self._parse(str(params.get("text", "")), params, "entities")
        if not text.strip():
            raise _bad("message text is empty")
        if utf16_len(text) > TEXT_LIMIT:
            raise _bad("message is too long")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return content

    def _caption_content(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("caption"):
            return {}
        caption, entities = self._parse(str(params["caption"]), params, "caption_entities")
        if utf16_len(caption) > CAPTION_LIMIT:
            raise _bad("message caption is too long")
        content: dict[str, Any] = {"caption": caption} if caption else {}
        if entities:
            content["caption_entities"] = entities
        return content

    # ----------------------------------------------------------------------------- messages

    def next_message_id(self, chat_id: int | str) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def chat_dict(self, chat_id: int | str) -> dict[str, Any]:
        """The chat as Telegram describes it (registered details or defaults by id)."""
        if chat_id in self.chats:
            return dict(self.chats[chat_id])
        if isinstance(chat_id, int) and chat_id > 0:
            chat: dict[str, Any] = {"id": chat_id, "type": "private"}
            user = self.users.get(chat_id)
            if user:
                for key in ("first_name", "last_name", "username"):
                    if user.get(key):
                        chat[key] = user[key]
            else:
                chat["first_name"] = f"User {chat_id}"
            return chat
        if isinstance(chat_id, str):
            return {
                "id": -(10**12) - abs(hash(chat_id)) % 10**9,
                "type": "channel",
                "title": chat_id,
                "username": chat_id.lstrip("@"),
            }
        return {"id": chat_id, "type": "supergroup", "title": f"Chat {chat_id}"}

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Test Bot", "username": "test_bot"}

    def user_dict(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            return self.bot_user()
        return dict(self.users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})

    def remember(self, message: dict[str, Any]) -> None:
        """Store a message (incoming or sent) so edits, replies and deletes can find it."""
        self.messages[(message["chat"]["id"], message["message_id"])] = message

    def _new_message(self, call: Call, content: dict[str, Any]) -> dict[str, Any]:
        params = call.params
        chat_id = call.chat_id
        assert chat_id is not None
        chat = self.chat_dict(chat_id)
        key = chat["id"] if isinstance(chat_id, str) else chat_id
        message: dict[str, Any] = {
            "message_id": self.next_message_id(key),
            "date": int(self.clock()),
            "chat": chat,
        }
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = self.bot_user()
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        reply_to = self._reply_target(key, params)
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        message.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.messages[(key, message["message_id"])] = message
        return message

    def _reply_target(self, chat_id: int | str, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id") or params.get("reply_to_message_id")
        if not message_id:
            return None
        target_chat = _norm_chat_id(reply.get("chat_id")) or chat_id
        found = self.messages.get((target_chat, message_id))
        if found is None and not (
            reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply")
        ):
            raise _bad("message to be replied not found")
        return found

    def _file_for(self, kind: str, call: Call, value: Any) -> str:
        """file_id for a sent media value: a new file for uploads and URLs, the same id otherwise."""
        if isinstance(value, str) and not value.startswith(("attach://", "http://", "https://")):
            return value
        file_id = f"fake-{kind}-{next(self._file_seq)}"
        upload = call.files.get(value.removeprefix("attach://")) if isinstance(value, str) else None
        content: bytes | None = None
        if isinstance(upload, BufferedInputFile):
            content = upload.data
        elif isinstance(upload, FSInputFile):
            try:
                content = Path(upload.path).read_bytes()
            except OSError:
                content = None
        self.register_file(file_id, content=content)
        if upload is not None and upload.filename:
            self.files[file_id]["file_name"] = upload.filename
        return file_id

    def _media_content(self, kind: str, call: Call, value: Any) -> dict[str, Any]:
        file_id = self._file_for(kind, call, value)
        info = self.files.get(file_id, {})
        return media_content(kind, file_id, size=info.get("size", 1000), file_name=info.get("file_name"))

    def _m_sendMessage(self, bot: Bot, call: Call) -> Any:
        return self._new_message(call, self._text_content(call.params))

    def _send_generic(self, bot: Bot, call: Call) -> Any:
        params = call.params
        kind = MEDIA_METHODS.get(call.method)
        content: dict[str, Any] = {}
        if kind is not None:
            content.update(self._media_content(kind, call, params.get(kind)))
            content.update(self._caption_content(params))
        elif call.method == "sendLocation":
            content["location"] = {"latitude": params["latitude"], "longitude": params["longitude"]}
        elif call.method == "sendVenue":
            location = {"latitude": params["latitude"], "longitude": params["longitude"]}
            content["venue"] = {"location": location, "title": params["title"], "address": params["address"]}
            content["location"] = location
        elif call.method == "sendContact":
            content["contact"] = {k: params[k] for k in ("phone_number", "first_name", "last_name") if k in params}
        elif call.method == "sendDice":
            content["dice"] = {"emoji": params.get("emoji", "🎲"), "value": 1}
        elif call.method == "sendPoll":
            options = [
                {
                    "persistent_id": str(n),
                    "text": o["text"] if isinstance(o, dict) else str(o),
                    "voter_count": 0,
                }
                for n, o in enumerate(params.get("options", []))
            ]
            content["poll"] = {
                "id": f"poll-{next(self._file_seq)}",
                "question": params["question"],
                "options": options,
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": params.get("is_anonymous", True),
                "type": params.get("type", "regular"),
                "allows_multiple_answers": params.get("allows_multiple_answers", False),
                "allows_revoting": False,
                "members_only": False,
            }
        return self._new_message(call, content)

    def _m_sendMediaGroup(self, bot: Bot, call: Call) -> Any:
        params = call.params
        media = params.get("media") or []
        if "reply_markup" in params:
            raise _bad("reply markup is not allowed for media groups")
        if not 2 <= len(media) <= 10:
            raise _bad("wrong number of media in the album: must be 2-10 items")
        kinds = {item.get("type") for item in media}
        for exclusive in ("document", "audio"):
            if exclusive in kinds and len(kinds) > 1:
                raise _bad(f"{exclusive} can't be mixed with other media types")
        contents = []
        for item in media:
            content = self._media_content(str(item.get("type")), call, item.get("media"))
            content.update(self._caption_content(item))
            contents.append(content)
        group_id = f"album-{next(self._file_seq)}"
        return [self._new_message(call, dict(c, media_group_id=group_id)) for c in contents]

    def _m_copyMessage(self, bot: Bot, call: Call) -> Any:
        source = self._source(call, "copy")
        content = _message_content(source, "forward_origin")  # a copy does not say where it came from
        if "caption" in call.params:
            content.pop("caption_entities", None)
            content.update(self._caption_content(call.params))
        message = self._new_message(call, content)
        return {"message_id": message["message_id"]}

    def _m_forwardMessage(self, bot: Bot, call: Call) -> Any:
        source = self._source(call, "forward")
        content = _message_content(source)
        sender = source.get("from")
        content["forward_origin"] = (
            {"type": "user", "date": source["date"], "sender_user": sender}
            if sender
            else {"type": "chat", "date": source["date"], "sender_chat": source["chat"]}
        )
        return self._new_message(call, content)

    def _source(self, call: Call, verb: str) -> dict[str, Any]:
        key = (_norm_chat_id(call.params.get("from_chat_id")), call.params.get("message_id"))
        source = self.messages.get(key)  # type: ignore[arg-type]
        if source is None:
            raise _bad(f"message to {verb} not found")
        return source

    # ----------------------------------------------------------------------------- edits

    def _edit_target(self, call: Call) -> dict[str, Any] | None:
        if "inline_message_id" in call.params:
            return None
        message = self.messages.get((call.chat_id, call.params.get("message_id")))  # type: ignore[arg-type]
        if message is None:
            raise _bad("message to edit not found")
        if (message.get("from") or {}).get("id") != self.bot_id and "sender_chat" not in message:
            raise _bad("message can't be edited")
        return message

    def _apply_edit(
        self, message: dict[str, Any], call: Call, changes: dict[str, Any], drop: Iterable[str]
    ) -> dict[str, Any]:
        markup = call.params.get("reply_markup")
        new = {k: v for k, v in message.items() if k not in drop and k != "reply_markup"}
        new.update(changes)
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            new["reply_markup"] = markup
        keys = (
            "text",
            "entities",
            "caption",
            "caption_entities",
            "reply_markup",
            "photo",
            "video",
            "document",
            "animation",
            "audio",
        )
        if all(new.get(k) == message.get(k) for k in keys):
            raise _bad(_NOT_MODIFIED.removeprefix("Bad Request: "))
        new["edit_date"] = int(self.clock())
        self.remember(new)
        return new

    def _m_editMessageText(self, bot: Bot, call: Call) -> Any:
        content = self._text_content(call.params)
        message = self._edit_target(call)
        if message is None:
            return True
        if "text" not in message:
            raise _bad("there is no text in the message to edit")
        return self._apply_edit(message, call, content, drop=("text", "entities"))

    def _m_editMessageCaption(self, bot: Bot, call: Call) -> Any:
        content = self._caption_content(call.params)
        message = self._edit_target(call)
        if message is None:
            return True
        if "text" in message:
            raise _bad("there is no caption in the message to edit")
        return self._apply_edit(message, call, content, drop=("caption", "caption_entities"))

    def _m_editMessageReplyMarkup(self, bot: Bot, call: Call) -> Any:
        message = self._edit_target(call)
        if message is None:
            return True
        return self._apply_edit(message, call, {}, drop=())

    def _m_editMessageMedia(self, bot: Bot, call: Call) -> Any:
        media = call.params.get("media") or {}
        caption = self._caption_content(media)
        message = self._edit_target(call)
        if message is None:
            return True
        if "text" in message:
            raise _bad("there is no media in the message to edit")
        content = self._media_content(str(media.get("type")), call, media.get("media"))
        content.update(caption)
        kinds = ("photo", "video", "document", "animation", "audio", "caption", "caption_entities")
        return self._apply_edit(message, call, content, drop=kinds)

    def _m_deleteMessage(self, bot: Bot, call: Call) -> Any:
        if self.messages.pop((call.chat_id, call.params.get("message_id")), None) is None:  # type: ignore[arg-type]
            raise _bad("message to delete not found")
        return True

    def _m_deleteMessages(self, bot: Bot, call: Call) -> Any:
        for message_id in call.params.get("message_ids", []):
            self.messages.pop((call.chat_id, message_id), None)  # type: ignore[arg-type]
        return True

    # ----------------------------------------------------------------------------- others

    def _m_answerCallbackQuery(self, bot: Bot, call: Call) -> Any:
        text = call.params.get("text") or ""
        if utf16_len(text) > CALLBACK_ANSWER_LIMIT:
            raise _bad("MESSAGE_TOO_LONG")
        query_id = str(call.params.get("callback_query_id"))
        if self.strict_callbacks and self.callback_queries.get(query_id, True):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        self.callback_queries[query_id] = True
        return True

    def _m_setMyCommands(self, bot: Bot, call: Call) -> Any:
        commands = call.params.get("commands") or []
        if len(commands) > 100:
            raise _bad("too many commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(call.params)] = commands
        return True

    def _m_deleteMyCommands(self, bot: Bot, call: Call) -> Any:
        self.commands.pop(self._commands_key(call.params), None)
        return True

    def _m_getMyCommands(self, bot: Bot, call: Call) -> Any:
        return self.commands.get(self._commands_key(call.params), [])

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        return json.dumps(
            [params.get("scope") or {"type": "default"}, params.get("language_code") or ""], sort_keys=True
        )

    def _m_getMe(self, bot: Bot, call: Call) -> Any:
        return dict(
            self.bot_user(),
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
        )

    def _m_getFile(self, bot: Bot, call: Call) -> Any:
        file_id = str(call.params["file_id"])
        info = self.files.get(file_id, {})
        size = info.get("size", 1000)
        if size > DOWNLOAD_LIMIT:
            raise _bad("file is too big")
        path = info.get("path") or f"photos/{file_id}.jpg"
        self.files.setdefault(file_id, {})["path"] = path
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size, "file_path": path}

    def _m_getChat(self, bot: Bot, call: Call) -> Any:
        assert call.chat_id is not None
        chat = self.chat_dict(call.chat_id)
        gifts = {name: True for name in AcceptedGiftTypes.model_fields}
        full = dict(chat, accent_color_id=0, max_reaction_count=11, accepted_gift_types=gifts)
        return {k: v for k, v in full.items() if k in ChatFullInfo.model_fields}

    def _member(self, chat_id: int | str, user_id: int) -> dict[str, Any]:
        user = self.user_dict(user_id)
        status = self.members.get((chat_id, user_id), "member")
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            return {
                "status": "administrator",
                "user": user,
                **_required_flags(ChatMemberAdministrator, can=True),
            }
        if status == "restricted":
            return {"status": "restricted", "user": user, **_required_flags(ChatMemberRestricted, can=False)}
        if status == "kicked":
            return {"status": "kicked", "user": user, "until_date": 0}
        return {"status": status, "user": user}

    def _m_getChatMember(self, bot: Bot, call: Call) -> Any:
        assert call.chat_id is not None
        return self._member(call.chat_id, int(call.params["user_id"]))

    def _m_getChatAdministrators(self, bot: Bot, call: Call) -> Any:
        return [
            self._member(chat_id, user_id)
            for (chat_id, user_id), status in self.members.items()
            if chat_id == call.chat_id and status in ("creator", "administrator")
        ]

    def _m_getChatMemberCount(self, bot: Bot, call: Call) -> Any:
        return max(2, sum(1 for chat_id, _ in self.members if chat_id == call.chat_id))

    def _m_getUpdates(self, bot: Bot, call: Call) -> Any:
        return []

    def _m_getWebhookInfo(self, bot: Bot, call: Call) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    def _m_leaveChat(self, bot: Bot, call: Call) -> Any:
        self.known_chats.discard(call.chat_id)  # type: ignore[arg-type]
        return True

    def _m_getMyName(self, bot: Bot, call: Call) -> Any:
        return {"name": "Test Bot"}

    def _m_getMyDescription(self, bot: Bot, call: Call) -> Any:
        return {"description": ""}

    def _m_getMyShortDescription(self, bot: Bot, call: Call) -> Any:
        return {"short_description": ""}

    def _m_getChatMenuButton(self, bot: Bot, call: Call) -> Any:
        return {"type": "default"}

    def _m_exportChatInviteLink(self, bot: Bot, call: Call) -> Any:
        return f"https://t.me/+fake{abs(hash(call.chat_id)) % 10**8}"

    def _m_createChatInviteLink(self, bot: Bot, call: Call) -> Any:
        return {
            "invite_link": f"https://t.me/+fake{next(self._file_seq)}",
            "creator": self.bot_user(),
            "creates_join_request": bool(call.params.get("creates_join_request")),
            "is_primary": False,
            "is_revoked": False,
        }


def _markup_of(source: Call | Message | dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(source, Call):
        if source.markup is not None:
            return source.markup
        message = source.message
        return _markup_of(message) if message is not None else None
    if isinstance(source, Message):
        if source.reply_markup is None:
            return None
        return source.reply_markup.model_dump(exclude_none=True)
    markup = source.get("reply_markup", source)
    return markup if isinstance(markup, dict) else None


def _find_button(markup: dict[str, Any] | None, text: str) -> dict[str, Any]:
    rows = (markup or {}).get("inline_keyboard") or []
    buttons = [b for row in rows for b in row]
    for button in buttons:
        if button.get("text") == text:
            return button
    partial = [b for b in buttons if text.casefold() in str(b.get("text", "")).casefold()]
    if len(partial) == 1:
        return partial[0]
    labels = [b.get("text") for b in buttons]
    problem = "is ambiguous among" if partial else "is not among"
    msg = f"button {text!r} {problem} {labels}"
    raise AssertionError(msg)


# --------------------------------------------------------------------------------------------
# Update factories
# --------------------------------------------------------------------------------------------

ChatRef = int | Chat | None


class Updates:
    """Builds Updates with incrementing ids and registers their chats with the double.

    A private chat becomes known (the bot may write to it) when the user writes to the bot in
    private or presses a button there; a group becomes known with any update from it. A user
    seen only in a group is "seen": sending them a private message raises
    ``Forbidden: bot can't initiate conversation with a user``, as Telegram does.
    """

    def __init__(self, tg: FakeTelegram | None = None, *, first_update_id: int = 1) -> None:
        self.tg = tg if tg is not None else FakeTelegram()
        self._update_ids = itertools.count(first_update_id)
        self._media_groups = itertools.count(1)
        self._files = itertools.count(1)

    # ----------------------------------------------------------------------------- basics

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def user(
        self,
        id: int,
        first_name: str = "Ann",
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
        *,
        is_premium: bool | None = None,
    ) -> User:
        user = User(
            id=id,
            is_bot=False,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )
        self.tg.users[id] = user.model_dump(exclude_none=True)
        return user

    def group(
        self,
        chat_id: int,
        title: str = "Building 1 team",
        chat_type: str = "supergroup",
        *,
        is_forum: bool | None = None,
    ) -> Chat:
        """Describe a group (title, type); it becomes known to the bot."""
        return Chat.model_validate(self.tg.add_chat(chat_id, type=chat_type, title=title, is_forum=is_forum))

    def bot_user(self) -> User:
        return User.model_validate(self.tg.bot_user())

    def _chat(self, user: User | None, chat: ChatRef) -> dict[str, Any]:
        if chat is None:
            assert user is not None, "a private chat needs a user"
            return self.tg.chat_dict(user.id)
        if isinstance(chat, Chat):
            data = chat.model_dump(exclude_none=True)
            self.tg.chats[chat.id] = data
            return dict(data)
        return self.tg.chat_dict(chat)

    def _note_activity(self, user: User | None, chat: dict[str, Any]) -> None:
        tg = self.tg
        if user is not None and not user.is_bot:
            tg.users.setdefault(user.id, user.model_dump(exclude_none=True))
            tg.seen_users.add(user.id)
        if chat["type"] == "private":
            # Writing to a bot you blocked is impossible: the user restarted it.
            tg.blocked.discard(chat["id"])
            tg.known_chats.add(chat["id"])
        elif chat["id"] not in tg.kicked:
            tg.chats.setdefault(chat["id"], chat)
            tg.known_chats.add(chat["id"])

    def _message(
        self, user: User | None, chat: ChatRef, content: dict[str, Any], *, register: bool = True
    ) -> dict[str, Any]:
        chat_data = self._chat(user, chat)
        message: dict[str, Any] = {
            "message_id": self.tg.next_message_id(chat_data["id"]),
            "date": int(self.tg.clock()),
            "chat": chat_data,
        }
        if user is not None:
            message["from"] = user.model_dump(exclude_none=True)
        message.update(content)
        if register:
            self._note_activity(user, chat_data)
            self.tg.remember(message)
        return message

    def _update(self, **payload: Any) -> Update:
        return Update.model_validate({"update_id": self.next_update_id(), **payload})

    def _file_id(self, kind: str) -> str:
        return f"in-{kind}-{next(self._files)}"

    # ----------------------------------------------------------------------------- messages

    def text(
        self,
        user: User,
        text: str,
        chat: ChatRef = None,
        *,
        reply_to: Message | None = None,
        thread_id: int | None = None,
    ) -> Update:
        """A text message; "/command args" gets a bot_command entity at offset 0."""
        return self._update(message=self._text_message(user, text, chat, reply_to=reply_to, thread_id=thread_id))

    def _text_message(
        self,
        user: User | None,
        text: str,
        chat: ChatRef,
        *,
        reply_to: Message | None = None,
        thread_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
        if reply_to is not None:
            content["reply_to_message"] = reply_to.model_dump(by_alias=True, exclude_none=True)
        if thread_id is not None:
            content["message_thread_id"] = thread_id
            content["is_topic_message"] = True
        content.update(extra or {})
        return self._message(user, chat, content)

    def photo(
        self,
        user: User,
        file_id: str | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        chat: ChatRef = None,
        file_size: int = 150_000,
    ) -> Update:
        file_id = file_id or self._file_id("photo")
        self.tg.register_file(file_id, size=file_size)
        sizes = [
            {
                "file_id": f"{file_id}-s",
                "file_unique_id": f"u-{file_id}-s",
                "width": 320,
                "height": 240,
                "file_size": max(1, file_size // 10),
            },
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "width": 1280,
                "height": 960,
                "file_size": file_size,
            },
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._update(message=self._message(user, chat, content))

    def album(self, user: User, n: int, caption: str | None = None, chat: ChatRef = None) -> list[Update]:
        """n photos with one media_group_id, the caption on the first (as Telegram sends them)."""
        group_id = f"mg-{next(self._media_groups)}"
        return [
            self.photo(user, caption=caption if i == 0 else None, media_group_id=group_id, chat=chat) for i in range(n)
        ]

    def document(
        self,
        user: User,
        file_name: str = "report.pdf",
        mime_type: str = "application/pdf",
        file_size: int = 12_345,
        *,
        caption: str | None = None,
        chat: ChatRef = None,
        file_id: str | None = None,
        content: bytes | None = None,
    ) -> Update:
        file_id = file_id or self._file_id("document")
        self.tg.register_file(file_id, size=file_size, content=content, path=f"documents/{file_name}")
        document = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": file_size,
        }
        payload: dict[str, Any] = {"document": document}
        if caption is not None:
            payload["caption"] = caption
        return self._update(message=self._message(user, chat, payload))

    def sticker(self, user: User, emoji: str = "👍", chat: ChatRef = None) -> Update:
        file_id = self._file_id("sticker")
        sticker = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._update(message=self._message(user, chat, {"sticker": sticker}))

    def voice(self, user: User, duration: int = 3, chat: ChatRef = None, file_size: int = 8_000) -> Update:
        file_id = self._file_id("voice")
        self.tg.register_file(file_id, size=file_size, path=f"voice/{file_id}.oga")
        voice = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": file_size,
        }
        return self._update(message=self._message(user, chat, {"voice": voice}))

    def location(
        self, user: User, lat: float, lon: float, chat: ChatRef = None, *, live_period: int | None = None
    ) -> Update:
        location: dict[str, Any] = {"latitude": lat, "longitude": lon}
        if live_period is not None:
            location["live_period"] = live_period
        return self._update(message=self._message(user, chat, {"location": location}))

    def contact(
        self,
        user: User,
        phone: str,
        contact_user_id: int | None = None,
        *,
        first_name: str | None = None,
        chat: ChatRef = None,
    ) -> Update:
        """A shared contact: the sender's own unless contact_user_id names someone else."""
        owner = user.id if contact_user_id is None else contact_user_id
        contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name or user.first_name}
        if owner:
            contact["user_id"] = owner
        return self._update(message=self._message(user, chat, {"contact": contact}))

    def poll(
        self,
        user: User,
        question: str = "Lunch?",
        options: Iterable[str] = ("Yes", "No"),
        chat: ChatRef = None,
    ) -> Update:
        poll = {
            "id": f"poll-{next(self._files)}",
            "question": question,
            "options": [{"persistent_id": str(i), "text": o, "voter_count": 0} for i, o in enumerate(options)],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        return self._update(message=self._message(user, chat, {"poll": poll}))

    def forwarded(
        self,
        user: User,
        text: str,
        *,
        origin: User | None = None,
        hidden_name: str | None = None,
        chat: ChatRef = None,
    ) -> Update:
        """A text forwarded by `user` from `origin` (or from a user hiding their account)."""
        date = int(self.tg.clock()) - 3600
        if hidden_name is not None:
            forward: dict[str, Any] = {"type": "hidden_user", "date": date, "sender_user_name": hidden_name}
        else:
            sender = origin or User(id=user.id + 1_000_000, is_bot=False, first_name="Someone")
            forward = {"type": "user", "date": date, "sender_user": sender.model_dump(exclude_none=True)}
        return self._update(message=self._message(user, chat, {"text": text, "forward_origin": forward}))

    def edited_text(self, user: User, text: str, chat: ChatRef = None, *, message_id: int | None = None) -> Update:
        """An edited_message: the user's last text in that chat (or message_id) now says `text`."""
        chat_data = self._chat(user, chat)
        chat_id = chat_data["id"]
        if message_id is None:
            mine = [
                mid
                for (cid, mid), m in self.tg.messages.items()
                if cid == chat_id and (m.get("from") or {}).get("id") == user.id and "text" in m
            ]
            message_id = max(mine) if mine else self.tg.next_message_id(chat_id)
        original = self.tg.messages.get((chat_id, message_id), {})
        message = {
            "message_id": message_id,
            "date": original.get("date", int(self.tg.clock()) - 60),
            "edit_date": int(self.tg.clock()),
            "chat": chat_data,
            "from": user.model_dump(exclude_none=True),
            "text": text,
        }
        self._note_activity(user, chat_data)
        self.tg.remember(message)
        return self._update(edited_message=message)

    def channel_post(self, chat_id: int, text: str, *, title: str = "Announcements") -> Update:
        chat = self.tg.add_chat(chat_id, type="channel", title=title)
        message = self._message(None, chat_id, {"text": text, "sender_chat": chat})
        return self._update(channel_post=message)

    def anonymous_admin(self, chat_id: int, text: str) -> Update:
        """A group message from an anonymous administrator (from = GroupAnonymousBot)."""
        anonymous = User(id=GROUP_ANONYMOUS_BOT_ID, is_bot=True, first_name="Group", username="GroupAnonymousBot")
        chat = self._chat(None, chat_id)
        return self._update(message=self._text_message(anonymous, text, chat_id, extra={"sender_chat": chat}))

    def forum_topic_message(self, user: User, chat_id: int, thread_id: int, text: str) -> Update:
        chat = self.tg.chat_dict(chat_id)
        self.tg.add_chat(chat_id, type="supergroup", title=chat.get("title"), is_forum=True)
        return self.text(user, text, chat_id, thread_id=thread_id)

    # ----------------------------------------------------------------------------- callbacks

    def callback(
        self,
        user: User,
        data: str,
        message: Message | dict[str, Any] | None = None,
        chat: ChatRef = None,
        *,
        inaccessible: bool = False,
    ) -> Update:
        """A button press. Without `message`, a placeholder bot message in `chat` carries it."""
        if isinstance(message, Message):
            message_data = message.model_dump(by_alias=True, exclude_none=True)
        elif isinstance(message, dict):
            message_data = dict(message)
        else:
            button = {"text": "button", "callback_data": data}
            message_data = self._message(
                None,
                chat if chat is not None else user.id,
                {"text": "…", "reply_markup": {"inline_keyboard": [[button]]}},
            )
            message_data["from"] = self.tg.bot_user()
            self.tg.remember(message_data)
        chat_data = message_data["chat"]
        if inaccessible:
            message_data = {"chat": chat_data, "message_id": message_data["message_id"], "date": 0}
        self._note_activity(user, chat_data)
        query_id = f"cbq-{next(self.tg._callback_seq)}"
        self.tg.callback_queries[query_id] = False
        query = {
            "id": query_id,
            "from": user.model_dump(exclude_none=True),
            "chat_instance": f"ci{chat_data['id']}",
            "message": message_data,
            "data": data,
        }
        return self._update(callback_query=query)

    def callback_on(self, call: Call | Message, user: User, button_text: str) -> Update:
        """Press the inline button labelled `button_text` on a message the bot sent.

        Uses the message as it is now (after edits), like a real client would show it.
        """
        message = call.message if isinstance(call, Call) else call
        if message is None:
            msg = f"{call!r} has no message to press a button on"
            raise AssertionError(msg)
        current = self.tg.messages.get((message.chat.id, message.message_id))
        if current is None:
            msg = f"message {message.message_id} in chat {message.chat.id} was deleted"
            raise AssertionError(msg)
        data = FakeTelegram.callback_data(current, button_text)
        return self.callback(user, data, message=current)

    # ----------------------------------------------------------------------------- membership

    def _my_chat_member(self, chat: dict[str, Any], by_user: User, old: str, new: str) -> Update:
        bot = self.tg.bot_user()

        def member(status: str) -> dict[str, Any]:
            if status == "administrator":
                return {"status": status, "user": bot, **_required_flags(ChatMemberAdministrator, can=True)}
            if status == "kicked":
                return {"status": status, "user": bot, "until_date": 0}
            return {"status": status, "user": bot}

        payload = {
            "chat": chat,
            "from": by_user.model_dump(exclude_none=True),
            "date": int(self.tg.clock()),
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }
        return self._update(my_chat_member=payload)

    def bot_added(
        self,
        chat_id: int,
        by_user: User,
        title: str = "Building 1 team",
        chat_type: str = "supergroup",
        *,
        as_admin: bool = False,
    ) -> Update:
        """my_chat_member: the bot goes from left to member (or administrator) of a group."""
        self.tg.kicked.discard(chat_id)
        chat = self.tg.add_chat(chat_id, type=chat_type, title=title)
        if as_admin:
            self.tg.set_admin(chat_id, self.tg.bot_id)
        self._note_activity(by_user, chat)
        return self._my_chat_member(chat, by_user, "left", "administrator" if as_admin else "member")

    def new_chat_members(self, chat_id: int, by_user: User, members: list[User] | None = None) -> Update:
        """The service message listing new members (default: the bot itself)."""
        joined = members if members is not None else [self.bot_user()]
        content = {"new_chat_members": [m.model_dump(exclude_none=True) for m in joined]}
        return self._update(message=self._message(by_user, chat_id, content))

    def bot_removed(self, chat_id: int, by_user: User) -> Update:
        """my_chat_member: the bot was removed; later sends raise "bot was kicked"."""
        chat = self.tg.chat_dict(chat_id)
        update = self._my_chat_member(chat, by_user, "member", "kicked")
        self.tg.kick(chat_id)
        return update

    def bot_blocked(self, user: User) -> Update:
        """my_chat_member in private: the user blocked the bot."""
        self.tg.block(user.id)
        return self._my_chat_member(self.tg.chat_dict(user.id), user, "member", "kicked")

    def migrate_to_supergroup(self, old_chat_id: int, new_chat_id: int, by_user: User) -> Update:
        """The service message in the old group announcing the new supergroup id."""
        old = self.tg.chat_dict(old_chat_id)
        self.tg.add_chat(old_chat_id, type="group", title=old.get("title") or "Building 1 team")
        message = self._message(by_user, old_chat_id, {"migrate_to_chat_id": new_chat_id})
        self.tg.migrate(old_chat_id, new_chat_id)
        return self._update(message=message)
