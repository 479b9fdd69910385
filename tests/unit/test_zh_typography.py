"""Chinese screens use Chinese punctuation and words for units (docs/GLOSSARY.md, "Typography"): every
zh_Hans catalogue entry and the literal text of every template are scanned for an ASCII comma, colon,
semicolon, bracket, question or exclamation mark between Chinese characters, and for ASCII units after a
number ("3 h") in Chinese text. Code examples (<code>…</code>) and placeholders are left out: they are what
the person types or a value filled in later."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
HAN = r"[\u4e00-\u9fff]"
RULES = [
    (re.compile(HAN + r"\s*,\s*" + HAN), "an ASCII comma between Chinese words (，or 、)"),
    (re.compile(HAN + r"\s*:\s*" + HAN), "an ASCII colon in Chinese (：)"),
    (re.compile(HAN + r"\s*;\s*" + HAN), "an ASCII semicolon in Chinese (；)"),
    (re.compile(HAN + r"\s*\(|\)\s*" + HAN), "ASCII brackets around Chinese (（）)"),
    (re.compile(HAN + r"[?!]"), "an ASCII question or exclamation mark after Chinese (？！)"),
    (re.compile(r"\d\s*(?:h|hrs?|mins?|d|days?|pcs)\b"), "an ASCII unit after a number (小时、分钟、天)"),
]


def _plain(text: str) -> str:
    text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)
    text = re.sub(r"\{[^{}]*\}|%\([a-z_]+\)[sd]", "X", text)  # placeholders
    return re.sub(r"<[^>]+>", "", text)


def _problems(text: str) -> list[str]:
    plain = _plain(text)
    if not re.search(HAN, plain):
        return []
    return [why for rule, why in RULES if rule.search(plain)]


def test_the_scan_finds_what_it_looks_for() -> None:
    assert _problems("已受理,请等待") and _problems("截止(周五)") and _problems("还剩 3 h 到期")
    assert not _problems("已受理，请等待") and not _problems("请发送 <code>3d, 1d 19:00</code>")
    assert not _problems("Accepted, thanks (Friday)")


def test_every_chinese_catalogue_entry_uses_chinese_punctuation() -> None:
    found = []
    for path in sorted((ROOT / "locales" / "zh_Hans" / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as fh:
            for message in read_po(fh):
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                for text in strings:
                    found += [f"{path.name}: {text[:60]!r}: {why}" for why in _problems(text or "")]
    assert found == []


def test_every_template_uses_chinese_punctuation_in_its_own_text() -> None:
    found = []
    for path in sorted((ROOT / "bot" / "templates").rglob("*.j2")):
        literal = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "X", path.read_text(encoding="utf-8"), flags=re.S)
        found += [f"{path.name}: {why}" for why in _problems(literal)]
    assert found == []
