"""Dates and durations the way people say them, in the current language: "Fri 20 Nov" / "11月20日（周五）",
"38 min", "1.5 days". Shared by the digests, campaigns and whoever shows a day."""

from __future__ import annotations

from datetime import date

from bot.i18n import _

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def weekday_name(d: date) -> str:
    names = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
    return names[d.weekday()]


def month_name(d: date) -> str:
    names = (_("Jan"), _("Feb"), _("Mar"), _("Apr"), _("May"), _("Jun"), _("Jul"), _("Aug"), _("Sep"),
             _("Oct"), _("Nov"), _("Dec"))
    return names[d.month - 1]


def day_label(d: date) -> str:
    """"Fri 20 Nov" / "11月20日（周五）"."""
    return _("%(weekday)s %(day)s %(month)s", weekday=weekday_name(d), day=d.day, month=month_name(d),
             month_num=d.month)


def duration(seconds: float) -> str:
    """A duration the way people say it: 38 min, 5 h, 1.5 days."""
    minutes = seconds / 60
    if minutes < 60:
        return _("%(n)s min", n=max(0, round(minutes)))
    hours = minutes / 60
    if hours < 48:
        return _("%(n)s h", n=num(hours))
    days = hours / 24
    return _("%(n)s days", n=str(round(days)) if days >= 7 else num(days))


def num(value: float) -> str:
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else str(rounded)
