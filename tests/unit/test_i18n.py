"""Translations: every shipped catalogue complete, every message in the code present in the catalogues
(so nobody can forget `python -m bot.i18n extract PART`), placeholders kept, and the language rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import i18n
from bot.i18n import LOCALES_DIR, SUPPORTED, normalize_locale, translate, untranslated
from bot.services.members import MembersService
from models import Community, Member

# Catalogues whose translations must keep exactly the msgid's placeholders. (Date formats elsewhere
# legitimately swap "{month_name}" for a numeric "{month}" in Chinese.)
STRICT_PARTS = {"settings", "members", "start", "groups", "errors", "onboarding", "common", "commands",
                "throttling"}
PLACEHOLDER = re.compile(r"\{[a-z_]*\}|%\([a-z_]+\)s")
TAG = re.compile(r"</?([a-z-]+)")


def _catalogue(locale: str, part: str) -> dict[str, object]:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{part}.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in read_po(fh) if m.id}


def _all_messages(*, plural: bool = True) -> list[tuple[Path, str, str]]:
    out = []
    for po in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as fh:
            for m in read_po(fh):
                if not m.id:
                    continue
                if isinstance(m.id, tuple | list) and not plural:
                    continue
                ids = m.id if isinstance(m.id, tuple | list) else (m.id,)
                strings = m.string if isinstance(m.string, tuple) else (m.string,)
                out += [(po, ids[0], s) for s in strings if s]
    return out


def test_every_shipped_message_is_translated() -> None:
    assert untranslated() == [], "fill these msgstr (and drop 'fuzzy') in the .po files"


def test_every_message_in_the_code_is_in_the_catalogues() -> None:
    missing = []
    for part, messages in i18n._extract().items():
        for locale in SUPPORTED:
            known = _catalogue(locale, part)
            for singular, _plural in messages:
                if singular not in known:
                    missing.append(f"{locale}/{part}.po: {singular!r}")
    assert missing == [], "run `python -m bot.i18n extract PART` and translate the new messages"


def test_translations_keep_placeholders_and_tags() -> None:
    broken = []
    for po, msgid, msgstr in _all_messages():
        if po.stem in STRICT_PARTS and sorted(PLACEHOLDER.findall(msgid)) != sorted(
                PLACEHOLDER.findall(str(msgstr))):
            broken.append(f"{po.name}: {msgid!r} placeholders differ")
        if sorted(TAG.findall(msgid)) != sorted(TAG.findall(str(msgstr))):
            broken.append(f"{po.name}: {msgid!r} HTML tags differ")
    assert broken == []


def test_compiled_catalogue_is_used() -> None:
    assert translate("zh_Hans", "Which community do you live in?") == "您住在哪个社区？"
    assert translate("en", "Which community do you live in?") == "Which community do you live in?"
    # An unsupported locale falls back to English rather than failing.
    assert translate("fr", "Which area?") == "Which area?"


@pytest.mark.parametrize(("tag", "expected"), [
    ("zh", "zh_Hans"), ("zh-hans", "zh_Hans"), ("zh-Hans", "zh_Hans"), ("zh_Hans", "zh_Hans"),
    ("zh-cn", "zh_Hans"), ("zh-CN", "zh_Hans"), ("zh-sg", "zh_Hans"), ("zh-hant", "zh_Hans"),
    ("zh-tw", "zh_Hans"), ("zh-hk", "zh_Hans"), ("zh-hant-tw", "zh_Hans"),
    ("en", "en"), ("en-US", "en"), ("en-gb", "en"),
    ("fr", None), ("de-DE", None), ("", None), (None, None), ("zhx", None),
])
def test_normalize_locale(tag: str | None, expected: str | None) -> None:
    assert normalize_locale(tag) == expected


def _member(locale: str | None = None, language_code: str | None = None) -> Member:
    return Member(telegram_id=1, first_name="A", locale=locale, language_code=language_code, prefs={})


@pytest.mark.parametrize(("locale", "telegram", "community", "default", "expected"), [
    ("en", "zh-hans", "zh_Hans", "zh_Hans", "en"),  # the explicit choice wins over everything
    ("zh_Hans", "en-US", "en", "en", "zh_Hans"),
    (None, "zh-hans", "en", "en", "zh_Hans"),  # then the Telegram language, if supported
    (None, "zh-hant-tw", "en", "en", "zh_Hans"),
    (None, "en-US", "zh_Hans", "zh_Hans", "en"),
    (None, "fr", "zh_Hans", "en", "zh_Hans"),  # then the community's locale
    (None, None, "zh_Hans", "en", "zh_Hans"),
    (None, "fr", None, "zh_Hans", "zh_Hans"),  # then DEFAULT_LOCALE
    (None, "fr", None, "en", "en"),
    ("xx", "fr", "yy", "en", "en"),  # nonsense stored anywhere is skipped
])
def test_locale_for(locale: str | None, telegram: str | None, community: str | None, default: str,
                    expected: str) -> None:
    members = MembersService(session=None)  # type: ignore[arg-type]  # locale_for needs no database
    place = Community(key="k", code="K", name="K", locale=community) if community else None
    assert members.locale_for(_member(locale, telegram), place, default) == expected


def test_locale_for_nobody() -> None:
    members = MembersService(session=None)  # type: ignore[arg-type]
    assert members.locale_for(None, None, "zh_Hans") == "zh_Hans"
    assert members.locale_for(None, Community(key="k", code="K", name="K", locale="en"), "zh_Hans") == "en"


def test_same_message_same_translation() -> None:
    """The compiled catalogue keeps one translation per message: the same English text translated
    differently in two capabilities' catalogues would make one of them silently lose."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    conflicts = []
    for po, msgid, msgstr in _all_messages(plural=False):
        locale = po.parent.parent.name
        key = (locale, msgid)
        if key in seen and seen[key][1] != msgstr:
            conflicts.append(f"{locale}: {msgid!r}: {seen[key][0]} says {seen[key][1]!r}, {po.name} says {msgstr!r}")
        seen.setdefault(key, (po.name, str(msgstr)))
    assert conflicts == []
