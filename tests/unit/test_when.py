"""The one reading of times and dates (bot/services/when.py), against a table of real phrasings in both
languages. "Today" is Friday 20 November 2026, the tests' clock day."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.when import Ambiguous, Moment, read_count_range, read_date, read_moment, read_time, read_time_range

TODAY = date(2026, 11, 20)  # a Friday


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def hm(h: int, m: int = 0) -> int:
    return h * 60 + m


TIMES: list[tuple[str, int | None]] = [
    ("9", hm(9)), ("9:30", hm(9, 30)), ("0930", hm(9, 30)), ("930", hm(9, 30)), ("19：00", hm(19)),
    ("１９:００", hm(19)), ("19.30", hm(19, 30)), ("19h30", hm(19, 30)), ("9点", hm(9)), ("9点半", hm(9, 30)),
    ("9点15", hm(9, 15)), ("9点15分", hm(9, 15)), ("九点", hm(9)), ("九点半", hm(9, 30)), ("上午九点", hm(9)),
    ("下午3点", hm(15)), ("下午三点半", hm(15, 30)), ("晚上7点", hm(19)), ("晚上十点", hm(22)), ("中午12点", hm(12)),
    ("中午1点", hm(13)), ("凌晨2点", hm(2)), ("早上8点", hm(8)), ("8点一刻", hm(8, 15)), ("八点三刻", hm(8, 45)),
    ("19点", hm(19)), ("二十点", hm(20)), ("两点", hm(2)), ("晚上12点", hm(0)), ("7pm", hm(19)), ("7 pm", hm(19)),
    ("9am", hm(9)), ("9:30pm", hm(21, 30)), ("12am", hm(0)), ("12pm", hm(12)), ("noon", hm(12)),
    ("midnight", hm(0)), ("7 p.m.", hm(19)),
    ("25:00", None), ("13pm", None), ("9点70", None), ("abc", None), ("", None),
]

DATES: list[tuple[str, str, date | Ambiguous | None]] = [
    ("今天", "zh_Hans", d(11, 20)), ("明天", "zh_Hans", d(11, 21)), ("后天", "zh_Hans", d(11, 22)),
    ("大后天", "zh_Hans", d(11, 23)), ("3天后", "zh_Hans", d(11, 23)), ("三天后", "zh_Hans", d(11, 23)),
    ("周六", "zh_Hans", d(11, 21)), ("星期天", "zh_Hans", d(11, 22)), ("礼拜一", "zh_Hans", d(11, 23)),
    ("本周五", "zh_Hans", d(11, 20)), ("这周日", "zh_Hans", d(11, 22)), ("下周六", "zh_Hans", d(11, 28)),
    ("下个星期三", "zh_Hans", d(11, 25)), ("下下周一", "zh_Hans", d(11, 30)), ("周末", "zh_Hans", d(11, 21)),
    ("12月5日", "zh_Hans", d(12, 5)), ("12月5号", "zh_Hans", d(12, 5)), ("十二月五日", "zh_Hans", d(12, 5)),
    ("十二月五号", "zh_Hans", d(12, 5)), ("1月3日", "zh_Hans", d(1, 3, 2027)), ("5号", "zh_Hans", d(12, 5)),
    ("25号", "zh_Hans", d(11, 25)), ("2026/12/5", "zh_Hans", d(12, 5)), ("2026-12-05", "zh_Hans", d(12, 5)),
    ("2026年12月5日", "zh_Hans", d(12, 5)), ("2026.12.5", "zh_Hans", d(12, 5)), ("12-5", "zh_Hans", d(12, 5)),
    ("12/5", "zh_Hans", d(12, 5)), ("5.12", "zh_Hans", d(5, 12, 2027)), ("１２月５日", "zh_Hans", d(12, 5)),
    ("today", "en", d(11, 20)), ("tomorrow", "en", d(11, 21)), ("the day after tomorrow", "en", d(11, 22)),
    ("in 3 days", "en", d(11, 23)), ("saturday", "en", d(11, 21)), ("Sat", "en", d(11, 21)),
    ("sun", "en", d(11, 22)), ("this friday", "en", d(11, 20)), ("next saturday", "en", d(11, 28)),
    ("Dec 5", "en", d(12, 5)), ("5 Dec", "en", d(12, 5)), ("December 5th", "en", d(12, 5)),
    ("5th of December", "en", d(12, 5)), ("dec 5, 2027", "en", d(12, 5, 2027)), ("12-5", "en", d(12, 5)),
    ("25.12", "en", d(12, 25)), ("12/25", "en", d(12, 25)), ("2026-12-05", "en", d(12, 5)),
    ("5/12", "en", Ambiguous((d(12, 5), d(5, 12, 2027)))), ("5.12", "en", Ambiguous((d(12, 5), d(5, 12, 2027)))),
    ("12/12", "en", d(12, 12)), ("2月30日", "zh_Hans", None), ("someday", "en", None), ("13/13", "en", None),
]

MOMENTS: list[tuple[str, str, Moment | Ambiguous | None]] = [
    ("明天9点", "zh_Hans", Moment(d(11, 21), hm(9))), ("明天上午九点", "zh_Hans", Moment(d(11, 21), hm(9))),
    ("明天下午3:30", "zh_Hans", Moment(d(11, 21), hm(15, 30))),
    ("后天下午3点半", "zh_Hans", Moment(d(11, 22), hm(15, 30))),
    ("12月5号 19:00", "zh_Hans", Moment(d(12, 5), hm(19))), ("12月5日晚上7点", "zh_Hans", Moment(d(12, 5), hm(19))),
    ("下周六 19:00", "zh_Hans", Moment(d(11, 28), hm(19))), ("周六的晚上8点", "zh_Hans", Moment(d(11, 21), hm(20))),
    ("2026-12-05 09:00", "zh_Hans", Moment(d(12, 5), hm(9))), ("5.12", "zh_Hans", Moment(d(5, 12, 2027), None)),
    ("19:30", "zh_Hans", Moment(None, hm(19, 30))), ("明天", "zh_Hans", Moment(d(11, 21), None)),
    ("tomorrow 9am", "en", Moment(d(11, 21), hm(9))), ("tomorrow at 7pm", "en", Moment(d(11, 21), hm(19))),
    ("sat 9am", "en", Moment(d(11, 21), hm(9))), ("Dec 5 18:00", "en", Moment(d(12, 5), hm(18))),
    ("next saturday 10:30", "en", Moment(d(11, 28), hm(10, 30))),
    ("5/12 9am", "en", Ambiguous((d(12, 5), d(5, 12, 2027)), hm(9))),
    ("sometime soon", "en", None),
]

TIME_RANGES: list[tuple[str, tuple[int, int] | None]] = [
    ("22点到7点", (hm(22), hm(7))), ("22:00-07:00", (hm(22), hm(7))), ("22:00至07:00", (hm(22), hm(7))),
    ("晚上10点到早上7点", (hm(22), hm(7))), ("10pm-7am", (hm(22), hm(7))), ("晚上10点到11点", (hm(22), hm(23))),
    ("9-17", (hm(9), hm(17))), ("22~6", (hm(22), hm(6))), ("22 to 7", (hm(22), hm(7))), ("9-9", None),
    ("late", None),
]

COUNTS: list[tuple[str, tuple[int, int] | None]] = [
    ("2到4人", (2, 4)), ("2-4", (2, 4)), ("2~4", (2, 4)), ("2 to 4", (2, 4)), ("两到四人", (2, 4)),
    ("3", (3, 3)), ("3人", (3, 3)), ("２－４", (2, 4)), ("0", None), ("5-3", None), ("60", None), ("many", None),
]


def test_the_table_has_at_least_eighty_phrasings_in_both_languages() -> None:
    phrases = [t for t, _ in TIMES] + [t for t, _, _ in DATES] + [t for t, _, _ in MOMENTS] + \
        [t for t, _ in TIME_RANGES] + [t for t, _ in COUNTS]
    chinese = [p for p in phrases if any("\u4e00" <= ch <= "\u9fff" for ch in p)]
    assert len(phrases) >= 80 and len(chinese) >= 40 and len(phrases) - len(chinese) >= 40


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_times(text: str, expected: int | None) -> None:
    assert read_time(text) == expected


@pytest.mark.parametrize(("text", "locale", "expected"), DATES)
def test_dates(text: str, locale: str, expected: date | Ambiguous | None) -> None:
    assert read_date(text, today=TODAY, locale=locale) == expected


@pytest.mark.parametrize(("text", "locale", "expected"), MOMENTS)
def test_moments(text: str, locale: str, expected: Moment | Ambiguous | None) -> None:
    assert read_moment(text, today=TODAY, locale=locale) == expected


@pytest.mark.parametrize(("text", "expected"), TIME_RANGES)
def test_time_ranges(text: str, expected: tuple[int, int] | None) -> None:
    assert read_time_range(text) == expected


@pytest.mark.parametrize(("text", "expected"), COUNTS)
def test_count_ranges(text: str, expected: tuple[int, int] | None) -> None:
    assert read_count_range(text) == expected


def test_a_past_day_without_a_year_is_next_years_only_when_asking_for_the_future() -> None:
    assert read_date("1月3日", today=TODAY, locale="zh_Hans", future=False) == d(1, 3)
    assert read_date("昨天", today=TODAY, locale="zh_Hans", future=False) == d(11, 19)
