"""Daily caps: the community setting, the local day, and the one-line refusal in both languages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.i18n import use_locale
from bot.services.limits import (
    ANNOUNCEMENTS,
    ANSWERS,
    INVITES,
    LIMIT_DEFAULTS,
    RELAYS,
    URGENT_REPORTS,
    DailyLimitReached,
    daily_limit,
    day_window,
)
from handlers.errors import limit_text
from models import Community


def test_defaults_and_community_settings() -> None:
    assert LIMIT_DEFAULTS == {URGENT_REPORTS: 5, ANNOUNCEMENTS: 10, INVITES: 50, ANSWERS: 10, RELAYS: 10}
    plain = Community(key="x", code="X", name="X", timezone="Asia/Shanghai", settings={})
    assert daily_limit(plain, URGENT_REPORTS) == 5 and daily_limit(None, INVITES) == 50
    tuned = Community(key="y", code="Y", name="Y", timezone="Asia/Shanghai",
                      settings={"limits": {URGENT_REPORTS: 2, INVITES: 0, ANSWERS: "lots", ANNOUNCEMENTS: -1}})
    assert daily_limit(tuned, URGENT_REPORTS) == 2
    assert daily_limit(tuned, INVITES) == 0  # 0 = no cap
    assert daily_limit(tuned, ANSWERS) == 10 and daily_limit(tuned, ANNOUNCEMENTS) == 10  # malformed → default


def test_the_day_is_the_communitys_local_day() -> None:
    # 23:30 in Shanghai is 15:30 UTC: the day started at 16:00 UTC the day before and ends at 16:00 UTC.
    start, end = day_window(datetime(2026, 11, 20, 15, 30, tzinfo=UTC), "Asia/Shanghai")
    assert start.astimezone(UTC) == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "en", "zh"), [
    (URGENT_REPORTS, "You have sent 5 urgent reports today", "您今天已提交5条紧急上报"),
    (ANNOUNCEMENTS, "You have sent 5 announcements today", "您今天已发布5条通知"),
    (INVITES, "You have made 5 invites today", "您今天已生成5个邀请"),
    (ANSWERS, "You have answered 5 times about this report today", "回答了5次"),
])
def test_refusal_says_the_limit_and_when_it_resets(kind: str, en: str, zh: str) -> None:
    now = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    exc = DailyLimitReached(kind, 5, datetime(2026, 11, 20, 16, 0, tzinfo=UTC), "Asia/Shanghai", now)
    with use_locale("en"):
        text = limit_text(exc)
    assert en in text and "tomorrow 00:00" in text, text
    with use_locale("zh_Hans"):
        text = limit_text(exc)
    assert zh in text and "明天00:00" in text and " " not in text, text
