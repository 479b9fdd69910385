"""Telegram HTML rendering: a Jinja2 environment with autoescape on and gettext installed, escaping
helpers, and splitting long messages between whole blocks (never inside a tag)."""

from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from bot import i18n

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
_TAG = re.compile(r"<[^>]+>")


def esc(text: object) -> str:
    """Escape user text for Telegram HTML."""
    return html.escape(str(text), quote=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def plain_len(html_text: str) -> int:
    """Length Telegram counts: UTF-16 units after tags are removed and entities decoded."""
    return utf16_len(html.unescape(_TAG.sub("", html_text)))


def shorten(text: str, limit: int) -> str:
    """Shorten plain text to at most `limit` UTF-16 units, ending with an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    out = []
    used = 0
    for ch in text:
        size = utf16_len(ch)
        if used + size > limit - 1:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + "…"


def split_blocks(blocks: list[str], limit: int = TEXT_LIMIT, sep: str = "\n\n") -> list[str]:
    """Join whole blocks into messages of at most `limit`; a single oversized block is cut at lines."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if not block.strip():
            continue
        pieces = [block] if plain_len(block) <= limit else _split_lines(block, limit)
        for piece in pieces:
            candidate = f"{current}{sep}{piece}" if current else piece
            if plain_len(candidate) <= limit:
                current = candidate
            else:
                if current:
                    messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


_TOKEN = re.compile(r"<[^>]*>|&#?\w+;|[^<&]|[<&]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z][\w-]*)")


class _Chunks:
    """Builds messages from tokens of an oversized block, closing the tags still open at each cut
    and reopening them at the start of the next message, so every message is valid Telegram HTML."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.out: list[str] = []
        self.stack: list[tuple[str, str]] = []  # (name, opening tag as written)
        self.parts: list[str] = []
        self.used = 0

    def room(self) -> int:
        return self.limit - self.used

    def cut(self) -> None:
        text = "".join(self.parts) + "".join(f"</{name}>" for name, _ in reversed(self.stack))
        if html.unescape(_TAG.sub("", text)).strip():  # Telegram refuses an empty message
            self.out.append(text)
        self.parts = [tag for _, tag in self.stack]
        self.used = 0

    def tag(self, token: str) -> None:
        self.parts.append(token)
        match = _TAG_NAME.match(token)
        if not match:
            return
        name = match.group(1).lower()
        if token.startswith("</"):
            for i in range(len(self.stack) - 1, -1, -1):
                if self.stack[i][0] == name:
                    del self.stack[i:]
                    break
        else:
            self.stack.append((name, token))

    def text(self, token: str, size: int) -> None:
        if size > self.room():
            self.cut()
        self.parts.append(token)
        self.used += size

    def line(self, line: str, first: bool) -> None:
        size = plain_len(line) + (0 if first else 1)
        if size > self.room() and self.used:
            self.cut()
            first = True
        if not first:
            self.text("\n", 1)
        for token in _TOKEN.findall(line):
            if token.startswith("<") and len(token) > 1 and token.endswith(">"):
                self.tag(token)
            else:
                self.text(token, utf16_len(html.unescape(token)))

    def done(self) -> list[str]:
        self.cut()
        return self.out


def _split_lines(block: str, limit: int) -> list[str]:
    """Cut an oversized block between lines (inside a line only when the line alone is too long)."""
    chunks = _Chunks(limit)
    for i, line in enumerate(block.split("\n")):
        chunks.line(line, first=i == 0 or chunks.used == 0)
    return chunks.done()


def local_time(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _gettext(message: str, **kwargs: Any) -> str:
    return i18n.gettext(message, **kwargs)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext_text(singular, plural, n)  # Jinja formats it with num= and the template's variables


def _make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("j2", "html"), default_for_string=True, default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["localtime"] = local_time
    env.filters["shorten"] = shorten
    return env


ENV = _make_env()


def render(template: str, locale: str | None = None, **context: Any) -> str:
    """Render a template to Telegram HTML in a locale (the current one when None)."""
    if locale is None:
        return ENV.get_template(template).render(**context).strip()
    with i18n.use_locale(locale):
        return ENV.get_template(template).render(**context).strip()


__all__ = ["CAPTION_LIMIT", "ENV", "TEXT_LIMIT", "Markup", "esc", "local_time", "plain_len", "render",
           "shorten", "split_blocks", "utf16_len"]
