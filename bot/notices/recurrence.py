"""Recurrence rules in words, in the current locale: "every 2nd Saturday of the month", "the day before at
19:00", "Sat 28 Nov". The date arithmetic is bot/services/recurrence.py's."""

from __future__ import annotations

from datetime import date

from bot.i18n import _, ngettext
from bot.services.recurrence import Rule


def offset_label(offset: str) -> str:
    """An offset in words, in the current locale."""
    if offset.endswith("h"):
        return _("{n} h before").format(n=int(offset[:-1]))
    days_part, _sep, at = offset.partition("@")
    days = int(days_part.rstrip("d"))
    if not at:
        return ngettext("{n} day before", "{n} days before", days).format(n=days) if days != 1 else _("1 day before")
    if days == 0:
        return _("on the day at {time}").format(time=at)
    if days == 1:
        return _("the day before at {time}").format(time=at)
    return ngettext("{n} day before at {time}", "{n} days before at {time}", days).format(n=days, time=at)


def join_list(items: list[str]) -> str:
    """'a, b, c' / 'a、b、c'."""
    return _(", ").join(items)


def weekday_name(weekday: int) -> str:
    names = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"),
             _("Sunday"))
    return names[weekday]


def weekday_short(weekday: int) -> str:
    names = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
    return names[weekday]


def nth_label(nth: int) -> str:
    labels = {1: _("1st"), 2: _("2nd"), 3: _("3rd"), 4: _("4th"), -1: _("last")}
    return labels[nth]


def date_label(day: date) -> str:
    """'Sat 28 Nov' / '11月28日（周六）'."""
    return _("{weekday} {day} {month}").format(
        weekday=weekday_short(day.weekday()), day=day.day, month=month_short(day.month))


def month_short(month: int) -> str:
    names = (_("Jan"), _("Feb"), _("Mar"), _("Apr"), _("May"), _("Jun"), _("Jul"), _("Aug"), _("Sep"),
             _("Oct"), _("Nov"), _("Dec"))
    return names[month - 1]


def rule_label(rule: Rule) -> str:
    """How often, in words: 'every 2nd Saturday of the month'."""
    if rule.freq == "once":
        return _("once, {date}").format(date=date_label(rule.start))
    if rule.freq == "weekly":
        day = weekday_name(rule.start.weekday())
        if rule.interval == 1:
            return _("every {weekday}").format(weekday=day)
        return _("every {n} weeks on {weekday}").format(n=rule.interval, weekday=day)
    if rule.freq == "monthly_nth":
        assert rule.nth is not None and rule.weekday is not None
        return _("every {nth} {weekday} of the month").format(nth=nth_label(rule.nth),
                                                             weekday=weekday_name(rule.weekday))
    return _("every month on day {day}").format(day=rule.day)


__all__ = ["date_label", "join_list", "month_short", "nth_label", "offset_label", "rule_label", "weekday_name",
           "weekday_short"]
