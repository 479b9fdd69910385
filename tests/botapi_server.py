"""A local HTTP server that speaks the Bot API, for whole-process tests and benchmarks.

Point a real bot at it with ``AiohttpSession(api=TelegramAPIServer.from_base(url))``.

In-process::

    async with BotApiStub(limits=True) as stub:
        session = AiohttpSession(api=stub.api)
        stub.queue_update(update)            # dict or aiogram Update
        ...
        stub.sent                             # delivered messages

Standalone (prints ``READY <port>`` once listening)::

    python -m tests.botapi_server --port 0 --limits

Control API (JSON): ``POST /_control/updates`` (one update or a list; update_id assigned when
missing), ``GET /_control/updates`` (pending), ``GET /_control/sent[?since=N]``,
``GET /_control/stats``, ``POST /_control/reset``, ``GET|POST /_control/config``
(``limits``, ``fail_rate_500``, ``blocked``, ``seed``, ``latency``),
``GET /_control/wait?sent=N&timeout=S`` (wait until N messages were delivered).

With ``limits`` on, sends obey Telegram's flood limits: 30 messages/s per bot (sliding 1 s
window), 1 message/s per private chat, 20 messages/min per group; a send over a limit gets 429
with ``retry_after`` (whole seconds until the window frees, at least 1) and is not delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import random
import re
import signal
import socket
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from tests.telegram import (
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    MEDIA_METHODS,
    SPEC_PATH,
    TEXT_LIMIT,
    HtmlError,
    is_send,
    load_spec,
    media_content,
    parse_html,
    utf16_len,
)

__all__ = ["BotApiState", "BotApiStub", "RateLimiter", "create_app", "main"]

_TOKEN_RE = re.compile(r"^\d+:[\w-]+$")
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "offset",
        "limit",
        "timeout",
        "user_id",
        "reply_to_message_id",
        "latitude",
        "longitude",
    }
)
_CONFLICT_POLL = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
_CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
_STORE_LIMIT = 100_000  # messages kept for edit results


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class RateLimiter:
    """Telegram's flood limits for one bot: global, per private chat and per group."""

    def __init__(
        self,
        *,
        per_bot: tuple[int, float] = (30, 1.0),
        per_private: tuple[int, float] = (1, 1.0),
        per_group: tuple[int, float] = (20, 60.0),
    ) -> None:
        self.per_bot = per_bot
        self.per_private = per_private
        self.per_group = per_group
        self._global: deque[float] = deque()
        self._chats: dict[int | str, deque[float]] = {}

    @staticmethod
    def _wait(window: deque[float], limit: tuple[int, float], now: float) -> float:
        count, span = limit
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= count:
            return window[len(window) - count] + span - now
        return 0.0

    def acquire(self, chat_id: int | str, now: float) -> int:
        """0 when the send may go now (and is counted), else retry_after in whole seconds."""
        chat_limit = self.per_private if isinstance(chat_id, int) and chat_id > 0 else self.per_group
        chat_window = self._chats.setdefault(chat_id, deque())
        wait = max(self._wait(self._global, self.per_bot, now), self._wait(chat_window, chat_limit, now))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._global.append(now)
        chat_window.append(now)
        return 0


@dataclass
class Config:
    limits: bool = False
    fail_rate_500: float = 0.0
    blocked: set[int | str] = field(default_factory=set)
    seed: int = 0
    latency: float = 0.0  # seconds added to every API answer (not getUpdates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "limits": self.limits,
            "fail_rate_500": self.fail_rate_500,
            "blocked": sorted(self.blocked, key=str),
            "seed": self.seed,
            "latency": self.latency,
        }


def _norm_chat(value: Any) -> int | str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text or None


def _chat_type(chat_id: int | str) -> str:
    if isinstance(chat_id, str):
        return "channel"
    return "private" if chat_id > 0 else "supergroup"


def _update_type(update: dict[str, Any]) -> str | None:
    return next((key for key in update if key != "update_id"), None)


class BotApiState:
    """Everything the server knows; HTTP handlers are thin wrappers around it."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        spec = load_spec(str(SPEC_PATH))  # raises when it cannot be read: no silent "anything goes"
        self.spec_version = spec.version
        self.known_methods: dict[str, str] = {name.lower(): name for name in spec.required}
        self.required: dict[str, frozenset[str]] = spec.required
        self.fields: dict[str, frozenset[str]] = spec.fields
        self.closing = False
        self._waiters: set[asyncio.Event] = set()
        self._sent_waiters: set[asyncio.Event] = set()
        self.reset()

    # ----------------------------------------------------------------------------- state

    def reset(self) -> None:
        """Clear recorded traffic, queued updates and flood windows (config stays)."""
        self.random = random.Random(self.config.seed)
        self.updates: list[dict[str, Any]] = []
        self.next_update_id = 1
        self.sent: list[dict[str, Any]] = []
        self.stats: dict[str, Any] = {
            "requests": 0,
            "sends": 0,
            "rate_limited": 0,
            "server_errors": 0,
            "errors": {},
            "methods": {},
        }
        self.limiters: dict[str, RateLimiter] = {}
        self.messages: OrderedDict[tuple[int | str, int], dict[str, Any]] = OrderedDict()
        self.message_ids: dict[int | str, int] = {}
        self.webhook_url = ""
        self.allowed_updates: list[str] = []
        self.poll_generation = 0
        self._file_seq = itertools.count(1)
        self._wake(self._waiters)

    def configure(self, **changes: Any) -> dict[str, Any]:
        config = self.config
        if "limits" in changes:
            config.limits = bool(changes["limits"])
        if "fail_rate_500" in changes:
            config.fail_rate_500 = float(changes["fail_rate_500"])
        if "blocked" in changes:
            config.blocked = {c for c in (_norm_chat(v) for v in changes["blocked"]) if c is not None}
        if "seed" in changes:
            config.seed = int(changes["seed"])
            self.random = random.Random(config.seed)
        if "latency" in changes:
            config.latency = float(changes["latency"])
        return config.as_dict()

    def queue_updates(self, updates: Iterable[dict[str, Any]]) -> list[int]:
        ids = []
        for update in updates:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self.next_update_id
            self.next_update_id = max(self.next_update_id, int(update["update_id"]) + 1)
            self.updates.append(update)
            ids.append(update["update_id"])
        self.updates.sort(key=lambda u: u["update_id"])
        self._wake(self._waiters)
        return ids

    @staticmethod
    def _wake(waiters: set[asyncio.Event]) -> None:
        for event in list(waiters):
            event.set()

    async def wait_sent(self, count: int, within: float) -> bool:
        deadline = time.monotonic() + within
        while len(self.sent) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            event = asyncio.Event()
            self._sent_waiters.add(event)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return len(self.sent) >= count
            finally:
                self._sent_waiters.discard(event)
        return True

    def shutdown(self) -> None:
        self.closing = True
        self._wake(self._waiters)
        self._wake(self._sent_waiters)

    # ----------------------------------------------------------------------------- API

    async def call(self, token: str, method_name: str, params: dict[str, Any], files: dict[str, Any]) -> Any:
        """Answer one API call: the result, or raise ApiError."""
        stats = self.stats
        stats["requests"] += 1
        if not _TOKEN_RE.match(token):
            raise ApiError(404, "Not Found")
        method = self._resolve(method_name)
        stats["methods"][method] = stats["methods"].get(method, 0) + 1
        if method == "getUpdates":
            return await self._get_updates(params)
        if self.config.latency > 0:
            await asyncio.sleep(self.config.latency)
        missing = [name for name in self.required.get(method, ()) if name not in params and name not in files]
        if missing:
            raise ApiError(400, f"Bad Request: parameter {missing[0]} is required")
        # Uploaded files travel under attach:// keys, so only the form's plain fields are checked.
        unknown = sorted(name for name in params if name not in self.fields.get(method, params.keys()))
        if unknown:
            raise ApiError(400, f"Bad Request: parameter {unknown[0]} is not a parameter of {method} "
                                f"in {self.spec_version}")
        bot_id = int(token.split(":", 1)[0])
        if is_send(method) or method.startswith("editMessage"):
            return self._deliver(token, bot_id, method, params, files)
        return self._other(bot_id, method, params)

    def _resolve(self, name: str) -> str:
        method = self.known_methods.get(name.lower())
        if method is None:
            raise ApiError(404, "Not Found")
        return method

    def _bot_user(self, bot_id: int) -> dict[str, Any]:
        return {"id": bot_id, "is_bot": True, "first_name": "Test Bot", "username": "test_bot"}

    def _other(self, bot_id: int, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return dict(self._bot_user(bot_id), can_join_groups=True, can_read_all_group_messages=False)
        if method == "deleteWebhook":
            self.webhook_url = ""
            if params.get("drop_pending_updates") in (True, "true", "True", "1"):
                self.updates.clear()
            return True
        if method == "setWebhook":
            self.webhook_url = str(params.get("url", ""))
            return True
        if method == "getWebhookInfo":
            return {
                "url": self.webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self.updates),
            }
        if method == "getFile":
            file_id = str(params.get("file_id"))
            path = f"files/{file_id}"
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(file_bytes(path)),
                "file_path": path,
            }
        if method == "answerCallbackQuery" and utf16_len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        if method == "getMyCommands":
            return []
        if method == "getChat":
            chat_id = _norm_chat(params.get("chat_id")) or 0
            return {
                "id": chat_id,
                "type": _chat_type(chat_id),
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": True,
                    "limited_gifts": True,
                    "unique_gifts": True,
                    "premium_subscription": True,
                    "gifts_from_channels": True,
                },
            }
        if method == "getChatMember":
            user_id = int(params.get("user_id") or 0)
            return {
                "status": "member",
                "user": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
            }
        if method == "getChatMemberCount":
            return 2
        if method == "getChatAdministrators":
            return []
        return True

    # ----------------------------------------------------------------------------- sends and edits

    def _deliver(self, token: str, bot_id: int, method: str, params: dict[str, Any], files: dict[str, Any]) -> Any:
        chat_id = _norm_chat(params.get("chat_id"))
        inline = "inline_message_id" in params
        if chat_id is None and not inline:
            raise ApiError(400, "Bad Request: chat_id is empty")
        if chat_id is not None and chat_id in self.config.blocked:
            if isinstance(chat_id, int) and chat_id > 0:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            raise ApiError(403, f"Forbidden: bot was kicked from the {_chat_type(chat_id)} chat")
        content = self._content(method, params)
        sending = is_send(method)
        if sending and self.config.limits and chat_id is not None:
            limiter = self.limiters.setdefault(token, RateLimiter())
            retry_after = limiter.acquire(chat_id, time.monotonic())
            if retry_after:
                self.stats["rate_limited"] += 1
                raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        if self.config.fail_rate_500 > 0 and self.random.random() < self.config.fail_rate_500:
            self.stats["server_errors"] += 1
            raise ApiError(500, "Internal Server Error")
        if inline:
            return True
        assert chat_id is not None
        if method.startswith("editMessage"):
            return self._edit(bot_id, chat_id, params, content)
        result = self._new_messages(bot_id, chat_id, method, params, files, content)
        first = result[0] if isinstance(result, list) else result
        message_id = first["message_id"]
        self.sent.append(
            {
                "method": method,
                "chat_id": chat_id,
                "text": params.get("text") or params.get("caption") or _album_caption(params),
                "time": time.time(),
                "message_id": message_id,
                "params": params,
                "files": files,
            }
        )
        self.stats["sends"] += 1
        self._wake(self._sent_waiters)
        if method in ("copyMessage",):
            return {"message_id": message_id}
        if method in ("copyMessages", "forwardMessages"):
            return [{"message_id": message_id}]
        return result

    def _content(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Validate text/caption/markup as Telegram does and return the message content."""
        content: dict[str, Any] = {}
        html = str(params.get("parse_mode") or "").lower() == "html"
        if method in ("sendMessage", "editMessageText"):
            text, entities = _parse(str(params.get("text") or ""), html and "entities" not in params)
            if not text.strip():
                raise ApiError(400, "Bad Request: message text is empty")
            if utf16_len(text) > TEXT_LIMIT:
                raise ApiError(400, "Bad Request: message is too long")
            content["text"] = text
            if entities:
                content["entities"] = entities
        captions = [params] if "caption" in params else []
        media = params.get("media")
        if method == "sendMediaGroup":
            if not isinstance(media, list) or not 2 <= len(media) <= 10:
                raise ApiError(400, "Bad Request: wrong number of media in the album: must be 2-10 items")
            if "reply_markup" in params:
                raise ApiError(400, "Bad Request: reply markup is not allowed for media groups")
            captions = [item for item in media if isinstance(item, dict) and item.get("caption")]
        for holder in captions:
            item_html = str(holder.get("parse_mode") or params.get("parse_mode") or "").lower() == "html"
            caption, entities = _parse(str(holder.get("caption") or ""), item_html and "caption_entities" not in holder)
            if utf16_len(caption) > CAPTION_LIMIT:
                raise ApiError(400, "Bad Request: message caption is too long")
            if holder is params and caption:
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard") or []:
                for button in row:
                    data = button.get("callback_data") if isinstance(button, dict) else None
                    if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if markup.get("inline_keyboard"):
                content["reply_markup"] = markup
        return content

    def _message(
        self, bot_id: int, chat_id: int | str, params: dict[str, Any], content: dict[str, Any]
    ) -> dict[str, Any]:
        message_id = self.message_ids.get(chat_id, 0) + 1
        self.message_ids[chat_id] = message_id
        chat: dict[str, Any] = {
            "id": chat_id if isinstance(chat_id, int) else -1,
            "type": _chat_type(chat_id),
        }
        if chat["type"] != "private":
            chat["title"] = f"Chat {chat_id}"
        message: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "chat": chat}
        if chat["type"] == "channel":
            message["sender_chat"] = chat
        else:
            message["from"] = self._bot_user(bot_id)
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
        message.update(content)
        self.messages[(chat_id, message_id)] = message
        if len(self.messages) > _STORE_LIMIT:
            self.messages.popitem(last=False)
        return message

    def _new_messages(
        self,
        bot_id: int,
        chat_id: int | str,
        method: str,
        params: dict[str, Any],
        files: dict[str, Any],
        content: dict[str, Any],
    ) -> Any:
        kind = MEDIA_METHODS.get(method)
        if kind is not None:
            content.update(self._media(kind, params.get(kind), files))
        elif method in ("sendLocation", "sendVenue"):
            location = {"latitude": params.get("latitude", 0.0), "longitude": params.get("longitude", 0.0)}
            content["location"] = location
            if method == "sendVenue":
                content["venue"] = {
                    "location": location,
                    "title": params.get("title", ""),
                    "address": params.get("address", ""),
                }
        elif method == "sendContact":
            content["contact"] = {
                "phone_number": str(params.get("phone_number", "")),
                "first_name": str(params.get("first_name", "")),
            }
        elif method == "sendDice":
            content["dice"] = {"emoji": params.get("emoji", "🎲"), "value": 1}
        elif method == "sendMediaGroup":
            group_id = f"album-{next(self._file_seq)}"
            messages = []
            for item in params.get("media") or []:
                item_content = self._media(str(item.get("type")), item.get("media"), files)
                if item.get("caption"):
                    item_content["caption"] = _parse(str(item["caption"]), False)[0]
                item_content["media_group_id"] = group_id
                messages.append(self._message(bot_id, chat_id, params, item_content))
            return messages
        return self._message(bot_id, chat_id, params, content)

    def _media(self, kind: str, value: Any, files: dict[str, Any]) -> dict[str, Any]:
        upload = None
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
        elif value is None:  # aiogram may post the file under the field name itself
            upload = files.get(kind)
        if upload is not None or not isinstance(value, str) or value.startswith("http"):
            file_id = f"srv-{kind}-{next(self._file_seq)}"
        else:
            file_id = value
        size = upload["size"] if upload else 1000
        name = upload["filename"] if upload else None
        return media_content(kind, file_id, size=size, file_name=name)

    def _edit(self, bot_id: int, chat_id: int | str, params: dict[str, Any], content: dict[str, Any]) -> Any:
        message_id = int(params.get("message_id") or 0)
        message = self.messages.get((chat_id, message_id))
        if message is None:
            chat = {"id": chat_id if isinstance(chat_id, int) else -1, "type": _chat_type(chat_id)}
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": chat,
                "from": self._bot_user(bot_id),
            }
        message = {k: v for k, v in message.items() if k != "reply_markup"}
        message.update(content)
        message["edit_date"] = int(time.time())
        self.messages[(chat_id, message_id)] = message
        return message

    # ----------------------------------------------------------------------------- polling

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(409, _CONFLICT_WEBHOOK)
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(a) for a in allowed]
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]
        self.poll_generation += 1
        generation = self.poll_generation
        self._wake(self._waiters)  # an older long poll is terminated with 409
        deadline = time.monotonic() + timeout
        while True:
            if self.allowed_updates:
                self.updates = [u for u in self.updates if _update_type(u) in self.allowed_updates]
            if self.updates or self.closing:
                return self.updates[:limit]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return []
            finally:
                self._waiters.discard(event)
            if self.poll_generation != generation:
                raise ApiError(409, _CONFLICT_POLL)


def _album_caption(params: dict[str, Any]) -> str | None:
    for item in params.get("media") or []:
        if isinstance(item, dict) and item.get("caption"):
            return str(item["caption"])
    return None


def _parse(text: str, html: bool) -> tuple[str, list[dict[str, Any]]]:
    if not html:
        return text, []
    try:
        return parse_html(text)
    except HtmlError as error:
        raise ApiError(400, f"Bad Request: can't parse entities: {error}") from error


def file_bytes(path: str) -> bytes:
    """Deterministic content served for a file path."""
    return f"fake-bytes-of-{path.rsplit('/', 1)[-1]}".encode()


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

_STATE: web.AppKey[BotApiState] = web.AppKey("state", BotApiState)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


def _coerce(key: str, value: str) -> Any:
    if value[:1] in ("{", "[") or (value[:1] == '"' and value[-1:] == '"'):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    if key in _INT_FIELDS:
        with contextlib.suppress(ValueError):
            return int(value) if re.fullmatch(r"-?\d+", value) else float(value)
    return value


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
    params: dict[str, Any] = {k: _coerce(k, v) for k, v in request.query.items()}
    files: dict[str, Any] = {}
    if request.method != "POST" or not request.body_exists:
        return params, files
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            data = value.file.read()
            files[key] = {"filename": value.filename, "size": len(data)}
        else:
            params[key] = _coerce(key, str(value))
    return params, files


async def _api(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    try:
        params, files = await _read_params(request)
    except (ValueError, UnicodeDecodeError):
        return _json(ApiError(400, "Bad Request: can't parse request body").payload(), 400)
    try:
        result = await state.call(request.match_info["token"], request.match_info["method"], params, files)
    except ApiError as error:
        errors = state.stats["errors"]
        errors[str(error.code)] = errors.get(str(error.code), 0) + 1
        return _json(error.payload(), error.code)
    return _json({"ok": True, "result": result})


async def _file(request: web.Request) -> web.Response:
    return web.Response(body=file_bytes(request.match_info["path"]), content_type="application/octet-stream")


async def _control_updates(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    if request.method == "GET":
        return _json(state.updates)
    body = await request.json()
    ids = state.queue_updates(body if isinstance(body, list) else [body])
    return _json({"ok": True, "update_ids": ids})


async def _control_sent(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    since = int(request.query.get("since", "0"))
    return _json(state.sent[since:])


async def _control_stats(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    return _json(dict(state.stats, pending_updates=len(state.updates), sent=len(state.sent)))


async def _control_reset(request: web.Request) -> web.Response:
    request.app[_STATE].reset()
    return _json({"ok": True})


async def _control_config(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    if request.method == "GET":
        return _json(state.config.as_dict())
    body = await request.json()
    return _json(state.configure(**body))


async def _control_wait(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    count = int(request.query.get("sent", "1"))
    timeout = float(request.query.get("timeout", "5"))
    ok = await state.wait_sent(count, timeout)
    return _json({"ok": ok, "sent": len(state.sent)})


def create_app(state: BotApiState) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[_STATE] = state
    app.router.add_route("*", "/bot{token}/{method}", _api)
    app.router.add_get("/file/bot{token}/{path:.+}", _file)
    app.router.add_route("*", "/_control/updates", _control_updates)
    app.router.add_get("/_control/sent", _control_sent)
    app.router.add_get("/_control/stats", _control_stats)
    app.router.add_post("/_control/reset", _control_reset)
    app.router.add_route("*", "/_control/config", _control_config)
    app.router.add_get("/_control/wait", _control_wait)

    async def on_shutdown(app: web.Application) -> None:
        state.shutdown()

    app.on_shutdown.append(on_shutdown)
    return app


class BotApiStub:
    """The server in the current event loop: ``async with BotApiStub() as stub: stub.url``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: bool = False,
        fail_rate_500: float = 0.0,
        seed: int = 0,
        latency: float = 0.0,
        blocked: Iterable[int | str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self.state = BotApiState(
            Config(limits=limits, fail_rate_500=fail_rate_500, seed=seed, latency=latency, blocked=set(blocked))
        )
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api(self) -> TelegramAPIServer:
        return TelegramAPIServer.from_base(self.url)

    @property
    def sent(self) -> list[dict[str, Any]]:
        return self.state.sent

    @property
    def stats(self) -> dict[str, Any]:
        return self.state.stats

    def queue_update(self, update: Any) -> int:
        """Queue one update (dict or aiogram Update); returns its update_id."""
        return self.queue_updates([update])[0]

    def queue_updates(self, updates: Sequence[Any]) -> list[int]:
        return self.state.queue_updates(_update_dict(u) for u in updates)

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self.state.configure(**changes)

    def reset(self) -> None:
        self.state.reset()

    async def wait_sent(self, count: int, within: float = 5.0) -> bool:
        return await self.state.wait_sent(count, within)

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(create_app(self.state), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self.state.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiStub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _update_dict(update: Any) -> dict[str, Any]:
    if isinstance(update, dict):
        return update
    dumped: dict[str, Any] = update.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


async def _serve(args: argparse.Namespace) -> None:
    stub = BotApiStub(
        host=args.host,
        port=args.port,
        limits=args.limits,
        fail_rate_500=args.fail_rate_500,
        seed=args.seed,
        latency=args.latency,
    )
    await stub.start()
    print(f"READY {stub.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await stub.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Bot API server for tests and benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--limits", action="store_true", help="enforce Telegram's flood limits")
    parser.add_argument("--fail-rate-500", type=float, default=0.0, help="share of sends answered 500")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each answer")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


if __name__ == "__main__":
    main()
