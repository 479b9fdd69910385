"""Translations: gettext catalogues under locales/, a context-local current locale, locale mapping.

Kept free of aiogram so that services can render a notification in its recipient's language.
Catalogues are split per capability (`locales/<lang>/LC_MESSAGES/<capability>.po`, the capability
being the module name shared by its handler, service, keyboard and templates) and merged into one
`messages.mo` per language when compiled. A new language is one folder of .po files.

    python -m bot.i18n extract [PART]  # refresh the .po files from the sources (keeps translations)
    python -m bot.i18n compile   # build messages.mo for every language
    python -m bot.i18n check     # list untranslated or fuzzy messages (exit 1 if any)
"""

from __future__ import annotations

import gettext as _gettext
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from bot.locales import SUPPORTED as SUPPORTED  # re-exported: callers import it from here
from bot.locales import normalize_locale as normalize_locale

ROOT = Path(__file__).resolve().parent.parent
LOCALES_DIR = ROOT / "locales"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("locale", default="en")
_translations: dict[str, _gettext.NullTranslations] = {}


def _load(locale: str) -> _gettext.NullTranslations:
    if locale not in _translations:
        mo = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo.exists():
            with mo.open("rb") as fh:
                _translations[locale] = _gettext.GNUTranslations(fh)
        else:
            _translations[locale] = _gettext.NullTranslations()
    return _translations[locale]


def reload() -> None:
    _translations.clear()


def current_locale() -> str:
    return _current.get()


def set_locale(locale: str) -> None:
    _current.set(locale if locale in SUPPORTED else "en")


@contextmanager
def use_locale(locale: str | None) -> Iterator[None]:
    token = _current.set(locale if locale in SUPPORTED else "en")
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str, **kwargs: Any) -> str:
    text = _load(_current.get()).gettext(message)
    return text % kwargs if kwargs else text


def ngettext_text(singular: str, plural: str, n: int) -> str:
    """The translated singular or plural, unformatted (Jinja's newstyle ngettext formats it itself)."""
    return _load(_current.get()).ngettext(singular, plural, n)


def ngettext(singular: str, plural: str, n: int, /, **kwargs: Any) -> str:
    text = _load(_current.get()).ngettext(singular, plural, n)
    # %-style messages take the count as %(num)s; str.format-style ones ("{n} volunteers") are formatted by
    # the caller and may hold a literal "%" ("({pct}%)"), so they are returned as they are.
    return text % {"num": n, **kwargs} if "%(" in text else text


class LazyString:
    """A message translated when it is shown, in the locale current at that moment."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def __str__(self) -> str:
        return gettext(self.message)

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"LazyString({self.message!r})"


def lazy_gettext(message: str) -> LazyString:
    return LazyString(message)


_ = gettext
__ = lazy_gettext


def translate(locale: str | None, message: str, **kwargs: Any) -> str:
    with use_locale(locale):
        return gettext(message, **kwargs)


# ---------------------------------------------------------------------------- catalogue tooling

KEYWORDS = {"_": None, "gettext": None, "__": None, "lazy_gettext": None, "ngettext": (1, 2),
            "translate": (2,)}
SOURCE_GLOBS = ("bot/**/*.py", "handlers/**/*.py", "main.py")
TEMPLATE_GLOB = "bot/templates/**/*.j2"
# Folders whose modules (or packages) are named after a capability.


def _part_for(path: Path) -> str:
    """The catalogue a source file's messages belong to: its capability's name (a capability split into a
    package, e.g. handlers/patrols/duty.py or bot/services/patrols/timing.py, is the package's name)."""
    name = path.name.split(".")[0]
    if path.suffix == ".j2":
        name = name.split("_")[0]
    parts = path.relative_to(ROOT).parts if path.is_relative_to(ROOT) else path.parts
    if len(parts) == 3 and parts[0] == "handlers":
        name = parts[1]
    elif len(parts) == 4 and parts[0] == "bot" and parts[1] in ("services", "notices", "keyboards"):
        name = parts[2]
    return "common" if name in {"__init__", "main", "app", "config"} else name


def _extract() -> dict[str, dict[tuple[str, str | None], list[str]]]:
    from babel.messages.extract import extract_from_file

    parts: dict[str, dict[tuple[str, str | None], list[str]]] = {}
    files = [p for g in SOURCE_GLOBS for p in sorted(ROOT.glob(g)) if "migrations" not in p.parts]
    for path in files:
        for _lineno, msg, _comments, _ctx in extract_from_file("python", str(path), keywords=KEYWORDS):
            _add(parts, path, msg)
    for path in sorted(ROOT.glob(TEMPLATE_GLOB)):
        for _lineno, msg, _comments, _ctx in extract_from_file(
            "jinja2.ext:babel_extract", str(path), keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
            options={"extensions": "jinja2.ext.i18n", "trimmed": "true"},
        ):
            _add(parts, path, msg)
    return parts


def _add(parts: dict[str, dict[tuple[str, str | None], list[str]]], path: Path, msg: object) -> None:
    if isinstance(msg, tuple):
        key: tuple[str, str | None] = (msg[0], msg[1] if len(msg) > 1 else None)
    else:
        key = (str(msg), None)
    if not key[0]:
        return
    parts.setdefault(_part_for(path), {}).setdefault(key, []).append(str(path.relative_to(ROOT)))


def extract(only: str | None = None) -> None:
    """Refresh the .po files from the sources; `only` limits it to one capability's catalogue."""
    from babel.messages.catalog import Catalog, Message
    from babel.messages.pofile import read_po, write_po

    parts = _extract()
    for locale in SUPPORTED:
        folder = LOCALES_DIR / locale / "LC_MESSAGES"
        folder.mkdir(parents=True, exist_ok=True)
        if only is None:
            for stale in folder.glob("*.po"):
                if stale.stem not in parts:
                    stale.unlink()
        for part, messages in parts.items():
            if only is not None and part != only:
                continue
            po = folder / f"{part}.po"
            existing: dict[str, Message] = {}
            if po.exists():
                with po.open("rb") as fh:
                    for m in read_po(fh, locale=locale):
                        if m.id:
                            existing[m.id if isinstance(m.id, str) else m.id[0]] = m
            catalog = Catalog(locale=locale, domain=part, project="neighbourhood-bot")
            for (singular, plural), _files in sorted(messages.items()):
                known = existing.get(singular)
                mid: Any = (singular, plural) if plural else singular
                if known is not None and known.string and not known.fuzzy:
                    string = known.string
                elif locale == "en":
                    string = (singular, plural) if plural else singular
                else:
                    string = ("", "") if plural else ""
                if plural and isinstance(string, str):
                    string = (string, string)
                if not plural and isinstance(string, tuple):
                    string = string[0]
                catalog.add(mid, string=string)
            with po.open("wb") as fh:
                write_po(fh, catalog, omit_header=False, sort_output=True, width=100, include_lineno=False)


def compile_all() -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for locale in SUPPORTED:
        folder = LOCALES_DIR / locale / "LC_MESSAGES"
        merged = Catalog(locale=locale, domain=DOMAIN)
        for po in sorted(folder.glob("*.po")):
            with po.open("rb") as fh:
                for m in read_po(fh, locale=locale):
                    if m.id and m.string and not m.fuzzy and m.id not in merged:
                        merged.add(m.id, string=m.string)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{DOMAIN}.mo").open("wb") as fh:
            write_mo(fh, merged)
    reload()


def untranslated() -> list[str]:
    from babel.messages.pofile import read_po

    problems: list[str] = []
    for po in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as fh:
            for m in read_po(fh):
                if not m.id:
                    continue
                strings = m.string if isinstance(m.string, tuple) else (m.string,)
                if m.fuzzy or not all(strings):
                    mid = m.id if isinstance(m.id, str) else m.id[0]
                    problems.append(f"{po.relative_to(ROOT)}: {mid!r}")
    return problems


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "compile"
    if command == "extract":
        extract(argv[1] if len(argv) > 1 else None)
        return 0
    if command == "compile":
        compile_all()
        return 0
    if command == "check":
        problems = untranslated()
        print("\n".join(problems) or "all messages translated")
        return 1 if problems else 0
    print("usage: python -m bot.i18n extract|compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
