"""English counts agree with their nouns ("1 volunteer", "2 volunteers"): a count shown next to a plural
noun is worded with ngettext, in the code and in the templates, and Chinese (one form) reads as before."""

from __future__ import annotations

import re

import pytest

from bot import i18n
from bot.i18n import ngettext, use_locale
from bot.notices.recurrence import offset_label
from bot.rendering import _make_env

UNDERSTAFFED = ("⚠️ The patrol {when}, {route}, has {count} of at least {min} volunteer.",
                "⚠️ The patrol {when}, {route}, has {count} of at least {min} volunteers.")
TOLD = ("❌ Cancelled: {when}, {route}. I've told {n} volunteer.",
        "❌ Cancelled: {when}, {route}. I've told {n} volunteers.")


@pytest.mark.parametrize(("n", "expected"), [(1, "has 0 of at least 1 volunteer."),
                                             (2, "has 0 of at least 2 volunteers.")])
def test_understaffed_patrol_agrees_with_its_minimum(n: int, expected: str) -> None:
    with use_locale("en"):
        text = ngettext(*UNDERSTAFFED, n).format(when="Sat 20:00", route="East gate", count=0, min=n)
    assert text.endswith(expected)


@pytest.mark.parametrize(("n", "expected"), [(1, "I've told 1 volunteer."), (2, "I've told 2 volunteers.")])
def test_told_volunteers(n: int, expected: str) -> None:
    with use_locale("en"):
        assert ngettext(*TOLD, n).format(when="Sat", route="East gate", n=n).endswith(expected)


def test_chinese_reads_as_before_for_every_count() -> None:
    with use_locale("zh_Hans"):
        for n in (1, 2, 5):
            assert ngettext(*UNDERSTAFFED, n) == "⚠️ {when} {route} 的巡逻只有 {count} 人，至少需要 {min} 人。"
            assert ngettext("{n} person", "{n} people", n).format(n=n) == f"{n}人"


def test_fragments_keep_the_old_chinese_sentence() -> None:
    with use_locale("zh_Hans"):
        text = i18n.gettext("✅ {shifts} for the next {weeks}. Shifts that already existed were kept.").format(
            shifts=ngettext("{n} new shift", "{n} new shifts", 1).format(n=1),
            weeks=ngettext("{n} week", "{n} weeks", 1).format(n=1))
    assert text == "✅ 已为未来 1 周新建 1 个班次，原有班次保持不变。"
    with use_locale("en"):
        text = i18n.gettext("✅ {shifts} for the next {weeks}. Shifts that already existed were kept.").format(
            shifts=ngettext("{n} new shift", "{n} new shifts", 1).format(n=1),
            weeks=ngettext("{n} week", "{n} weeks", 4).format(n=4))
    assert text.startswith("✅ 1 new shift for the next 4 weeks.")


def test_a_literal_percent_survives_a_brace_message() -> None:
    msg = ("🗳 {question}: {got} of {all} household has answered ({pct}%)",
           "🗳 {question}: {got} of {all} households have answered ({pct}%)")
    with use_locale("en"):
        assert ngettext(*msg, 1).format(question="Q", got=1, all=1, pct=100) == \
            "🗳 Q: 1 of 1 household has answered (100%)"
        assert ngettext(*msg, 3).format(question="Q", got=1, all=3, pct=33) == \
            "🗳 Q: 1 of 3 households have answered (33%)"


def test_templates_ngettext_takes_the_templates_variables() -> None:
    template = _make_env().from_string(
        '{{ ngettext("%(place)s %(got)s of %(all)s household", "%(place)s %(got)s of %(all)s households", n, '
        'place=place, got=1, all=n) }}')
    with use_locale("en"):
        assert template.render(n=1, place="B1") == "B1 1 of 1 household"
        assert template.render(n=2, place="B<2>") == "B&lt;2&gt; 1 of 2 households"
    with use_locale("zh_Hans"):
        assert template.render(n=1, place="B1") == "B1 1户中已有1户"
        assert template.render(n=2, place="B1") == "B1 2户中已有1户"


def test_reminder_offsets() -> None:
    with use_locale("en"):
        assert offset_label("1d") == "1 day before"
        assert offset_label("3d") == "3 days before"


# ------------------------------------------------------------------------------------------ the scan

NOUNS = ("volunteers|buildings|households|issues|photos|roles|weeks|days|points|hours|items|people|chats|shifts|"
         "responses|findings|times|questions|fixes")
COUNT = r"(?:\{[a-z_]+\}|%\([a-z_]+\)[sd])"
PLURAL_AFTER_COUNT = re.compile(COUNT + r"(?: of (?:at least |all )?" + COUNT + r")?(?: more| new| other| short)? "
                                r"(?:residents' )?(?:" + NOUNS + r")\b")
# Counts that are never 1 where they are shown, each with the reason.
ALLOWED = {
    "{n} days",  # the referral deadlines 3, 7 and 14 days
    "%(n)s days",  # a duration: days only from 48 hours on
    "every {n} weeks on {weekday}",  # an interval of 1 reads "every Saturday"
    "{first} and {n} more buildings",  # only past four buildings
    "That is {days} days; an export here covers at most {limit} days. Please choose a shorter period (the "
    "office can export any period from the command line).",  # longer than the limit, which is a policy
    "Please send between 1 and {max} questions as text, one per line.",  # an upper limit
}


def test_no_singular_only_message_shows_a_count_with_a_plural_noun() -> None:
    offenders = []
    for part, messages in i18n._extract().items():
        for (singular, plural), _files in messages.items():
            if plural or singular in ALLOWED:
                continue
            if "{days} days after delivery" in singular or "for up to {n} people" in singular:
                continue  # the privacy notice's retention and an invite link's limit are settings, never 1
            if PLURAL_AFTER_COUNT.search(singular):
                offenders.append(f"{part}: {singular[:100]!r}")
    assert not offenders, "word these with ngettext(singular, plural, n):\n" + "\n".join(offenders)
