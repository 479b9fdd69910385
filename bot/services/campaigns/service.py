"""Campaigns (专项整治): staff run a named drive over some categories, places and dates — e.g. "fire-lane
clean-up, 1–30 April" — with optional phases (宣传发动 → 自查自纠 → 集中整治 → 检查验收), each with a short
instruction, and a target.

- Issues reported in its categories, places and dates join it when they are filed (the hook in
  ReportingService.create calls `join_new_issue`); captains and staff add or remove one by hand.
- The periodic tick announces each phase once at its start (09:00 local) to the captains and the
  residents' chats of its places, through the outbox (quiet hours for people), and at the end sends the
  office a summary: figures, a before/after album of the best ten, and an XLSX of every issue (a
  background job reusing the ledger export).
- Figures per building (found / fixed / verified / overdue / refused) are computed from the issues'
  timestamps, so "the change since last week" needs no snapshots.

Other capabilities (inspections) may call `CampaignsService.running_for(community_id, category,
building_id, when)`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.jobs import JobContext, job
from bot.services.access import Actor, Level, NotAllowed, Place, can, require
from bot.services.background import BackgroundService
from bot.services.base import CommunityService
from bot.services.campaigns.drafts import MAX_NAME, MAX_TARGET, PHASE_KEYS, CampaignError, CampDraft
from bot.services.campaigns.results import (
    CampaignEnded,
    CampaignPhaseStarted,
    Figures,
    IssueChoice,
    Progress,
    ProgressRow,
    Summary,
)
from bot.services.members import MembersService
from bot.services.tenure import Erased, on_erased
from models import (
    Area,
    Building,
    Campaign,
    CampaignIssue,
    ChatLink,
    CloseHow,
    Community,
    Issue,
    IssueEvent,
    IssuePhoto,
    Member,
)

PHASE_HOUR = time(9, 0)  # a phase is announced at 09:00 local on its first day
ALBUM_BEST = 10  # the summary's before/after album shows the best ten


class CampaignsService(CommunityService):
    # ------------------------------------------------------------------ who and where

    async def creating_community(self, actor: Actor, member: Member) -> Community | None:
        """The community where the person may start a campaign (staff), if any."""
        for community in await self.members.member_communities(member) or (
                await self.members.communities() if actor.is_admin else []):
            if can(actor, "campaign", Place(community.id)):
                return community
        return None

    async def viewing_community(self, actor: Actor, member: Member) -> Community | None:
        """Captains and above see the campaigns of their community (every building's figures: a campaign
        is a public drive, and its figures name no one)."""
        for community in await self.members.member_communities(member) or (
                await self.members.communities() if actor.is_admin else []):
            if await self.may_view(actor, community.id):
                return community
        return None

    async def may_view(self, actor: Actor, community_id: int) -> bool:
        if can(actor, "campaign_view", Place(community_id)):
            return True
        for g in actor.grants:
            if g.community_id != community_id:
                continue
            place = Place(community_id, g.area_id, g.building_id)
            if can(actor, "campaign_view", place):
                return True
        return False

    async def places(self, community_id: int) -> tuple[list[Area], list[Building]]:
        areas = list((await self.session.execute(select(Area).where(
            Area.community_id == community_id).order_by(Area.id))).scalars())
        buildings = await self.members.buildings(community_id=community_id)
        return areas, list(buildings)

    async def buildings_of(self, campaign: Campaign | CampDraft) -> list[Building]:
        """Every building a campaign covers (the whole community, its areas, its buildings)."""
        _areas, buildings = await self.places(campaign.community_id)
        whole = (isinstance(campaign, CampDraft) and campaign.whole) or (
            isinstance(campaign, Campaign) and not campaign.area_ids and not campaign.building_ids)
        if whole:
            return buildings
        area_ids = {int(a) for a in campaign.area_ids}
        ids = {int(b) for b in campaign.building_ids}
        return [b for b in buildings if b.id in ids or b.area_id in area_ids]

    async def place_names(self, campaign: Campaign | CampDraft) -> list[str]:
        """Its areas' and buildings' names; empty for the whole community."""
        if (isinstance(campaign, CampDraft) and campaign.whole) or (
                not campaign.area_ids and not campaign.building_ids):
            return []
        areas, buildings = await self.places(campaign.community_id)
        names = [a.name for a in areas if a.id in {int(x) for x in campaign.area_ids}]
        return names + [b.name for b in buildings if b.id in {int(x) for x in campaign.building_ids}]

    async def place_name(self, campaign: Campaign | CampDraft, locale: str) -> str:
        community = await self.session.get(Community, campaign.community_id)
        names = await self.place_names(campaign)
        if not names:
            return community.name if community else "?"
        return ("、" if locale.startswith("zh") else ", ").join(names)

    # ------------------------------------------------------------------ creating

    def check_draft(self, draft: CampDraft) -> None:
        if not draft.name.strip():
            raise CampaignError("name")
        if not draft.categories:
            raise CampaignError("categories")
        if not (draft.whole or draft.area_ids or draft.building_ids):
            raise CampaignError("places")
        if not draft.start or not draft.end:
            raise CampaignError("dates")
        start, end = date.fromisoformat(draft.start), date.fromisoformat(draft.end)
        if end < start:
            raise CampaignError("order")
        last = start
        for phase in draft.phases:
            day = date.fromisoformat(str(phase["start"]))
            if day < last or day > end or str(phase.get("key")) not in PHASE_KEYS:
                raise CampaignError("phases")
            last = day

    async def create(self, actor: Actor, draft: CampDraft) -> tuple[Campaign, bool]:
        """Store the campaign once per draft (a second press of Start returns the first)."""
        if draft.token:
            existing = (await self.session.execute(select(Campaign).where(
                Campaign.client_token == draft.token))).scalar_one_or_none()
            if existing is not None:
                return existing, False
        require(actor, "campaign", Place(draft.community_id))
        self.check_draft(draft)
        community = await self.session.get(Community, draft.community_id)
        if community is None:
            raise LookupError("community")
        known = {a.id for a in (await self.places(community.id))[0]}
        known_b = {b.id for b in (await self.places(community.id))[1]}
        if not {int(a) for a in draft.area_ids} <= known or not {int(b) for b in draft.building_ids} <= known_b:
            raise CampaignError("places")
        campaign = Campaign(
            community_id=community.id, name=draft.name.strip()[:MAX_NAME], categories=list(draft.categories),
            area_ids=[] if draft.whole else sorted({int(a) for a in draft.area_ids}),
            building_ids=[] if draft.whole else sorted({int(b) for b in draft.building_ids}),
            start_day=date.fromisoformat(str(draft.start)), end_day=date.fromisoformat(str(draft.end)),
            phases=list(draft.phases), phases_done=[], target=draft.target.strip()[:MAX_TARGET],
            created_by=actor.member_id, client_token=draft.token, status="running", created_at=self.clock())
        self.session.add(campaign)
        await self.session.flush()
        return campaign, True

    async def name_of(self, campaign_id: int) -> str | None:
        """A campaign's name (the /queue filter's title), None when it is gone."""
        campaign = await self.session.get(Campaign, campaign_id)
        return campaign.name if campaign is not None else None

    async def get(self, campaign_id: int) -> Campaign:
        campaign = await self.session.get(Campaign, campaign_id)
        if campaign is None:
            raise LookupError("campaign")
        return campaign

    async def listing(self, actor: Actor, community_id: int) -> list[Campaign]:
        if not await self.may_view(actor, community_id):
            raise NotAllowed("campaign_view", Place(community_id), Level.CAPTAIN)
        return list((await self.session.execute(select(Campaign).where(
            Campaign.community_id == community_id).order_by(Campaign.status.desc(), Campaign.start_day.desc(),
                                                            Campaign.id.desc()).limit(20))).scalars())

    # ------------------------------------------------------------------ membership

    async def running_for(self, community_id: int, category: str, building_id: int | None,
                          when: datetime) -> list[Campaign]:
        """The campaigns an issue of this category, at this building, reported at `when` belongs to.
        An issue without a building belongs only to campaigns of the whole community."""
        community = await self.session.get(Community, community_id)
        if community is None:
            return []
        day = when.astimezone(ZoneInfo(community.timezone)).date()
        rows = (await self.session.execute(select(Campaign).where(
            Campaign.community_id == community_id, Campaign.status == "running",
            Campaign.start_day <= day, Campaign.end_day >= day))).scalars()
        area_id = None
        if building_id is not None:
            building = await self.session.get(Building, building_id)
            area_id = building.area_id if building else None
        out = []
        for c in rows:
            if category not in (c.categories or []):
                continue
            whole = not c.area_ids and not c.building_ids
            if whole or (building_id is not None and (
                    building_id in c.building_ids or (area_id is not None and area_id in c.area_ids))):
                out.append(c)
        return out

    async def join_new_issue(self, issue: Issue) -> list[Campaign]:
        """Called when an issue is filed (ReportingService.create, the hook below): it joins every running
        campaign it fits."""
        found = await self.running_for(issue.community_id, issue.category, issue.building_id, issue.created_at)
        for c in found:
            await self._add(c.id, issue.id, manual=False, by=None)
        return found

    async def _add(self, campaign_id: int, issue_id: int, *, manual: bool, by: int | None) -> bool:
        there = (await self.session.execute(select(CampaignIssue.id).where(
            CampaignIssue.campaign_id == campaign_id, CampaignIssue.issue_id == issue_id))).scalar_one_or_none()
        if there is not None:
            return False
        self.session.add(CampaignIssue(campaign_id=campaign_id, issue_id=issue_id, manual=manual, added_by=by,
                                       added_at=self.clock()))
        await self.session.flush()
        return True

    async def of_issue(self, issue_id: int) -> list[Campaign]:
        return list((await self.session.execute(select(Campaign).join(
            CampaignIssue, CampaignIssue.campaign_id == Campaign.id).where(
            CampaignIssue.issue_id == issue_id).order_by(Campaign.id))).scalars())

    async def _issue_for(self, actor: Actor, issue_id: int) -> Issue:
        issue = await self.session.get(Issue, issue_id)
        if issue is None:
            raise LookupError("issue")
        require(actor, "campaign_issue", Place(issue.community_id, issue.area_id, issue.building_id))
        return issue

    async def choices(self, actor: Actor, issue_id: int) -> tuple[Issue, list[IssueChoice]]:
        """The running campaigns of the issue's community, and whether it is in each (rights checked)."""
        issue = await self._issue_for(actor, issue_id)
        mine = {c.id for c in await self.of_issue(issue.id)}
        rows = (await self.session.execute(select(Campaign).where(
            Campaign.community_id == issue.community_id, Campaign.status == "running")
            .order_by(Campaign.id))).scalars()
        return issue, [IssueChoice(c, c.id in mine) for c in rows]

    async def set_member(self, actor: Actor, campaign_id: int, issue_id: int, member_id: int,
                         want: bool) -> tuple[Issue, Campaign, bool]:
        """Add (want=True) or remove an issue by hand; rights re-checked at the issue's place. Idempotent:
        returns changed=False when it already was so."""
        issue = await self._issue_for(actor, issue_id)
        campaign = await self.get(campaign_id)
        if campaign.community_id != issue.community_id or campaign.status != "running":
            raise LookupError("campaign")
        if want:
            return issue, campaign, await self._add(campaign.id, issue.id, manual=True, by=member_id)
        result = await self.session.execute(delete(CampaignIssue).where(
            CampaignIssue.campaign_id == campaign.id, CampaignIssue.issue_id == issue.id))
        await self.session.flush()
        return issue, campaign, bool(getattr(result, "rowcount", 0))

    # ------------------------------------------------------------------ figures

    async def figures(self, campaign: Campaign, at: datetime) -> dict[int | None, Figures]:
        """Figures per building as they stood at `at` (found = reported by then; fixed = marked fixed by
        then and not reopened since; verified = closed after an on-site check; overdue = past its
        deadline and not fixed by then; refused = the responsible party refused to comply)."""
        rows = (await self.session.execute(
            select(Issue.id, Issue.building_id, Issue.created_at, Issue.resolved_at, Issue.closed_at,
                   Issue.close_how, Issue.missed_deadline_at, Issue.deadline_at, Issue.status)
            .join(CampaignIssue, CampaignIssue.issue_id == Issue.id)
            .where(CampaignIssue.campaign_id == campaign.id, Issue.created_at <= at))).all()
        refused = set((await self.session.execute(
            select(IssueEvent.issue_id).join(CampaignIssue, CampaignIssue.issue_id == IssueEvent.issue_id)
            .where(CampaignIssue.campaign_id == campaign.id, IssueEvent.kind == "refused",
                   IssueEvent.at <= at))).scalars())
        out: dict[int | None, Figures] = {}
        for r in rows:
            f = out.setdefault(r.building_id, Figures())
            f.found += 1
            fixed = r.resolved_at is not None and r.resolved_at <= at
            f.fixed += int(fixed)
            f.verified += int(r.close_how == CloseHow.VERIFIED and r.closed_at is not None and r.closed_at <= at)
            missed = r.missed_deadline_at or (r.deadline_at if r.deadline_at is not None and r.deadline_at <= at
                                              and r.status not in ("rejected", "duplicate", "withdrawn")
                                              else None)
            f.overdue += int(missed is not None and missed <= at and not fixed)
            f.refused += int(r.id in refused)
        return out

    async def progress(self, campaign: Campaign, at: datetime | None = None) -> Progress:
        at = at or self.clock()
        community = await self.session.get(Community, campaign.community_id)
        assert community is not None
        end = self.end_moment(campaign, community)
        as_of = min(at, end)
        now, before = await self.figures(campaign, as_of), await self.figures(campaign, as_of - timedelta(days=7))
        names = {b.id: b.name for b in await self.buildings_of(campaign)}
        # Buildings outside its places show up too when an issue there was added by hand.
        for bid in now:
            if bid is not None and bid not in names:
                building = await self.session.get(Building, bid)
                names[bid] = building.name if building else "?"
        rows, total_now, total_before = [], Figures(), Figures()
        for bid, name in names.items():
            f, b = now.get(bid, Figures()), before.get(bid, Figures())
            rows.append(ProgressRow(name, f, f.minus(b)))
        if None in now:
            f, b = now[None], before.get(None, Figures())
            rows.append(ProgressRow("—", f, f.minus(b)))
        for f in now.values():
            total_now.add(f)
        for f in before.values():
            total_before.add(f)
        return Progress(campaign, community, rows, ProgressRow("", total_now, total_now.minus(total_before)),
                        self.phase_at(campaign, community, as_of), as_of, await self.place_names(campaign))

    @staticmethod
    def start_moment(day: date, community: Community) -> datetime:
        return datetime.combine(day, PHASE_HOUR, ZoneInfo(community.timezone)).astimezone(UTC)

    @staticmethod
    def end_moment(campaign: Campaign, community: Community) -> datetime:
        """Midnight after its last day, local time."""
        return datetime.combine(campaign.end_day + timedelta(days=1), time(0),
                                ZoneInfo(community.timezone)).astimezone(UTC)

    def phase_at(self, campaign: Campaign, community: Community, at: datetime) -> int | None:
        current = None
        for i, phase in enumerate(campaign.phases or []):
            if self.start_moment(date.fromisoformat(phase["start"]), community) <= at:
                current = i
        return current

    # ------------------------------------------------------------------ phases and the end (the tick)

    async def phase_recipients(self, campaign: Campaign) -> tuple[list[Member], list[int]]:
        """The captains of its buildings (privately) and the residents' chats of its places."""
        buildings = await self.buildings_of(campaign)
        ids = [b.id for b in buildings]
        people: dict[int, Member] = {}
        for b in buildings:
            for m in await self.members.holders("captain", Place(campaign.community_id, b.area_id, b.id)):
                people.setdefault(m.id, m)
        chats = await self.chats.residents_chats(ids)
        cond: Any = None
        if not campaign.area_ids and not campaign.building_ids:
            cond = ChatLink.place_kind.in_(("community", "area"))
        elif campaign.area_ids:
            cond = (ChatLink.place_kind == "area") & ChatLink.place_id.in_([int(a) for a in campaign.area_ids])
        if cond is not None:
            chats += list((await self.session.execute(select(ChatLink.chat_id).where(
                ChatLink.community_id == campaign.community_id, ChatLink.kind == "residents", cond)
                .order_by(ChatLink.id))).scalars())
        return list(people.values()), list(dict.fromkeys(chats))

    async def due_phases(self) -> list[tuple[Campaign, int]]:
        """(campaign, phase index) whose start has come and that was not announced; marks them done.
        After downtime only the latest started phase of a campaign is announced (older ones are past)."""
        now = self.clock()
        out = []
        for c in (await self.session.execute(select(Campaign).where(Campaign.status == "running"))).scalars():
            community = await self.session.get(Community, c.community_id)
            if community is None or not c.phases:
                continue
            done = {int(i) for i in c.phases_done or []}
            started = [i for i, p in enumerate(c.phases)
                       if self.start_moment(date.fromisoformat(p["start"]), community) <= now]
            if not started or started[-1] in done or now >= self.end_moment(c, community):
                continue
            c.phases_done = sorted(done | set(started))
            out.append((c, started[-1]))
        await self.session.flush()
        return out

    async def ended(self) -> list[Campaign]:
        """Running campaigns past their last day: marked ended (their summary is due)."""
        now = self.clock()
        out = []
        for c in (await self.session.execute(select(Campaign).where(Campaign.status == "running"))).scalars():
            community = await self.session.get(Community, c.community_id)
            if community is not None and now >= self.end_moment(c, community):
                c.status = "ended"
                out.append(c)
        await self.session.flush()
        return out

    async def best(self, campaign: Campaign, limit: int = ALBUM_BEST) -> list[tuple[str, str, str]]:
        """The best ten fixes with a before and an after photo: verified first, then the quickest fixed."""
        rows = (await self.session.execute(
            select(Issue.id, Issue.reference, Issue.created_at, Issue.resolved_at, Issue.close_how)
            .join(CampaignIssue, CampaignIssue.issue_id == Issue.id)
            .where(CampaignIssue.campaign_id == campaign.id, Issue.resolved_at.is_not(None)))).all()
        photos: dict[int, dict[str, str]] = {}
        if rows:
            for p in (await self.session.execute(select(IssuePhoto).where(
                    IssuePhoto.issue_id.in_([r.id for r in rows])).order_by(
                    IssuePhoto.issue_id, IssuePhoto.position, IssuePhoto.id))).scalars():
                photos.setdefault(p.issue_id, {}).setdefault(p.kind, p.file_id)
        ranked = sorted((r for r in rows if {"before", "after"} <= set(photos.get(r.id, {}))),
                        key=lambda r: (r.close_how != CloseHow.VERIFIED, r.resolved_at - r.created_at, r.id))
        return [(r.reference, photos[r.id]["before"], photos[r.id]["after"]) for r in ranked[:limit]]

    async def summary(self, campaign: Campaign) -> Summary:
        return Summary(await self.progress(campaign), await self.best(campaign))

    async def office_recipients(self, community_id: int) -> tuple[int | None, list[Member]]:
        """The office's team chat, else its staff privately."""
        office = await self.chats.office_chat(community_id)
        if office is not None:
            return office, []
        return None, await self.members.holders("staff", Place(community_id))

    async def xlsx_owner(self, campaign: Campaign) -> Member | None:
        """Whose rights the summary's spreadsheet job runs with: its author while they are staff, else any
        staff member of the community."""
        if campaign.created_by is not None:
            author = await self.session.get(Member, campaign.created_by)
            if author is not None and author.data_deleted_at is None and can(
                    await self.members.actor(author), "campaign", Place(campaign.community_id)):
                return author
        staff = await self.members.holders("staff", Place(campaign.community_id))
        return staff[0] if staff else None

    async def queue_xlsx(self, campaign: Campaign) -> None:
        """Hand the summary's spreadsheet to the worker (job kind "campaign_xlsx", bot/notices/campaigns.py),
        to the office's chat, else its owner privately. The owner may have another job running: the tick
        retries (xlsx_queued_at stays empty until it is taken)."""
        owner = await self.xlsx_owner(campaign)
        if owner is None:
            campaign.xlsx_queued_at = self.clock()  # nobody to run it as: no spreadsheet
            return
        office, _staff = await self.office_recipients(campaign.community_id)
        community = await self.session.get(Community, campaign.community_id)
        assert community is not None
        chat_id = office if office is not None else owner.telegram_id
        locale = community.locale if office is not None else self.members.locale_for(owner, community)
        job = await BackgroundService(self.session, self.clock).submit(
            kind="campaign_xlsx", member_id=owner.id, chat_id=chat_id, locale=locale,
            params={"campaign_id": campaign.id})
        if job is not None:
            campaign.xlsx_queued_at = self.clock()

    async def for_export(self, scope: Any) -> list[tuple[int, str]]:
        """The campaigns /export offers for a ledger scope (its community's, newest first)."""
        rows = (await self.session.execute(select(Campaign.id, Campaign.name).where(
            Campaign.community_id == scope.community_id).order_by(Campaign.id.desc()).limit(6))).all()
        return [(int(i), str(n)) for i, n in rows]

    async def export_span(self, scope: Any, raw_id: str) -> tuple[Campaign, date, date]:
        """The campaign of an /export button (re-checked: of the scope's community) and the days its issues
        were reported in: from its first issue (one added by hand may be older) to its last day."""
        from bot.services.ledger import LedgerError

        campaign = await self.session.get(Campaign, int(raw_id)) if raw_id.isdigit() else None
        if campaign is None or campaign.community_id != scope.community_id:
            raise LedgerError("scope")
        community = await self.session.get(Community, campaign.community_id)
        assert community is not None
        tz = ZoneInfo(community.timezone)
        first = (await self.session.execute(select(func.min(Issue.created_at)).join(
            CampaignIssue, CampaignIssue.issue_id == Issue.id).where(
            CampaignIssue.campaign_id == campaign.id))).scalar_one()
        start = min(first.astimezone(tz).date(), campaign.start_day) if first else campaign.start_day
        end = max(campaign.end_day, self.clock().astimezone(tz).date())
        return campaign, start, end

    async def ids_of(self, campaign_id: int) -> list[int]:
        return list((await self.session.execute(select(CampaignIssue.issue_id).where(
            CampaignIssue.campaign_id == campaign_id).order_by(CampaignIssue.issue_id))).scalars())


# ---------------------------------------------------------------------------- for other capabilities


async def campaign_sections(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime,
                            clock: Clock | None = None) -> list[Progress]:
    """The weekly report's campaign section: the progress of every campaign running during the period,
    as it stood at the period's end."""
    community = await session.get(Community, community_id)
    if community is None:
        return []
    svc = CampaignsService(session, clock or (lambda: end_utc))
    tz = ZoneInfo(community.timezone)
    first, last = start_utc.astimezone(tz).date(), (end_utc - timedelta(seconds=1)).astimezone(tz).date()
    out = []
    for c in (await session.execute(select(Campaign).where(
            Campaign.community_id == community_id, Campaign.start_day <= last, Campaign.end_day >= first)
            .order_by(Campaign.id))).scalars():
        out.append(await svc.progress(c, min(end_utc, svc.clock())))
    return out


async def campaign_names(session: AsyncSession, issue_ids: list[int]) -> dict[int, list[str]]:
    """The campaigns of some issues by name (the ledger's Campaigns column)."""
    out: dict[int, list[str]] = {}
    if not issue_ids:
        return out
    for issue_id, name in (await session.execute(select(CampaignIssue.issue_id, Campaign.name).join(
            Campaign, Campaign.id == CampaignIssue.campaign_id).where(CampaignIssue.issue_id.in_(issue_ids))
            .order_by(Campaign.id))).all():
        out.setdefault(issue_id, []).append(name)
    return out


def in_campaign(campaign_id: int) -> Any:
    """A condition on Issue for "belongs to this campaign" (the /queue and /export filters)."""
    return exists().where(CampaignIssue.issue_id == Issue.id, CampaignIssue.campaign_id == campaign_id)


# ---------------------------------------------------------------------------- wiring


async def _issue_created(session: AsyncSession, clock: Clock, issue: Issue) -> None:
    await CampaignsService(session, clock).join_new_issue(issue)


def _register_hook() -> None:
    from bot.services.reporting import ISSUE_CREATED_HOOKS

    ISSUE_CREATED_HOOKS["campaigns"] = _issue_created


_register_hook()


@job("campaigns")
async def campaigns_job(session: AsyncSession, ctx: JobContext) -> None:
    """Announce phases whose start has come; send the office the summary of campaigns that ended (the
    words: bot/notices/campaigns.py; the outbox keys carry campaign, phase and recipient, so once only)."""
    members = MembersService(session, ctx.clock, ctx.settings.admin_ids)
    svc = CampaignsService(session, ctx.clock, members)
    for campaign, index in await svc.due_phases():
        await svc.events.record(CampaignPhaseStarted(campaign.id, index))
    for campaign in await svc.ended():
        await svc.events.record(CampaignEnded(campaign.id))
        campaign.summary_at = svc.clock()
        await svc.queue_xlsx(campaign)
    # A spreadsheet the worker could not take yet (its owner had another job running) is tried again.
    for campaign in (await session.execute(select(Campaign).where(
            Campaign.status == "ended", Campaign.xlsx_queued_at.is_(None)))).scalars():
        await svc.queue_xlsx(campaign)


@on_erased("campaigns")
async def _forget(session: AsyncSession, clock: Clock, member: Member, erased: Erased) -> None:
    # Who started a campaign or added an issue by hand is a trace of the person: dropped, the facts stay.
    await session.execute(update(Campaign).where(Campaign.created_by == member.id).values(created_by=None))
    await session.execute(update(CampaignIssue).where(CampaignIssue.added_by == member.id).values(added_by=None))
