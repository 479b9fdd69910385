"""The rectification notice's content and PDF: the right to make one, the timeline entry, a photo
that cannot be read is left out, and without a CJK font the notice falls back to English."""

from __future__ import annotations

import io
import logging

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.notices import rectification as notices_module
from bot.notices.rectification import build_pdf, notice_of
from bot.services.access import NotAllowed
from bot.services.triage import InvalidInput
from models import Community, IssueEvent
from tests.unit.test_triage_support import CAPTAIN_B1, CAPTAIN_B2, actor, make_issue, resident, services


def text_of(data: bytes) -> str:
    page = PdfReader(io.BytesIO(data)).pages[0]
    return "".join(page.extract_text().replace("\x00", "").split())


async def test_prepare_checks_the_right_and_records_the_notice(session, community, clock, settings) -> None:
    ann = await resident(session, community, name="Ann Secret")
    issue = await make_issue(session, community, clock(), reporter=ann, description="Goods block exit 2")
    notices = services(session, clock, settings).notices
    with pytest.raises(NotAllowed):
        await notices.prepare(await actor(session, clock, settings, CAPTAIN_B2), issue.id, "Remove them")
    captain = await actor(session, clock, settings, CAPTAIN_B1)
    with pytest.raises(InvalidInput):
        await notices.prepare(captain, issue.id, "  ")
    notice = notice_of(await notices.prepare(captain, issue.id, "Remove the goods"))
    kinds = (await session.execute(select(IssueEvent.kind).where(IssueEvent.issue_id == issue.id))).scalars().all()
    assert "notice" in kinds and notice.key.startswith(f"issue_notice:{issue.id}:")
    # A "photo" that is no image is left out; the notice is still made.
    text = text_of(build_pdf(notice, b"fake-bytes-of-a-photo"))
    assert issue.hashtag in text and "Removethegoods" in text and "Secret" not in text


async def test_without_a_cjk_font_the_notice_is_english(session, community, clock, settings, monkeypatch,
                                                        caplog) -> None:
    c = await session.get(Community, community.id)
    c.locale = "zh_Hans"
    issue = await make_issue(session, community, clock(), description="Goods block exit 2")
    monkeypatch.setattr(notices_module, "CJK_FONTS", (("/nonexistent/font.ttc", 0),))
    notices = services(session, clock, settings).notices
    with caplog.at_level(logging.WARNING):
        notice = notice_of(await notices.prepare(await actor(session, clock, settings, CAPTAIN_B1), issue.id,
                                                 "Remove them"))
    assert notice.locale == "en" and "no CJK font" in caplog.text
    assert "Rectificationnotice" in text_of(build_pdf(notice))
