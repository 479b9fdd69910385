"""Recurrence rules and reminder moments: month ends, "2nd Saturday", every 2 weeks, time zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.i18n import use_locale
from bot.notices.recurrence import offset_label, rule_label
from bot.services.recurrence import (
    Rule,
    nth_of,
    parse_hhmm,
    parse_offsets,
    reminder_at,
    to_utc,
)


def test_monthly_second_saturday() -> None:
    rule = Rule("monthly_nth", date(2026, 11, 1), nth=2, weekday=5)
    got = list(rule.dates(date(2026, 11, 20), date(2027, 3, 31)))
    assert got == [date(2026, 12, 12), date(2027, 1, 9), date(2027, 2, 13), date(2027, 3, 13)]
    assert all(d.weekday() == 5 and nth_of(d) == 2 for d in got)


def test_monthly_last_weekday() -> None:
    rule = Rule("monthly_nth", date(2026, 1, 1), nth=-1, weekday=6)
    assert list(rule.dates(date(2026, 1, 1), date(2026, 3, 31))) == [
        date(2026, 1, 25), date(2026, 2, 22), date(2026, 3, 29)]


def test_day_of_month_clamps_to_month_end() -> None:
    rule = Rule("monthly_day", date(2027, 1, 1), day=31)
    assert list(rule.dates(date(2027, 1, 1), date(2027, 4, 30))) == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30)]
    leap = Rule("monthly_day", date(2028, 2, 1), day=30)
    assert list(leap.dates(date(2028, 2, 1), date(2028, 2, 29))) == [date(2028, 2, 29)]


def test_every_two_weeks_keeps_its_anchor() -> None:
    rule = Rule("weekly", date(2026, 11, 21), interval=2)
    assert list(rule.dates(date(2026, 11, 22), date(2026, 12, 31))) == [
        date(2026, 12, 5), date(2026, 12, 19)]
    assert list(rule.dates(date(2026, 11, 1), date(2026, 11, 30))) == [date(2026, 11, 21)]


def test_weekly_and_once_and_until() -> None:
    weekly = Rule("weekly", date(2026, 11, 21), until=date(2026, 12, 5))
    assert list(weekly.dates(date(2026, 11, 1), date(2027, 1, 1))) == [
        date(2026, 11, 21), date(2026, 11, 28), date(2026, 12, 5)]
    once = Rule("once", date(2026, 11, 25))
    assert list(once.dates(date(2026, 11, 20), date(2026, 12, 20))) == [date(2026, 11, 25)]
    assert list(once.dates(date(2026, 11, 26), date(2026, 12, 20))) == []


def test_invalid_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        Rule("monthly_nth", date(2026, 1, 1), nth=5, weekday=1)
    with pytest.raises(ValueError):
        Rule("monthly_day", date(2026, 1, 1), day=32)
    with pytest.raises(ValueError):
        Rule("yearly", date(2026, 1, 1))


def test_reminders_in_shanghai() -> None:
    day = date(2026, 11, 28)  # Saturday, cleaning at 09:00 local (UTC+8, no DST)
    tz = "Asia/Shanghai"
    assert reminder_at("3d", day, 9 * 60, tz) == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert reminder_at("1d@19:00", day, 9 * 60, tz) == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert reminder_at("0d@08:00", day, 9 * 60, tz) == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    assert reminder_at("2h", day, 9 * 60, tz) == datetime(2026, 11, 27, 23, 0, tzinfo=UTC)


def test_reminders_in_london_across_dst() -> None:
    tz = "Europe/London"
    # Clocks go forward on Sunday 29 March 2026: the evening before is GMT, the morning is BST.
    day = date(2026, 3, 29)
    assert to_utc(day, 9 * 60, tz) == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert reminder_at("1d@19:00", day, 9 * 60, tz) == datetime(2026, 3, 28, 19, 0, tzinfo=UTC)
    assert reminder_at("0d@08:00", day, 9 * 60, tz) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    # "3 days before" keeps the local wall-clock time, not 72 hours.
    assert reminder_at("3d", day, 9 * 60, tz) == datetime(2026, 3, 26, 9, 0, tzinfo=UTC)
    # And back in October.
    day = date(2026, 10, 25)
    assert to_utc(day, 9 * 60, tz) == datetime(2026, 10, 25, 9, 0, tzinfo=UTC)
    assert reminder_at("1d@19:00", day, 9 * 60, tz) == datetime(2026, 10, 24, 18, 0, tzinfo=UTC)


def test_parse_offsets_and_times() -> None:
    assert parse_offsets("3d, 1d 19:00, 0d 08:00") == ["3d", "1d@19:00", "0d@08:00"]
    assert parse_offsets("2h；1d@7:30") == ["2h", "1d@07:30"]
    assert parse_offsets("tomorrow") is None
    assert parse_offsets("0d") is None  # "0 days before at the start time" is the start itself
    assert parse_offsets("99d") is None
    assert parse_hhmm("9") == 540 and parse_hhmm("18:30") == 1110 and parse_hhmm("19：00") == 1140
    assert parse_hhmm("25:00") is None and parse_hhmm("nine") is None


def test_labels_in_both_languages() -> None:
    rule = Rule("monthly_nth", date(2026, 12, 1), nth=2, weekday=5)
    with use_locale("en"):
        assert rule_label(rule) == "every 2nd Saturday of the month"
        assert offset_label("1d@19:00") == "the day before at 19:00"
    with use_locale("zh_Hans"):
        assert "第2个" in rule_label(rule) and "周六" in rule_label(rule)
        assert "19:00" in offset_label("1d@19:00")
