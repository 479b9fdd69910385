"""The desk's text search on PostgreSQL looks for its page among the first issues of the sort order before
asking the trigram index (WebService._window_first): the rows shown must be exactly the full query's, on
every page, whether the window holds the page (a common word) or not (a rare word, a late page)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import bot.services.web as web
from bot.clock import FrozenClock
from bot.services.ledger import Scope
from bot.services.web import LedgerFilter, WebService
from models import Community
from tests.unit.test_triage_support import make_issue


async def _ledger(session: AsyncSession, clock: FrozenClock, community: Community, **kw: Any) -> list[str]:
    page = await WebService(session, clock).ledger(Scope(community.id, None, community.name), LedgerFilter(**kw))
    return [r.reference for r in page.rows] + (["(next)"] if page.has_next else [])


async def test_a_common_word_is_found_in_the_window_with_the_same_rows(
        session: AsyncSession, clock: FrozenClock, community: Community, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(130):
        words = "Bikes block the FIRE LANE again" if i % 2 else "Lamp out by the gate"
        await make_issue(session, community, clock() - timedelta(hours=i), description=words,
                         category="lighting" if i % 3 else "fire_lane", card=False)
    await session.commit()
    cases: list[dict[str, Any]] = [{"text": "fire lane"}, {"text": "fire lane", "page": 2},
                                   {"text": "fire lane", "sort": "created"}, {"text": "lamp", "category": "lighting"},
                                   {"text": "no such words"}]
    monkeypatch.setattr(web, "WINDOW_PAGES", 0)  # the index only: what the page must show
    expected = [await _ledger(session, clock, community, **kw) for kw in cases]
    assert expected[0][:2] == ["NC0002", "NC0004"] and expected[0][-1] == "(next)"
    assert len(expected[1]) == 15 and expected[4] == []
    monkeypatch.setattr(web, "WINDOW_PAGES", 20)
    scope = Scope(community.id, None, community.name)
    for window in (120, 40, 100_000):  # holds the first page / too small for any page / all of them
        monkeypatch.setattr(web, "WINDOW", window)
        assert [await _ledger(session, clock, community, **kw) for kw in cases] == expected
        if session.bind is not None and session.bind.dialect.name == "postgresql":
            # The walk alone: 120 rows hold 60 matches, so page 1 and its "next" but not page 2.
            svc = WebService(session, clock)
            walked = [await svc._window_first(session, svc._ledger_columns(), scope, LedgerFilter(**kw),
                                              LedgerFilter(**kw).page) for kw in cases]
            found = [w is not None for w in walked]
            assert found == ([True, False, True, False, False] if window == 120 else
                             [False] * 5 if window == 40 else [True, False, True, False, False])
