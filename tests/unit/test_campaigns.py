"""Campaign rules without Telegram: which campaigns an issue belongs to (category, place — a building, an
area, the whole community — and local day), the template's phases split evenly, drafts refused for
what is wrong with them, a phase announced once with the quiet hours of each captain, and erasure
dropping who started a campaign or added an issue by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import FrozenClock
from bot.services.campaigns import CampaignError, CampaignsService, CampDraft, default_phases
from bot.services.members import MembersService
from models import Area, Building, Campaign, CampaignIssue, Issue, Member, OutboxItem

SH = ZoneInfo("Asia/Shanghai")


def test_template_phases_split_evenly() -> None:
    phases = default_phases(date(2026, 12, 1), date(2026, 12, 28))
    assert [p["start"] for p in phases] == ["2026-12-01", "2026-12-08", "2026-12-15", "2026-12-22"]
    assert [p["key"] for p in phases] == ["publicity", "self_check", "clean_up", "acceptance"]
    # 30 days: the first phases get the extra days; 2 days: only two phases fit.
    assert [p["start"] for p in default_phases(date(2026, 4, 1), date(2026, 4, 30))] == [
        "2026-04-01", "2026-04-09", "2026-04-17", "2026-04-24"]
    assert len(default_phases(date(2026, 4, 1), date(2026, 4, 2))) == 2


async def _ids(session: AsyncSession) -> tuple[int, dict[str, int], dict[str, int]]:
    areas = {a.key: a.id for a in (await session.execute(select(Area))).scalars()}
    buildings = {b.key: b.id for b in (await session.execute(select(Building))).scalars()}
    community_id = (await session.execute(select(Building.community_id).where(Building.key == "b1"))).scalar_one()
    return community_id, areas, buildings


async def _start(svc: CampaignsService, community_id: int, **kw: Any) -> Campaign:
    draft = CampDraft(community_id=community_id, name=kw.pop("name", "Drive"), categories=["fire_lane"],
                      start="2026-12-01", end="2026-12-28", **kw)
    staff = (await svc.session.execute(select(Member).where(Member.telegram_id == 2002))).scalar_one()
    campaign, created = await svc.create(await svc.members.actor(staff), draft)
    assert created
    return campaign


async def test_running_for_category_place_and_local_day(session: AsyncSession, community: Any,
                                                        clock: FrozenClock) -> None:
    svc = CampaignsService(session, clock)
    cid, areas, b = await _ids(session)
    one = await _start(svc, cid, name="B1 only", building_ids=[b["b1"]])
    north = await _start(svc, cid, name="North", area_ids=[areas["north"]])
    whole = await _start(svc, cid, name="Everywhere", whole=True)

    def at(day: int, hour: int) -> datetime:
        return datetime.combine(date(2026, 12, day), time(hour), SH).astimezone(UTC)

    names = lambda found: sorted(c.name for c in found)  # noqa: E731
    assert names(await svc.running_for(cid, "fire_lane", b["b1"], at(1, 0))) == ["B1 only", "Everywhere", "North"]
    assert names(await svc.running_for(cid, "fire_lane", b["b2"], at(10, 12))) == ["Everywhere", "North"]
    assert names(await svc.running_for(cid, "fire_lane", b["b3"], at(10, 12))) == ["Everywhere"]
    assert names(await svc.running_for(cid, "fire_lane", None, at(10, 12))) == ["Everywhere"]
    assert await svc.running_for(cid, "litter", b["b1"], at(10, 12)) == []
    # Local days: 30 November 23:59 in Shanghai is before, 28 December 23:59 is still in.
    before = datetime(2026, 11, 30, 23, 59, tzinfo=SH)
    assert await svc.running_for(cid, "fire_lane", b["b1"], before) == []
    assert len(await svc.running_for(cid, "fire_lane", b["b1"], datetime(2026, 12, 28, 23, 59, tzinfo=SH))) == 3
    assert await svc.running_for(cid, "fire_lane", b["b1"], at(29, 0)) == []
    assert {one.id, north.id, whole.id} == {c.id for c in await svc.running_for(cid, "fire_lane", b["b1"], at(5, 9))}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"name": " "}, "name"), ({"categories": []}, "categories"), ({"whole": False}, "places"),
    ({"end": "2026-11-30"}, "order"),
    ({"phases": [{"key": "publicity", "start": "2026-12-10"}, {"key": "clean_up", "start": "2026-12-05"}]},
     "phases"),
    ({"phases": [{"key": "publicity", "start": "2027-01-10"}]}, "phases"),
])
def test_drafts_refused_for_what_is_wrong(changes: dict[str, Any], reason: str) -> None:
    good = dict(community_id=1, name="Drive", categories=["fire_lane"], whole=True, start="2026-12-01",
                end="2026-12-28")
    svc = CampaignsService.__new__(CampaignsService)
    svc.check_draft(CampDraft(**good))  # type: ignore[arg-type]
    with pytest.raises(CampaignError) as exc:
        svc.check_draft(CampDraft(**{**good, **changes}))  # type: ignore[arg-type]
    assert exc.value.reason == reason


async def test_phase_announced_once_with_quiet_hours(session: AsyncSession, community: Any) -> None:
    from bot.notices.campaigns import send_phase

    clock = FrozenClock(datetime(2026, 12, 1, 9, 0, tzinfo=SH).astimezone(UTC))
    svc = CampaignsService(session, clock)
    cid, _areas, b = await _ids(session)
    campaign = await _start(svc, cid, building_ids=[b["b1"]],
                            phases=default_phases(date(2026, 12, 1), date(2026, 12, 28)))
    captain = (await session.execute(select(Member).where(Member.telegram_id == 3001))).scalar_one()
    captain.started = True
    captain.quiet_start, captain.quiet_end = 8 * 60, 10 * 60  # asleep until ten (minutes after midnight)
    await session.flush()
    due = await svc.due_phases()
    assert [(c.id, i) for c, i in due] == [(campaign.id, 0)]
    for c, i in due:
        await send_phase(svc, c, i)
    assert await svc.due_phases() == []  # a second tick: nothing more
    row = (await session.execute(select(OutboxItem).where(OutboxItem.member_id == captain.id))).scalar_one()
    assert row.deferred and row.not_before == datetime(2026, 12, 1, 10, 0, tzinfo=SH).astimezone(UTC)
    assert any(w in row.payload["text"] for w in ("Phase 1 of 4", "第1阶段"))  # in the captain's language


async def test_erasure_drops_who_started_and_who_added(session: AsyncSession, community: Any,
                                                       clock: FrozenClock) -> None:
    svc = CampaignsService(session, clock)
    cid, _areas, _b = await _ids(session)
    staff = (await session.execute(select(Member).where(Member.telegram_id == 2002))).scalar_one()
    draft = CampDraft(community_id=cid, name="Drive", categories=["fire_lane"], whole=True, start="2026-12-01",
                      end="2026-12-28")
    members = MembersService(session, clock)
    campaign, _created = await svc.create(await members.actor(staff), draft)
    issue = Issue(community_id=cid, number=1, reference="NC0001", category="fire_lane", status="new",
                  created_at=clock(), updated_at=clock())
    session.add(issue)
    await session.flush()
    session.add(CampaignIssue(campaign_id=campaign.id, issue_id=issue.id, manual=True, added_by=staff.id,
                              added_at=clock()))
    await session.flush()
    await members.delete_data(staff)
    await session.flush()
    await session.refresh(campaign)
    assert campaign.created_by is None
    assert (await session.execute(select(CampaignIssue.added_by))).scalar_one() is None


async def test_screen_lists_buildings_with_reports_and_counts_the_rest(session: AsyncSession, community: Any) -> None:
    from bot.notices.campaigns import progress_block

    clock = FrozenClock(datetime(2026, 12, 3, 9, 0, tzinfo=SH).astimezone(UTC))
    svc = CampaignsService(session, clock)
    cid, _areas, b = await _ids(session)
    campaign = await _start(svc, cid, whole=True)
    issue = Issue(community_id=cid, number=1, reference="NC0001", category="fire_lane", status="new",
                  building_id=b["b1"], created_at=clock(), updated_at=clock())
    session.add(issue)
    await session.flush()
    assert [c.id for c in await svc.join_new_issue(issue)] == [campaign.id]
    text = progress_block(await svc.progress(campaign), "en")
    others = len(b) - 1
    assert "· Building 1  1 (+1) · 0 · 0 · 0 · 0" in text, text
    assert "Building 2" not in text and f"{others} other buildings: nothing reported" in text, text
