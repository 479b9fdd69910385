"""One reading of times, dates and small ranges as people type them, in Chinese and English.

Every step that asks for a time or a date (deadlines, cleaning days and their times, patrol times, quiet
hours, scheduled announcements, /digest) reads the answer here, so "12月5号" or "下周六 晚上7点" means the
same thing everywhere. Rules only: what was understood comes back as values; the words that say it back
to the person are the presentation layer's.

- Times: 9, 9:30, 0930, 19：00, １９:００, 9点, 9点半, 9点15(分), 九点, 上午九点, 下午3点, 晚上7点, 中午12点,
  凌晨2点, 19点, 7pm, 9am, 9:30pm, noon, midnight, 19h30.
- Dates: 今天/明天/后天/大后天, today/tomorrow, 3天后 / in 3 days, 周六/星期六/礼拜天, 本周五/这周五,
  下周六, saturday, this friday, next saturday, 12月5日 / 12月5号 / 十二月五日, 2026/12/5, 2026-12-05,
  2026年12月5日, 12-5 (month first, as ISO), dec 5 / 5 dec / december 5th.
  "12/5" and "5.12": in Chinese month first (5.12 is 12 May); in English a day-and-month both up to 12
  is asked back (`Ambiguous`) — one rule per community locale, never a silent guess.
- Ranges: 22点到7点, 22:00-07:00, 晚上10点到早上7点, 10pm-7am; counts 2到4人, 2-4, 两到四人, 3.

Chinese numerals (一 … 九十九, 两, 〇) are read by a small converter of our own: the phrases need only
numbers under a hundred, and a dependency (cn2an, dateparser) would bring far more than it reads here
while still not knowing 大后天 or 礼拜天 in our sense.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["Ambiguous", "Moment", "read_count_range", "read_date", "read_moment", "read_time",
           "read_time_range"]


@dataclass(frozen=True)
class Moment:
    """What a phrase said: a day, a time of day (minutes after midnight), or both."""

    day: date | None = None
    minutes: int | None = None


@dataclass(frozen=True)
class Ambiguous:
    """A date that reads two ways ("5/12" in English): ask which, offering these in this order."""

    choices: tuple[date, ...]
    minutes: int | None = None


# --------------------------------------------------------------------------------------- normalising

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十]+")
_WEEKDAY_CN = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_WEEKDAY_EN = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_MONTHS_EN = {m: i + 1 for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}


def _cn_number(s: str) -> int | None:
    """一 → 1, 十 → 10, 十二 → 12, 二十 → 20, 二十三 → 23, 两 → 2, 一二 → 12 (digit by digit)."""
    if "十" not in s:
        if not all(ch in _CN_DIGITS for ch in s):
            return None
        return int("".join(str(_CN_DIGITS[ch]) for ch in s))
    tens, _, ones = s.partition("十")
    if "十" in ones or (tens and tens not in _CN_DIGITS) or (ones and ones not in _CN_DIGITS):
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def _normal(text: str) -> str:
    """Full-width forms to ASCII (１２：００ → 12:00), lower case, one space, Chinese numerals to digits
    — but not the 一 … 日 of a weekday name (周一, 星期天), which are read as weekdays."""
    t = unicodedata.normalize("NFKC", text or "").strip().lower()
    t = t.replace("\u3000", " ").replace("～", "~").replace("—", "-").replace("–", "-").replace("至", "到")
    t = re.sub(r"\s+", " ", t)

    def number(m: re.Match[str]) -> str:
        start = m.start()
        if start > 0 and t[start - 1] in "周期拜" and len(m.group(0)) == 1:
            return m.group(0)  # 周一, 星期三, 礼拜二
        value = _cn_number(m.group(0))
        return m.group(0) if value is None else str(value)

    return _CN_NUMBER.sub(number, t)


# -------------------------------------------------------------------------------------------- times

_PERIOD = r"(?P<period>上午|早上|早晨|清早|早|凌晨|中午|下午|傍晚|晚上|夜里|夜晚|半夜|晚)?"
_TIME_CN = re.compile(_PERIOD + r"\s*(?P<h>\d{1,2})\s*(?:点|點|时|時)\s*"
                      r"(?:(?P<half>半)|(?P<m>\d{1,2})\s*分?|(?P<q>一刻|1刻|3刻|三刻))?$")
_TIME_EN = re.compile(r"(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)$")
_TIME_PLAIN = re.compile(_PERIOD + r"\s*(?P<h>\d{1,2})(?:[:.h](?P<m>\d{2})?)?$")
_TIME_4 = re.compile(r"(?P<h>\d{1,2})(?P<m>\d{2})$")
_AFTERNOON = {"下午", "傍晚", "晚上", "夜里", "夜晚", "晚", "半夜"}


def _with_period(period: str | None, h: int, m: int) -> int | None:
    if period in _AFTERNOON:
        if period == "半夜" and h == 12:
            h = 0
        elif h == 12 and period in ("晚上", "夜里", "夜晚", "晚"):
            h = 0  # 晚上12点 is midnight
        elif h < 12:
            h += 12
    elif period == "中午" and h < 11:
        h += 12  # 中午1点 is 13:00
    elif period in ("凌晨", "上午", "早上", "早晨", "清早", "早") and h == 12:
        h = 0 if period == "凌晨" else 12
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return h * 60 + m


def _time(t: str) -> int | None:
    t = t.strip().replace(" ", "")
    if t in ("noon", "中午", "正午"):
        return 12 * 60
    if t in ("midnight", "午夜", "半夜12点"):
        return 0
    if m := _TIME_CN.match(t):
        minutes = 30 if m["half"] else 15 if m["q"] in ("一刻", "1刻") else 45 if m["q"] else int(m["m"] or 0)
        return _with_period(m["period"], int(m["h"]), minutes)
    if m := _TIME_EN.match(t):
        h, mi = int(m["h"]), int(m["m"] or 0)
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if m["ampm"].startswith("p") else 0)
        return _with_period(None, h, mi)
    if m := _TIME_PLAIN.match(t):
        return _with_period(m["period"], int(m["h"]), int(m["m"] or 0))
    if m := _TIME_4.match(t):
        return _with_period(None, int(m["h"]), int(m["m"]))
    return None


def read_time(text: str) -> int | None:
    """Minutes after midnight of a typed time of day, or None when it is not one."""
    return _time(_normal(text))


# -------------------------------------------------------------------------------------------- dates

_WEEKDAY = re.compile(r"(?P<which>下下个?|下个?|本|这个?|上个?)?\s*(?:周|星期|礼拜)(?P<d>[一二三四五六日天末])$")
_WEEKDAY_EN_RE = re.compile(r"(?P<which>this|next|coming)?\s*(?P<d>mon|tue|wed|thu|fri|sat|sun)[a-z]*$")
_IN_DAYS = re.compile(r"(?:(?P<n1>\d{1,3})\s*天(?:以?后|之后)|in\s+(?P<n2>\d{1,3})\s+days?)$")
_YMD = re.compile(r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?$")
_MD_CN = re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]?$")
_D_CN = re.compile(r"(?P<d>\d{1,2})\s*[日号]$")
_MD_DASH = re.compile(r"(?P<m>\d{1,2})-(?P<d>\d{1,2})$")
_TWO = re.compile(r"(?P<a>\d{1,2})\s*[/.]\s*(?P<b>\d{1,2})(?:\s*[/.]\s*(?P<y>\d{4}))?$")
_MON_D = re.compile(r"(?P<mon>[a-z]{3})[a-z]*\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:,?\s*(?P<y>\d{4}))?$")
_D_MON = re.compile(r"(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>[a-z]{3})[a-z]*\.?(?:,?\s*(?P<y>\d{4}))?$")
_RELATIVE = {"今天": 0, "今日": 0, "today": 0, "明天": 1, "明日": 1, "tomorrow": 1, "后天": 2,
             "the day after tomorrow": 2, "day after tomorrow": 2, "大后天": 3, "昨天": -1, "yesterday": -1,
             "前天": -2}


def _ahead(day: date, today: date, future: bool) -> date:
    """A day given without a year: this year, or next year when that is already past (for the future)."""
    if future and day < today:
        try:
            return day.replace(year=day.year + 1)
        except ValueError:  # 29 February
            return day
    return day


def _make(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _date(t: str, today: date, locale: str, future: bool) -> date | Ambiguous | None:
    t = t.strip()
    if t in _RELATIVE:
        return today + timedelta(days=_RELATIVE[t])
    if m := _IN_DAYS.match(t):
        return today + timedelta(days=int(m["n1"] or m["n2"]))
    if m := _WEEKDAY.match(t):
        target, which = _WEEKDAY_CN[m["d"]], m["which"] or ""
        monday = today - timedelta(days=today.weekday())
        if which.startswith("下下"):
            return monday + timedelta(days=14 + target)
        if which.startswith("下"):
            return monday + timedelta(days=7 + target)
        if which.startswith("上"):
            return monday + timedelta(days=target - 7)
        if which.startswith(("本", "这")):
            return monday + timedelta(days=target)
        return today + timedelta(days=(target - today.weekday()) % 7)
    if m := _WEEKDAY_EN_RE.match(t):
        target = _WEEKDAY_EN[m["d"]]
        if m["which"] == "next":
            return today - timedelta(days=today.weekday()) + timedelta(days=7 + target)
        if m["which"] == "this":
            return today - timedelta(days=today.weekday()) + timedelta(days=target)
        return today + timedelta(days=(target - today.weekday()) % 7)
    if m := _YMD.match(t):
        return _make(int(m["y"]), int(m["m"]), int(m["d"]))
    if m := _MD_CN.match(t):
        d = _make(today.year, int(m["m"]), int(m["d"]))
        return _ahead(d, today, future) if d else None
    if m := _D_CN.match(t):  # "5号": the 5th of this month, or of the next one when it has passed
        d = _make(today.year, today.month, int(m["d"]))
        if d and future and d < today:
            nxt = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
            d = _make(nxt.year, nxt.month, int(m["d"]))
        return d
    if m := _MD_DASH.match(t):
        d = _make(today.year, int(m["m"]), int(m["d"]))
        return _ahead(d, today, future) if d else None
    if m := (_MON_D.match(t) or _D_MON.match(t)):
        month = _MONTHS_EN.get(m["mon"])
        if month is None:
            return None
        d = _make(int(m["y"]) if m["y"] else today.year, month, int(m["d"]))
        return d if d is None or m["y"] else _ahead(d, today, future)
    if m := _TWO.match(t):
        a, b = int(m["a"]), int(m["b"])
        year = int(m["y"]) if m["y"] else today.year

        def pick(month: int, day: int) -> date | None:
            d = _make(year, month, day)
            return d if d is None or m["y"] else _ahead(d, today, future)

        if locale.startswith("zh"):
            return pick(a, b)  # 12/5 and 5.12 are month first in Chinese
        month_first, day_first = pick(a, b), pick(b, a)
        if month_first and day_first and month_first != day_first:
            return Ambiguous((day_first, month_first))
        return month_first or day_first
    return None


def read_date(text: str, *, today: date, locale: str = "en", future: bool = True) -> date | Ambiguous | None:
    """A typed day; `future`: a day without a year that has passed means next year's."""
    return _date(_normal(text), today, locale, future)


# ------------------------------------------------------------------------------------ both together

_PERIODS = r"(?:上午|早上|早晨|清早|早|凌晨|中午|下午|傍晚|晚上|夜里|夜晚|半夜|晚)?"
_SPLIT_TIME = re.compile(
    r"^(?P<date>.*?)\s*(?P<time>" + _PERIODS
    + r"\s*(?:\d{1,2}\s*(?:点|點|时|時)\s*(?:半|\d{1,2}\s*分?|一刻|1刻|3刻|三刻)?|\d{1,2}:\d{2})"
    r"|\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|noon|midnight|中午|正午)$")
_DOTTED = re.compile(r"\d{1,2}\.\d{1,2}$")


def read_moment(text: str, *, today: date, locale: str = "en", future: bool = True) -> Moment | Ambiguous | None:
    """A day, a time, or a day and a time ("明天上午9点", "12月5号 19:00", "sat 9am", "tomorrow at 7pm")."""
    t = _normal(text)
    t = re.sub(r"\s+(?:at|@)\s+", " ", t).replace("的", "")
    # "5.12" is a day here (a time says "5:12"); as a time of day alone it is read_time's to decide.
    minutes = None if _DOTTED.match(t) and _date(t, today, locale, future) is not None else _time(t)
    if minutes is not None:
        return Moment(None, minutes)
    day = _date(t, today, locale, future)
    if day is not None:
        return day if isinstance(day, Ambiguous) else Moment(day, None)
    if m := _SPLIT_TIME.match(t):
        minutes = _time(m["time"])
        rest = m["date"].strip().rstrip(",")
        if minutes is not None and rest:
            day = _date(rest, today, locale, future)
            if isinstance(day, Ambiguous):
                return Ambiguous(day.choices, minutes)
            if day is not None:
                return Moment(day, minutes)
    return None


# ------------------------------------------------------------------------------------------- ranges

_RANGE = re.compile(r"^(?P<a>.+?)\s*(?:到|~|-|to|until|till)\s*(?P<b>.+)$")


def read_time_range(text: str) -> tuple[int, int] | None:
    """(start, end) minutes of "22点到7点", "22:00-07:00", "晚上10点到早上7点", "10pm-7am"; the end may be
    earlier than the start (it runs past midnight). A bare end hour takes the start's half of the day
    when that keeps the range short ("晚上10点到11点" is 22:00–23:00)."""
    t = _normal(text).replace(" ", "")
    m = _RANGE.match(t)
    if not m:
        return None
    start, end = _time(m["a"]), _time(m["b"])
    if start is None or end is None or start == end:
        return None
    period = re.match(r"(上午|早上|凌晨|中午|下午|傍晚|晚上|夜里|晚)", m["a"])
    if period and not re.match(r"\D", m["b"]) and end < start and end + 12 * 60 > start and end < 12 * 60:
        end += 12 * 60
    return start, end


def read_count_range(text: str, *, most: int = 50) -> tuple[int, int] | None:
    """(low, high) of "2到4人", "2-4", "2~4", "2 to 4", "两到四人", "3", "3人"; 1 ≤ low ≤ high ≤ most."""
    t = _normal(text).replace(" ", "").rstrip("人位名个")
    m = _RANGE.match(t)
    parts = [m["a"].rstrip("人位名个"), m["b"]] if m else [t]
    if not all(p.isdigit() for p in parts):
        return None
    low, high = int(parts[0]), int(parts[-1])
    if not 1 <= low <= high <= most:
        return None
    return low, high
