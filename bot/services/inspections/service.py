"""Inspections (检查, 明查暗访) and the week's spot checks (星期抽查).

An inspector walks a checklist through one building: each item pass or fail, a failure with photos and
an optional note. Finishing files every failure as an issue through the reporting service (the inspector
as reporter, the item's category, the building, the photos), so nothing is typed twice and whatever
joins new issues to a running campaign applies to these as well. Each item is filed under a token of
its own, so finishing twice files nothing twice.

The checklists, and editing them in the bot, are in bot/services/inspections/checklists.py; the words
(the reminders, the issue description of a failure, the spreadsheet) in bot/notices/inspections.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.jobs import JobContext, job
from bot.services.access import Actor, Level, NotAllowed, Place, can, require
from bot.services.chats import ChatsService
from bot.services.events import Event
from bot.services.inspections.checklists import ChecklistEditor, InspectionError, checklists
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from bot.services.reporting import MAX_PHOTOS, Draft, ReportingService
from bot.services.tenure import on_roles_ended
from models import Area, Building, Community, Inspection, Issue, Member, Role, SpotCheck

MAX_NOTE = 500
DEFAULT_SPOT_CHECKS = 2
REMIND_WEEKDAY = 3  # Thursday morning: a spot check not done yet is recalled
REMIND_AT = time(9, 0)


@dataclass
class Finished:
    inspection: Inspection
    issues: list[Issue]
    new: bool


@dataclass(frozen=True)
class SpotCheckDue(Event):
    """A spot check to do this week: just given to someone ("assigned"), or not done by Thursday ("midweek")."""

    spot_id: int
    member_id: int
    building_id: int
    moment: str


@dataclass
class InspectionRow:
    id: int
    building: str
    area: str
    inspector: str
    started_at: datetime
    finished_at: datetime | None
    passed: int
    failed: int
    failures: list[dict[str, str]]  # the failed items (worded by bot/notices/inspections.py)
    references: list[str]
    spot_check: bool

    @property
    def rate(self) -> int:
        total = self.passed + self.failed
        return round(100 * self.passed / total) if total else 0


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


class InspectionsService(ChecklistEditor):
    """Finishing an inspection files its failures through the reporting service (required: the same one
    the update uses, so its hooks and outbox rows join this transaction)."""

    def __init__(self, session: AsyncSession, clock: Clock, members: MembersService, chats: ChatsService,
                 outbox: Outbox, reporting: ReportingService) -> None:
        super().__init__(session, clock, members, chats, outbox)
        self.reporting = reporting

    # --- who may inspect where ---------------------------------------------------------------------

    async def _building(self, building_id: int) -> Building:
        b = await self.session.get(Building, building_id)
        if b is None:
            raise LookupError("building")
        return b

    async def building_named(self, building_id: int) -> Building | None:
        """A building to show (its name), or None when it is gone."""
        return await self.session.get(Building, building_id)

    async def spot(self, spot_id: int) -> SpotCheck | None:
        return await self.session.get(SpotCheck, spot_id)

    async def person(self, member_id: int | None) -> Member | None:
        return await self.session.get(Member, member_id) if member_id else None

    async def community(self, community_id: int) -> Community:
        community = await self.session.get(Community, community_id)
        if community is None:
            raise LookupError("community")
        return community

    def _today(self, community: Community) -> date:
        return self.clock().astimezone(ZoneInfo(community.timezone)).date()

    async def my_spot_checks(self, member: Member, community: Community) -> list[SpotCheck]:
        """This week's spot checks given to a person, not done yet."""
        return list((await self.session.execute(select(SpotCheck).where(
            SpotCheck.community_id == community.id, SpotCheck.inspector_id == member.id,
            SpotCheck.week_start == week_start(self._today(community)), SpotCheck.done_at.is_(None))
            .order_by(SpotCheck.id))).scalars())

    async def may_inspect(self, actor: Actor, member: Member, building: Building) -> bool:
        if can(actor, "inspect", Place(building.community_id, building.area_id, building.id)):
            return True
        if not actor.in_community(building.community_id):  # a spot check ends with the person's roles
            return False
        community = await self.session.get(Community, building.community_id)
        return community is not None and any(
            s.building_id == building.id for s in await self.my_spot_checks(member, community))

    async def buildings_for(self, actor: Actor, member: Member, community: Community) -> list[Building]:
        out = []
        for b in await self.members.buildings(community_id=community.id):
            if await self.may_inspect(actor, member, b):
                out.append(b)
        return out

    async def communities_for(self, actor: Actor, member: Member) -> list[Community]:
        out = []
        for c in await self.members.member_communities(member) if not actor.is_admin else \
                await self.members.communities():
            if await self.buildings_for(actor, member, c):
                out.append(c)
        return out

    async def area_key(self, building: Building) -> str | None:
        area = await self.session.get(Area, building.area_id)
        return area.key if area else None

    # --- walking a checklist -----------------------------------------------------------------------

    async def get(self, inspection_id: int) -> Inspection:
        i = await self.session.get(Inspection, inspection_id)
        if i is None:
            raise LookupError("inspection")
        return i

    async def open_of(self, member: Member) -> Inspection | None:
        return (await self.session.execute(select(Inspection).where(
            Inspection.inspector_id == member.id, Inspection.status == "open")
            .order_by(Inspection.id.desc()).limit(1))).scalar_one_or_none()

    async def start(self, actor: Actor, member: Member, building_id: int, checklist_key: str) -> Inspection:
        """Start (or take up again) an inspection of a building with one of the checklists offered there."""
        building = await self._building(building_id)
        if not await self.may_inspect(actor, member, building):
            raise NotAllowed("inspect", Place(building.community_id, building.area_id, building.id), Level.AREA_HEAD)
        community = await self.session.get(Community, building.community_id)
        assert community is not None
        lists = {c.key: c for c in checklists(community, await self.area_key(building))}
        checklist = lists.get(checklist_key)
        if checklist is None:
            raise LookupError("checklist")
        if not checklist.items:
            raise InspectionError("empty")
        current = await self.open_of(member)
        if current is not None and current.building_id == building.id and current.checklist_key == checklist.key:
            return current
        if current is not None:  # one walk at a time: an abandoned one is put aside
            current.status = "cancelled"
        spot = next((s for s in await self.my_spot_checks(member, community) if s.building_id == building.id), None)
        inspection = Inspection(community_id=community.id, area_id=building.area_id, building_id=building.id,
                                inspector_id=member.id, checklist_key=checklist.key, items=list(checklist.items),
                                results=[], position=0, status="open", spot_check_id=spot.id if spot else None,
                                started_at=self.clock())
        self.session.add(inspection)
        await self.session.flush()
        return inspection

    async def _mine_open(self, member: Member, inspection_id: int) -> Inspection:
        inspection = await self.get(inspection_id)
        if inspection.inspector_id != member.id:
            raise NotAllowed("inspect")
        if inspection.status != "open":
            raise InspectionError(inspection.status)
        return inspection

    async def answer(self, member: Member, inspection_id: int, position: int, ok: bool) -> tuple[Inspection, bool]:
        """Pass or fail the item on screen. A press on any other item (a stale button) changes nothing:
        (inspection, False). A pass moves on; a failure waits for photos and a note (`advance`)."""
        inspection = await self._mine_open(member, inspection_id)
        if position != inspection.position or position >= len(inspection.items):
            return inspection, False
        results = list(inspection.results)
        if len(results) > position:
            if results[position].get("ok") == ok:
                return inspection, False
            results[position] = {"ok": ok, "note": "", "photos": []}
        else:
            results.append({"ok": ok, "note": "", "photos": []})
        inspection.results = results
        if ok:
            inspection.position = position + 1
        await self.session.flush()
        return inspection, True

    def failing(self, inspection: Inspection) -> dict[str, Any] | None:
        """The failed item on screen, waiting for its photos and note; None otherwise."""
        p = inspection.position
        if inspection.status == "open" and p < len(inspection.results) and not inspection.results[p].get("ok"):
            return dict(inspection.results[p])
        return None

    async def add_photo(self, member: Member, inspection_id: int, file_id: str) -> int:
        """Attach a photo to the failed item on screen; returns how many it has."""
        inspection = await self._mine_open(member, inspection_id)
        item = self.failing(inspection)
        if item is None:
            raise InspectionError("not_failing")
        photos = list(item.get("photos") or [])
        if file_id not in photos and len(photos) < MAX_PHOTOS:
            photos.append(file_id)
        item["photos"] = photos
        results = list(inspection.results)
        results[inspection.position] = item
        inspection.results = results
        await self.session.flush()
        return len(photos)

    async def add_note(self, member: Member, inspection_id: int, text: str) -> None:
        inspection = await self._mine_open(member, inspection_id)
        item = self.failing(inspection)
        if item is None:
            raise InspectionError("not_failing")
        item["note"] = text.strip()[:MAX_NOTE]
        results = list(inspection.results)
        results[inspection.position] = item
        inspection.results = results
        await self.session.flush()

    async def advance(self, member: Member, inspection_id: int, position: int) -> tuple[Inspection, bool]:
        """Done with the failed item on screen: on to the next one."""
        inspection = await self._mine_open(member, inspection_id)
        if position != inspection.position or self.failing(inspection) is None:
            return inspection, False
        inspection.position = position + 1
        await self.session.flush()
        return inspection, True

    async def cancel(self, member: Member, inspection_id: int) -> Inspection:
        inspection = await self.get(inspection_id)
        if inspection.inspector_id != member.id:
            raise NotAllowed("inspect")
        if inspection.status == "open":
            inspection.status = "cancelled"
            await self.session.flush()
        return inspection

    async def finish(self, actor: Actor, member: Member, inspection_id: int,
                     describe: Callable[[dict[str, str]], str]) -> Finished:
        """File every failure as an issue and keep the record. `describe` words a failed item as the issue's
        description in the inspector's language (bot.notices.inspections.failure_words). Twice is once: a
        finished inspection returns the issues it filed."""
        inspection = await self.get(inspection_id)
        if inspection.inspector_id != member.id:
            raise NotAllowed("inspect")
        if inspection.status == "done":
            return Finished(inspection, await self._issues_of(inspection), False)
        if inspection.status != "open":
            raise InspectionError(inspection.status)
        if len(inspection.results) < len(inspection.items) or inspection.position < len(inspection.items):
            raise InspectionError("unanswered")
        building = await self._building(inspection.building_id)
        if not await self.may_inspect(actor, member, building):  # rights are checked again at the end
            raise NotAllowed("inspect", Place(building.community_id, building.area_id, building.id))
        results = [dict(r) for r in inspection.results]
        issues: list[Issue] = []
        for i, (item, result) in enumerate(zip(inspection.items, results, strict=False)):
            if result.get("ok"):
                continue
            description = describe(item)
            if result.get("note"):
                description += " — " + str(result["note"])
            draft = Draft(token=f"inspection:{inspection.id}:{i}", community_id=inspection.community_id,
                          photos=list(result.get("photos") or [])[:MAX_PHOTOS], photos_done=True,
                          category=item.get("category") or "other", building_id=building.id, place_done=True,
                          description=description, description_done=True, duplicates_done=True)
            # Several urgent failures in a morning's round are the inspection's job, not abuse: the
            # residents' daily cap on urgent reports does not stop them.
            created = await self.reporting.create(member, actor, draft, urgent_cap=False)
            result["issue_id"] = created.issue.id
            issues.append(created.issue)
        inspection.results = results
        inspection.passed = sum(1 for r in results if r.get("ok"))
        inspection.failed = len(results) - inspection.passed
        inspection.status = "done"
        inspection.finished_at = self.clock()
        if inspection.spot_check_id is not None:
            spot = await self.session.get(SpotCheck, inspection.spot_check_id)
            if spot is not None and spot.done_at is None:
                spot.done_at = self.clock()
        await self.session.flush()
        return Finished(inspection, issues, True)

    async def _issues_of(self, inspection: Inspection) -> list[Issue]:
        ids = [int(r["issue_id"]) for r in inspection.results if r.get("issue_id")]
        if not ids:
            return []
        rows = {i.id: i for i in (await self.session.execute(select(Issue).where(Issue.id.in_(ids)))).scalars()}
        return [rows[i] for i in ids if i in rows]

    # --- spot checks (星期抽查) ----------------------------------------------------------------------

    async def draw(self, actor: Actor, community: Community, n: int, rng: random.Random | None = None
                   ) -> list[SpotCheck]:
        """Draw n buildings at random for this week's unannounced checks (buildings already drawn this week
        stay and count)."""
        require(actor, "spot_checks", Place(community.id))
        week = week_start(self._today(community))
        existing = list((await self.session.execute(select(SpotCheck).where(
            SpotCheck.community_id == community.id, SpotCheck.week_start == week).order_by(SpotCheck.id))).scalars())
        taken = {s.building_id for s in existing}
        pool = [b.id for b in await self.members.buildings(community_id=community.id) if b.id not in taken]
        chosen = (rng or random.SystemRandom()).sample(pool, max(0, min(n - len(existing), len(pool))))
        for bid in chosen:
            self.session.add(SpotCheck(community_id=community.id, week_start=week, building_id=bid,
                                       drawn_by=actor.member_id, created_at=self.clock()))
        await self.session.flush()
        return await self.week(community)

    async def week(self, community: Community) -> list[SpotCheck]:
        return list((await self.session.execute(select(SpotCheck).where(
            SpotCheck.community_id == community.id, SpotCheck.week_start == week_start(self._today(community)))
            .order_by(SpotCheck.id))).scalars())

    async def inspectors(self, community: Community) -> list[Member]:
        """Who may be given a spot check: staff, area heads and volunteers of the community."""
        rows = (await self.session.execute(
            select(Member).join(Role, Role.member_id == Member.id)
            .where(Role.community_id == community.id, Role.role.in_(("staff", "area_head", "volunteer")),
                   Member.data_deleted_at.is_(None)).order_by(Member.id))).scalars()
        return list(dict.fromkeys(rows))

    async def assign(self, actor: Actor, spot_id: int, inspector_id: int) -> tuple[SpotCheck, bool]:
        spot = await self.session.get(SpotCheck, spot_id)
        if spot is None:
            raise LookupError("spot_check")
        require(actor, "spot_checks", Place(spot.community_id))
        community = await self.session.get(Community, spot.community_id)
        assert community is not None
        if inspector_id not in {m.id for m in await self.inspectors(community)}:
            raise LookupError("inspector")
        if spot.inspector_id == inspector_id:
            return spot, False
        spot.inspector_id = inspector_id
        await self.session.flush()
        await self._remind(spot, "assigned")
        return spot, True

    async def _remind(self, spot: SpotCheck, moment: str) -> bool:
        """Tell the inspector (bot/notices/inspections.py), once per moment: keyed by spot, moment, person."""
        member = await self.session.get(Member, spot.inspector_id) if spot.inspector_id else None
        building = await self.session.get(Building, spot.building_id)
        if member is None or building is None:
            return False
        await self.events.record(SpotCheckDue(spot.id, member.id, building.id, moment))
        return True

    async def remind_due(self) -> int:
        """The mid-week reminder of spot checks not done yet: how many were recorded (a tick; the outbox keys
        make repeats harmless)."""
        now = self.clock()
        sent = 0
        for spot in list((await self.session.execute(select(SpotCheck).where(
                SpotCheck.done_at.is_(None), SpotCheck.inspector_id.is_not(None)))).scalars()):
            community = await self.session.get(Community, spot.community_id)
            if community is None:
                continue
            tz = ZoneInfo(community.timezone)
            at = datetime.combine(spot.week_start + timedelta(days=REMIND_WEEKDAY), REMIND_AT, tz).astimezone(UTC)
            end = datetime.combine(spot.week_start + timedelta(days=7), time(0), tz).astimezone(UTC)
            if at <= now < end and await self._remind(spot, "midweek"):
                sent += 1
        return sent

    # --- the record, exported and counted --------------------------------------------------------

    async def records(self, actor: Actor, community: Community, start: datetime, end: datetime
                      ) -> list[InspectionRow]:
        """Finished inspections in [start, end) that this person may see (area heads their area)."""
        rows = list((await self.session.execute(select(Inspection).where(
            Inspection.community_id == community.id, Inspection.status == "done",
            Inspection.finished_at >= start, Inspection.finished_at < end).order_by(Inspection.finished_at))
        ).scalars())
        buildings = {b.id: b for b in await self.members.buildings(community_id=community.id)}
        areas = {a.id: a.name for a in await self.members.areas(community.id)}
        out = []
        for i in rows:
            b = buildings.get(i.building_id)
            if b is None or not can(actor, "export", Place(community.id, b.area_id, b.id)):
                continue
            inspector = await self.session.get(Member, i.inspector_id) if i.inspector_id else None
            failures = [dict(item) for item, r in zip(i.items, i.results, strict=False) if not r.get("ok")]
            refs = [f"#{x.reference}" for x in await self._issues_of(i)]
            out.append(InspectionRow(i.id, b.name, areas.get(b.area_id, ""), inspector.display_name if inspector
                                     else "—", i.started_at, i.finished_at, i.passed, i.failed, failures, refs,
                                     i.spot_check_id is not None))
        return out


async def pass_rates(session: AsyncSession, community_id: int, start: datetime, end: datetime
                     ) -> dict[int, tuple[int, int]]:
    """(items passed, items checked) per building for inspections finished in [start, end) (for scores)."""
    out: dict[int, tuple[int, int]] = {}
    for bid, passed, failed in (await session.execute(select(
            Inspection.building_id, Inspection.passed, Inspection.failed).where(
            Inspection.community_id == community_id, Inspection.status == "done",
            Inspection.finished_at >= start, Inspection.finished_at < end))).all():
        p, t = out.get(bid, (0, 0))
        out[bid] = (p + int(passed), t + int(passed) + int(failed))
    return out


async def inspections_done(session: AsyncSession, community_id: int, start: datetime, end: datetime
                           ) -> dict[int, int]:
    """Finished inspections per inspector (member id) in [start, end) (for volunteer points)."""
    out: dict[int, int] = {}
    for mid, in (await session.execute(select(Inspection.inspector_id).where(
            Inspection.community_id == community_id, Inspection.status == "done",
            Inspection.finished_at >= start, Inspection.finished_at < end))).all():
        if mid is not None:
            out[mid] = out.get(mid, 0) + 1
    return out


@on_roles_ended("inspections")
async def _roles_ended(session: AsyncSession, clock: Clock, member: Member) -> None:
    """Spot checks not done go back to the office to give again; an open walk is put aside."""
    actor = await MembersService(session, clock).actor(member)
    for spot in list((await session.execute(select(SpotCheck).where(
            SpotCheck.inspector_id == member.id, SpotCheck.done_at.is_(None)))).scalars()):
        if not actor.in_community(spot.community_id):
            spot.inspector_id = None
    for inspection in list((await session.execute(select(Inspection).where(
            Inspection.inspector_id == member.id, Inspection.status == "open"))).scalars()):
        building = await session.get(Building, inspection.building_id)
        if building is None or not can(actor, "inspect", Place(building.community_id, building.area_id, building.id)):
            inspection.status = "cancelled"


@job("spot_check_reminders")
async def spot_check_reminders(session: AsyncSession, ctx: JobContext) -> None:
    from bot.services import build_services

    await build_services(session, ctx.clock, ctx.settings).inspections.remind_due()
