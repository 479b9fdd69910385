"""Reporting rules on a real database with a fixed clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.notices.cards import caption as card_caption
from bot.notices.cards import detail_text
from bot.rendering import plain_len
from bot.services import Services, build_services
from bot.services.access import NotAllowed
from bot.services.reporting import Draft, ReportingService, TooFar, categories, category, parse_reference
from models import Building, Community, Issue, IssueEvent, IssueFollower, IssueStatus, Member, OutboxItem
from tests.conftest import unique_id


async def svc(session: AsyncSession, clock: Any, settings: Any) -> Services:
    return build_services(session, clock, settings)


async def resident(services: dict[str, Any], building_key: str = "b1", tg_id: int | None = None) -> tuple[Member, Any]:
    from bot.services.members import TelegramPerson

    members = services.members
    member = await members.touch(TelegramPerson(id=tg_id or unique_id(), first_name="Ann", language_code="en"))
    b = (await members.session.execute(select(Building).where(Building.key == building_key))).scalar_one()
    await members.grant(member, "resident", await members.building_place(b.id), source="invite")
    return member, await members.actor(member)


async def building(session: AsyncSession, key: str) -> Building:
    return (await session.execute(select(Building).where(Building.key == key))).scalar_one()


def draft(b: Building, cat: str = "litter", **kw: Any) -> Draft:
    return Draft(photos=["p1"], photos_done=True, category=cat, building_id=b.id, place_done=True,
                 description=kw.pop("description", "rubbish"), description_done=True, duplicates_done=True, **kw)


async def test_references_count_per_community(session: AsyncSession, clock: Any, settings: Any, community: Any,
                                              riverside: Any) -> None:
    s = await svc(session, clock, settings)
    reporting: ReportingService = s.reporting
    member, actor = await resident(s)
    b1 = await building(session, "b1")
    first = await reporting.create(member, actor, draft(b1))
    second = await reporting.create(member, actor, draft(b1, "clutter"))
    assert (first.issue.reference, second.issue.reference) == ("NC0001", "NC0002")
    assert first.issue.hashtag == "#NC0001"
    rs_member, rs_actor = await resident(s, "a")
    rs = await reporting.create(rs_member, rs_actor, draft(await building(session, "a")))
    assert rs.issue.reference == "RS0001"
    c = await session.get(Community, community.id)
    assert c is not None and c.next_issue_number == 3
    assert await reporting.by_reference("#nc0002") is second.issue
    assert parse_reference("nc42") == ("NC", 42) and parse_reference("hello") is None


async def test_confirm_is_idempotent(session: AsyncSession, clock: Any, settings: Any, community: Any) -> None:
    s = await svc(session, clock, settings)
    member, actor = await resident(s)
    d = draft(await building(session, "b1"))
    one = await s.reporting.create(member, actor, d)
    two = await s.reporting.create(member, actor, d)
    assert one.new and not two.new and one.issue.id == two.issue.id
    assert len((await session.execute(select(Issue))).scalars().all()) == 1
    events = (await session.execute(select(IssueEvent))).scalars().all()
    assert [e.kind for e in events] == ["created"]
    followers = (await session.execute(select(IssueFollower))).scalars().all()
    assert [f.member_id for f in followers] == [member.id]


async def test_urgent_default_deadline_and_office_copy(session: AsyncSession, clock: Any, settings: Any,
                                                       community: Any) -> None:
    s = await svc(session, clock, settings)
    member, actor = await resident(s)
    created = await s.reporting.create(member, actor, draft(await building(session, "b1"), "fire_lane"))
    issue = created.issue
    assert issue.urgent and issue.deadline_at == clock() + timedelta(days=1)
    assert created.published is not None and created.published.kind == "team"
    rows = {o.chat_id: o for o in (await session.execute(select(OutboxItem))).scalars()}
    assert rows[-1001000000011].urgent and rows[-1001000000001].urgent  # team chat and office, at once
    assert rows[-1001000000011].payload["method"] == "photo"
    assert 3001 in rows and rows[3001].urgent  # the captain's private nudge ignores quiet hours
    road = await s.reporting.create(member, actor, draft(await building(session, "b1"), "road"))
    assert not road.issue.urgent and road.issue.deadline_at == clock() + timedelta(days=7)


async def test_card_goes_to_captains_privately_without_team_chat(session: AsyncSession, clock: Any, settings: Any,
                                                                 community: Any) -> None:
    s = await svc(session, clock, settings)
    member, actor = await resident(s, "b2")
    created = await s.reporting.create(member, actor, draft(await building(session, "b2"), "lighting"))
    assert created.published is not None and created.published.kind == "captains"
    chats = {o.chat_id for o in (await session.execute(select(OutboxItem))).scalars()}
    assert chats == {3002}  # the captain of Building 2, and never a residents' chat


async def test_location_more_than_5km_is_refused(session: AsyncSession, clock: Any, settings: Any,
                                                 community: Any) -> None:
    reporting: ReportingService = (await svc(session, clock, settings)).reporting
    near = await reporting.locate(community.id, 31.2305, 121.4738)
    assert near is not None and near.key == "b1"
    with pytest.raises(TooFar):
        await reporting.locate(community.id, 31.30, 121.4737)  # ~7.7 km north
    with pytest.raises(TooFar):
        await reporting.locate(community.id, 51.5072, -0.1276)  # London


async def test_duplicates_building_50m_and_30_days(session: AsyncSession, clock: Any, settings: Any,
                                                   community: Any) -> None:
    s = await svc(session, clock, settings)
    reporting: ReportingService = s.reporting
    member, actor = await resident(s)
    b1, b2 = await building(session, "b1"), await building(session, "b2")
    old = (await reporting.create(member, actor, draft(b1, "litter", lat=31.2304, lon=121.4737))).issue
    d = draft(b1, "litter")
    d.duplicates_done = False
    assert [x.issue.id for x in await reporting.duplicates(community.id, d)] == [old.id]
    other_cat = draft(b1, "clutter")
    assert await reporting.duplicates(community.id, other_cat) == []
    # Building 2, but a pin 30 m from the old one: still the same spot.
    close = draft(b2, "litter", lat=31.2304 + 0.00027, lon=121.4737)
    assert [x.issue.id for x in await reporting.duplicates(community.id, close)] == [old.id]
    far = draft(b2, "litter", lat=31.2304 + 0.0006, lon=121.4737)  # ~67 m
    assert await reporting.duplicates(community.id, far) == []
    # Fixed 10 days ago → offered as a rebound; 31 days → forgotten.
    old.status, old.closed_at = IssueStatus.CLOSED, clock() - timedelta(days=10)
    await session.flush()
    [dup] = await reporting.duplicates(community.id, d)
    assert not dup.is_open
    old.closed_at = clock() - timedelta(days=31)
    await session.flush()
    assert await reporting.duplicates(community.id, d) == []
    # Open but reported 31 days ago: outside the window.
    old.status, old.closed_at, old.created_at = IssueStatus.NEW, None, clock() - timedelta(days=31)
    await session.flush()
    assert await reporting.duplicates(community.id, d) == []


async def test_rebound_reopens_instead_of_refiling(session: AsyncSession, clock: Any, settings: Any,
                                                   community: Any) -> None:
    s = await svc(session, clock, settings)
    reporting: ReportingService = s.reporting
    ann, ann_actor = await resident(s)
    bob, bob_actor = await resident(s)
    issue = (await reporting.create(ann, ann_actor, draft(await building(session, "b1")))).issue
    issue.status, issue.closed_at = IssueStatus.CLOSED, clock()
    await session.flush()
    reopened, changed = await reporting.reopen_rebound(bob, bob_actor, issue.id, offered=[issue.id], photos=["p9"])
    assert changed and reopened.status == IssueStatus.REOPENED and reopened.reopen_count == 1
    assert await reporting.is_follower(bob, reopened)
    assert await reporting.photos(reopened) == ["p1", "p9"]
    _again, changed = await reporting.reopen_rebound(bob, bob_actor, issue.id, offered=[issue.id])
    assert not changed and reopened.reopen_count == 1
    assert len((await session.execute(select(Issue))).scalars().all()) == 1


async def test_withdraw_and_edit_only_by_reporter_while_new(session: AsyncSession, clock: Any, settings: Any,
                                                            community: Any) -> None:
    s = await svc(session, clock, settings)
    reporting: ReportingService = s.reporting
    ann, ann_actor = await resident(s)
    bob, _bob_actor = await resident(s)
    issue = (await reporting.create(ann, ann_actor, draft(await building(session, "b1")))).issue
    with pytest.raises(NotAllowed):
        await reporting.withdraw(bob, issue.id)
    with pytest.raises(NotAllowed):
        await reporting.edit_description(bob, issue.id, "mine now")
    edited, changed = await reporting.edit_description(ann, issue.id, "bags by the gate")
    assert changed and edited.description == "bags by the gate"
    with pytest.raises(ValueError):
        await reporting.edit_description(ann, issue.id, "x" * 1001)
    issue.status = IssueStatus.ACCEPTED
    await session.flush()
    _i, changed = await reporting.withdraw(ann, issue.id)
    assert not changed and issue.status == IssueStatus.ACCEPTED
    _i, changed = await reporting.edit_description(ann, issue.id, "too late")
    assert not changed
    issue.status = IssueStatus.NEW
    withdrawn, changed = await reporting.withdraw(ann, issue.id)
    assert changed and withdrawn.status == IssueStatus.WITHDRAWN


async def test_hostile_html_is_escaped_and_caption_fits(session: AsyncSession, clock: Any, settings: Any,
                                                        community: Any) -> None:
    s = await svc(session, clock, settings)
    member, actor = await resident(s)
    evil = '<b>x</b><a href="javascript:alert(1)">&amp;</a>' + "很长的描述🚒" * 140
    issue = (await s.reporting.create(member, actor, draft(await building(session, "b1"),
                                                              description=evil[:1000]))).issue
    caption = await card_caption(s.cards, issue, "zh_Hans")
    assert "&lt;b&gt;x&lt;/b&gt;" in caption and "<a href=\"javascript" not in caption
    assert plain_len(caption) <= 1024
    detail = await detail_text(s.cards, issue, "en", viewer_may_see_reporter=False)
    assert "Ann" not in detail and "&lt;b&gt;" in detail
    assert "Ann" in await detail_text(s.cards, issue, "en", viewer_may_see_reporter=True)


async def test_categories_default_and_override(session: AsyncSession, community: Any) -> None:
    c = await session.get(Community, community.id)
    assert c is not None
    keys = [x.key for x in categories(c)]
    assert len(keys) == 17 and {"fire_lane", "ebike_charging", "security"} <= {x.key for x in categories(c) if x.urgent}
    assert category(c, "lighting").label("zh_Hans") == "照明损坏"
    c.settings = {"categories": [{"key": "lighting", "deadline_days": 2}, {"key": "bees", "en": "Bees", "zh": "蜜蜂",
                                                                           "emoji": "🐝", "urgent": True}]}
    assert [x.key for x in categories(c)] == ["lighting", "bees"]
    assert category(c, "lighting").deadline_days == 2 and category(c, "lighting").en == "Broken lamp"
    assert category(c, "bees").urgent and category(c, "bees").label("en") == "Bees"


async def test_my_issues_newest_first_with_followed(session: AsyncSession, clock: Any, settings: Any,
                                                    community: Any) -> None:
    s = await svc(session, clock, settings)
    reporting: ReportingService = s.reporting
    ann, ann_actor = await resident(s)
    bob, bob_actor = await resident(s)
    b1 = await building(session, "b1")
    mine = []
    for _i in range(6):
        clock.advance(minutes=1)
        mine.append((await reporting.create(ann, ann_actor, draft(b1))).issue)
    clock.advance(minutes=1)
    bobs = (await reporting.create(bob, bob_actor, draft(b1, "dogs"))).issue
    await reporting.follow(ann, ann_actor, bobs.id)
    page = await reporting.my_issues(ann, 0)
    assert page.total == 7 and page.pages == 2 and [i.id for i in page.items][:2] == [bobs.id, mine[-1].id]
    last = await reporting.my_issues(ann, 5)
    assert last.page == 1 and [i.id for i in last.items] == [mine[1].id, mine[0].id]
