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


def _split_lines(block: str, limit: int) -> list[str]:
    out: list[str] = []
    current = ""
    for line in block.split("\n"):
        if plain_len(line) > limit:
            line = esc(shorten(html.unescape(_TAG.sub("", line)), limit))
        candidate = f"{current}\n{line}" if current else line
        if plain_len(candidate) <= limit:
            current = candidate
        else:
            out.append(current)
            current = line
    if current:
        out.append(current)
    return out


def local_time(value: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


def _gettext(message: str, **kwargs: Any) -> str:
    return i18n.gettext(message, **kwargs)


def _ngettext(singular: str, plural: str, n: int, **kwargs: Any) -> str:
    return i18n.ngettext(singular, plural, n, **kwargs)


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
