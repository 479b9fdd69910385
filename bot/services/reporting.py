"""Reporting: the category catalogue, drafts, duplicate detection, filing an issue exactly once,
following, rebound reopening, the reporter's own edits and withdrawal, /my and /issue look-ups.

No aiogram here: handlers/reporting.py turns Telegram updates into these calls. The draft of a report
lives in the FSM data (a plain dict, in the database) and is converted with `Draft.from_dict`.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from bot.services.access import Actor, Level, NotAllowed, Place, can, require
from bot.services.base import CommunityService
from bot.services.cards import CardService, PublishResult
from bot.services.chats import ChatsService
from bot.services.lifecycle import IssueAction, allows, transition
from bot.services.limits import URGENT_REPORTS, enforce_daily
from bot.services.members import MembersService
from bot.services.outbox import Outbox
from models import Building, CloseHow, Community, Issue, IssueEvent, IssueFollower, IssuePhoto, IssueStatus, Member

MAX_PHOTOS = 10
MAX_DESCRIPTION = 1000
MAX_DISTANCE_M = 5_000  # a pin further than this from every building is not in the community
DUPLICATE_RADIUS_M = 50
DUPLICATE_WINDOW = timedelta(days=30)
PAGE_SIZE = 5

# Capabilities that act on every newly filed issue, in its transaction and before its card is published
# (campaigns: the issue joins the campaigns running for its category, place and day). Registered by name
# at import, so a second import replaces rather than doubles.
IssueCreatedHook = Callable[[AsyncSession, Clock, Issue], Awaitable[None]]
ISSUE_CREATED_HOOKS: dict[str, IssueCreatedHook] = {}
_REFERENCE = re.compile(r"^#?([A-Za-z]{2,4})(\d{1,7})$")


# ---------------------------------------------------------------------------------- categories


@dataclass(frozen=True)
class Category:
    key: str
    en: str
    zh: str
    emoji: str
    deadline_days: int
    urgent: bool = False

    def label(self, locale: str) -> str:
        """The name in a locale (the reader's, chosen by the caller); data, not gettext, because a
        community may define its own categories in both languages in its structure file."""
        return self.zh if locale.startswith("zh") else self.en

    def button(self, locale: str) -> str:
        return f"{self.emoji} {self.label(locale)}".strip()


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("fire_lane", "Blocked fire lane or exit", "占用消防通道", "🚒", 1, True),
    Category("ebike_charging", "Dangerous e-bike charging", "飞线充电", "🔌", 1, True),
    Category("litter", "Litter / dirty spot", "垃圾/卫生死角", "🗑", 1),
    Category("clutter", "Stairwell clutter", "楼道乱堆乱放", "📦", 3),
    Category("lighting", "Broken lamp", "照明损坏", "💡", 3),
    Category("road", "Road damage / pothole", "路面破损/坑洼积水", "🕳", 7),
    Category("drainage", "Drain / sewage / manhole", "排水不畅/窨井盖", "🚰", 3),
    Category("parking", "Disorderly parking", "乱停乱放/僵尸车", "🅿️", 3),
    Category("security", "Safety or security concern", "治安隐患", "🚨", 1, True),
    Category("waste_sorting", "Bins overflowing", "垃圾分类/垃圾外溢", "♻️", 1),
    Category("posters", "Illegal posters / graffiti", "小广告/乱贴乱画", "🪧", 3),
    Category("greenery", "Damaged greenery", "绿化损毁/黄土裸露", "🌳", 7),
    Category("construction", "Illegal construction", "违章搭建", "🏗", 7),
    Category("street_vending", "Street vending", "占道经营", "🛒", 3),
    Category("dogs", "Uncivil dog keeping", "不文明养犬", "🐕", 3),
    Category("facility", "Broken facility", "设施损坏", "🔧", 7),
    Category("other", "Other", "其他", "📝", 7),
)
_DEFAULTS = {c.key: c for c in DEFAULT_CATEGORIES}


def categories(community: Community | None) -> list[Category]:
    """The community's list: `community.settings["categories"]` (structure key `community.categories`)
    replaces the defaults; labels missing there come from the default of the same key."""
    custom = (community.settings or {}).get("categories") if community is not None else None
    if not custom:
        return list(DEFAULT_CATEGORIES)
    out: list[Category] = []
    for raw in custom:
        key = str(raw.get("key") or "").strip()
        if not key:
            continue
        base = _DEFAULTS.get(key)
        en = raw.get("en") or (base.en if base else None) or raw.get("zh") or key
        zh = raw.get("zh") or (base.zh if base else None) or en
        out.append(Category(
            key=key, en=str(en), zh=str(zh), emoji=str(raw.get("emoji") or (base.emoji if base else "📝")),
            deadline_days=int(raw.get("deadline_days") or (base.deadline_days if base else 3)),
            urgent=bool(raw.get("urgent", base.urgent if base else False))))
    return out or list(DEFAULT_CATEGORIES)


def category(community: Community | None, key: str) -> Category:
    """A category by key; an unknown key (a category removed since) still renders, as "other"-like."""
    for c in categories(community):
        if c.key == key:
            return c
    base = _DEFAULTS.get(key)
    return base or Category(key, key, key, "📝", 7)


# ---------------------------------------------------------------------------------- geometry


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine; plenty for 50 m / 5 km decisions)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


class TooFar(Exception):
    """A location pin further than MAX_DISTANCE_M from every building of the community."""

    def __init__(self, distance: float) -> None:
        super().__init__(distance)
        self.distance = distance


# ---------------------------------------------------------------------------------- drafts


@dataclass
class Draft:
    """A report being written. Kept in the FSM data (JSON) so it survives a restart."""

    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    community_id: int | None = None
    photos: list[str] = field(default_factory=list)
    photos_done: bool = False
    category: str | None = None
    building_id: int | None = None
    lat: float | None = None
    lon: float | None = None
    place_done: bool = False
    description: str | None = None
    description_done: bool = False
    duplicates_done: bool = False
    shift_id: int | None = None
    cleaning_day_id: int | None = None
    # The step an Edit returns from: after it, go straight back to the preview.
    editing: bool = False
    album: str | None = None
    album_seq: int = 0
    # Issue ids the similar-report question offered in this conversation: "Same — follow it" and "It
    # came back" accept only these (callback data is untrusted; a forged id is refused).
    offered: list[int] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Draft:
        raw = dict((data or {}).get("draft") or {})
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return {"draft": asdict(self)}

    def next_step(self) -> str:
        """The first thing still missing: photos → category → place → description → duplicates →
        preview. A quick report (photo with caption) has its description already and skips it."""
        if not self.photos_done:
            return "photos"
        if self.category is None:
            return "category"
        if not self.place_done:
            return "place"
        if not self.description_done:
            return "description"
        if not self.duplicates_done:
            return "duplicates"
        return "preview"

    def add_photos(self, file_ids: list[str]) -> int:
        """Add photos up to the limit; returns how many were dropped."""
        room = MAX_PHOTOS - len(self.photos)
        fresh = [f for f in file_ids if f not in self.photos]
        self.photos.extend(fresh[:max(0, room)])
        return max(0, len(fresh) - max(0, room))


@dataclass(frozen=True)
class Duplicate:
    issue: Issue
    building_name: str | None
    is_open: bool


@dataclass(frozen=True)
class Created:
    issue: Issue
    new: bool
    published: PublishResult | None


@dataclass(frozen=True)
class IssuePage:
    items: list[Issue]
    page: int
    pages: int
    total: int


def parse_reference(text: str) -> tuple[str, int] | None:
    """"NC0042", "#nc0042", "NC42" → ("NC", 42)."""
    match = _REFERENCE.match(text.strip())
    if not match:
        return None
    return match.group(1).upper(), int(match.group(2))


def issue_place(issue: Issue) -> Place:
    return Place(issue.community_id, issue.area_id, issue.building_id)


# ---------------------------------------------------------------------------------- service


class ReportingService(CommunityService):
    def __init__(self, session: AsyncSession, clock: Clock = system_clock, members: MembersService | None = None,
                 chats: ChatsService | None = None, outbox: Outbox | None = None,
                 cards: CardService | None = None) -> None:
        super().__init__(session, clock, members, chats, outbox)
        self.cards = cards or CardService(session, clock, self.members, self.chats, self.outbox)

    # ------------------------------------------------------------------ where the reporter belongs

    async def community_for(self, member: Member, draft: Draft | None = None) -> Community | None:
        """The draft's community, else the community of the member's own building, else their first."""
        if draft is not None and draft.community_id is not None:
            return await self.session.get(Community, draft.community_id)
        if draft is not None and draft.building_id is not None:
            building = await self.session.get(Building, draft.building_id)
            if building is not None:
                return await self.session.get(Community, building.community_id)
        homes = await self.members.home_buildings(member)
        if homes:
            return await self.session.get(Community, homes[0].community_id)
        communities = await self.members.member_communities(member)
        return communities[0] if communities else None

    async def place_choices(self, member: Member, community_id: int) -> tuple[list[Building], list[Building]]:
        """(the member's own buildings, every other building of the community)."""
        own = [b for b in await self.members.home_buildings(member) if b.community_id == community_id]
        own_ids = {b.id for b in own}
        others = [b for b in await self.members.buildings(community_id=community_id) if b.id not in own_ids]
        return own, others

    async def building(self, building_id: int, community_id: int | None = None) -> Building:
        building = await self.session.get(Building, building_id)
        if building is None or (community_id is not None and building.community_id != community_id):
            raise LookupError("building")
        return building

    async def locate(self, community_id: int, lat: float, lon: float) -> Building | None:
        """The nearest building to a pin; TooFar when every building is more than 5 km away. None when
        no building has coordinates (the pin cannot be checked and the report goes to the office)."""
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise TooFar(float("inf"))
        best: tuple[float, Building] | None = None
        for b in await self.members.buildings(community_id=community_id):
            if b.lat is None or b.lon is None:
                continue
            d = distance_m(lat, lon, b.lat, b.lon)
            if best is None or d < best[0]:
                best = (d, b)
        if best is None:
            return None
        if best[0] > MAX_DISTANCE_M:
            raise TooFar(best[0])
        return best[1]

    # ------------------------------------------------------------------ duplicates

    async def duplicates(self, community_id: int, draft: Draft, limit: int = 3,
                         viewer: Member | None = None) -> list[Duplicate]:
        """Likely the same problem: same category and (same building, or within 50 m of the pin);
        open and reported in the last 30 days, or fixed (resolved/closed) in the last 30 days. With a
        `viewer`, only issues that person may see: following one makes it visible to them, so offering
        another building's issue would name it to someone without the right to see it."""
        if draft.category is None:
            return []
        since = self.clock() - DUPLICATE_WINDOW
        fixed_at = func.coalesce(Issue.closed_at, Issue.resolved_at)
        stmt = select(Issue).where(
            Issue.community_id == community_id, Issue.category == draft.category,
            or_(
                Issue.status.in_(IssueStatus.OPEN) & (Issue.created_at >= since),
                Issue.status.in_((IssueStatus.RESOLVED, IssueStatus.CLOSED)) & (fixed_at >= since),
            ))
        candidates = list((await self.session.execute(stmt.order_by(Issue.created_at.desc()).limit(200))).scalars())
        found: list[tuple[int, float, Issue]] = []
        actor = await self.members.actor(viewer) if viewer is not None else None
        for issue in candidates:
            near = math.inf
            if draft.lat is not None and draft.lon is not None and issue.lat is not None and issue.lon is not None:
                near = distance_m(draft.lat, draft.lon, issue.lat, issue.lon)
            same_building = draft.building_id is not None and issue.building_id == draft.building_id
            if not same_building and near > DUPLICATE_RADIUS_M:
                continue
            if viewer is not None and actor is not None and not await self.can_view(actor, viewer, issue):
                continue
            # Open ones first (follow), then the closest, then the newest.
            found.append((0 if issue.is_open else 1, near, issue))
        found.sort(key=lambda t: (t[0], t[1], -t[2].created_at.timestamp()))
        out = []
        for _rank, _near, issue in found[:limit]:
            building = await self.session.get(Building, issue.building_id) if issue.building_id else None
            out.append(Duplicate(issue, building.name if building else None, issue.is_open))
        return out

    # ------------------------------------------------------------------ filing

    async def create(self, member: Member, actor: Actor, draft: Draft, *, urgent_cap: bool = True) -> Created:
        """File the draft as an issue, exactly once per draft token, and publish its card. `urgent_cap`
        False: filed by an inspection (area heads, staff, an inspector the office chose), not subject to
        the residents' daily cap on urgent reports."""
        existing = await self._by_token(draft.token)
        if existing is not None:
            return Created(existing, False, None)
        community = await self.community_for(member, draft)
        if community is None:
            raise NotAllowed("report", None, Level.RESIDENT)
        building = await self.building(draft.building_id, community.id) if draft.building_id else None
        place = Place(community.id, building.area_id if building else None, building.id if building else None)
        require(actor, "report", place)
        if draft.category is None:
            raise ValueError("category")
        cat = category(community, draft.category)
        # Serialise numbering per community (PostgreSQL row lock; SQLite writers are serial anyway),
        # then look for the token again: a concurrent double press may have filed it meanwhile.
        await self.session.execute(select(Community.id).where(Community.id == community.id).with_for_update())
        existing = await self._by_token(draft.token)
        if existing is not None:
            return Created(existing, False, None)
        if cat.urgent and urgent_cap:
            # Urgent reports skip quiet hours and wake captains and the office: capped per person and
            # day (counted under the community lock above, so two at once cannot both pass).
            await enforce_daily(self.session, community, URGENT_REPORTS, self.clock(), lambda since: (
                select(func.count()).select_from(Issue).where(
                    Issue.reporter_id == member.id, Issue.urgent.is_(True), Issue.created_at >= since)))
        number = (await self.session.execute(
            update(Community).where(Community.id == community.id)
            .values(next_issue_number=Community.next_issue_number + 1)
            .returning(Community.next_issue_number))).scalar_one() - 1
        now = self.clock()
        issue = Issue(
            community_id=community.id, number=number, reference=f"{community.code}{number:04d}",
            client_token=draft.token, area_id=place.area_id, building_id=place.building_id,
            category=cat.key, urgent=cat.urgent, status=IssueStatus.NEW,
            description=(draft.description or "")[:MAX_DESCRIPTION], lat=draft.lat, lon=draft.lon,
            reporter_id=member.id, deadline_at=now + timedelta(days=cat.deadline_days),
            shift_id=draft.shift_id, cleaning_day_id=draft.cleaning_day_id, created_at=now, updated_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(issue)
                await self.session.flush()
        except IntegrityError:
            existing = await self._by_token(draft.token)
            if existing is not None:
                return Created(existing, False, None)
            raise
        for i, file_id in enumerate(draft.photos[:MAX_PHOTOS]):
            self.session.add(IssuePhoto(issue_id=issue.id, file_id=file_id, kind="before", position=i))
        self.session.add(IssueEvent(issue_id=issue.id, actor_id=member.id, at=now, kind="created",
                                    to_status=IssueStatus.NEW, public=True))
        self.session.add(IssueFollower(issue_id=issue.id, member_id=member.id, created_at=now))
        await self.session.flush()
        for hook in ISSUE_CREATED_HOOKS.values():
            await hook(self.session, self.clock, issue)
        published = await self.cards.publish(issue)
        return Created(issue, True, published)

    async def _by_token(self, token: str) -> Issue | None:
        return (await self.session.execute(select(Issue).where(Issue.client_token == token))).scalar_one_or_none()

    async def by_token(self, token: str) -> Issue | None:
        """The issue a draft became, if it was sent (a second press of Send)."""
        return await self._by_token(token) if token else None

    async def photos(self, issue: Issue, kind: str = "before") -> list[str]:
        return list((await self.session.execute(
            select(IssuePhoto.file_id).where(IssuePhoto.issue_id == issue.id, IssuePhoto.kind == kind)
            .order_by(IssuePhoto.position, IssuePhoto.id))).scalars())

    # ------------------------------------------------------------------ looking issues up

    async def get(self, issue_id: int) -> Issue:
        issue = await self.session.get(Issue, issue_id)
        if issue is None:
            raise LookupError("issue")
        return issue

    async def by_reference(self, text: str) -> Issue | None:
        parsed = parse_reference(text)
        if parsed is None:
            return None
        code, number = parsed
        return (await self.session.execute(
            select(Issue).join(Community, Community.id == Issue.community_id)
            .where(Community.code == code, Issue.number == number))).scalar_one_or_none()

    async def community_of(self, issue: Issue) -> Community | None:
        return await self.session.get(Community, issue.community_id)

    async def is_follower(self, member: Member, issue: Issue) -> bool:
        return (await self.session.execute(select(IssueFollower.id).where(
            IssueFollower.issue_id == issue.id, IssueFollower.member_id == member.id))).first() is not None

    async def can_view(self, actor: Actor, member: Member, issue: Issue) -> bool:
        """The reporter, followers, and anyone with view rights at the issue's place."""
        if issue.reporter_id == member.id or can(actor, "view_issue", issue_place(issue)):
            return True
        return await self.is_follower(member, issue)

    def may_see_reporter(self, actor: Actor, issue: Issue) -> bool:
        """Captains and above of that place, in private views only (callers never pass group chats)."""
        return can(actor, "view_reporter", issue_place(issue))

    async def viewable(self, actor: Actor, member: Member, issue_id: int) -> Issue:
        issue = await self.get(issue_id)
        if not await self.can_view(actor, member, issue):
            raise NotAllowed("view_issue", issue_place(issue), Level.RESIDENT)
        return issue

    async def my_issues(self, member: Member, page: int = 0, per_page: int = PAGE_SIZE) -> IssuePage:
        """Issues the member reported or follows, newest first."""
        followed = select(IssueFollower.issue_id).where(IssueFollower.member_id == member.id)
        where = or_(Issue.reporter_id == member.id, Issue.id.in_(followed))
        total = int((await self.session.execute(select(func.count()).select_from(Issue).where(where))).scalar_one())
        pages = max(1, math.ceil(total / per_page))
        page = min(max(0, page), pages - 1)
        items = list((await self.session.execute(
            select(Issue).where(where).order_by(Issue.created_at.desc(), Issue.id.desc())
            .offset(page * per_page).limit(per_page))).scalars())
        return IssuePage(items, page, pages, total)

    # ------------------------------------------------------------------ following and rebounds

    async def follow(self, member: Member, actor: Actor, issue_id: int,
                     offered: Collection[int] | None = None) -> tuple[Issue, bool]:
        """Follow an issue: 🔔 Follow under a view, or the "same problem" answer of /report, which
        passes the ids its question `offered`. Returns (issue, newly).

        Following makes an issue visible to the follower, so it needs the right to view the issue at
        its place now; the right to report there is not enough (anyone in a community may report
        anywhere in it)."""
        issue = await self.get(issue_id)
        await self._require_offered_and_visible(member, actor, issue, offered)
        return await self._add_follower(member, issue)

    async def _require_offered_and_visible(self, member: Member, actor: Actor, issue: Issue,
                                           offered: Collection[int] | None) -> None:
        if offered is not None and issue.id not in offered:
            raise NotAllowed("view_issue", issue_place(issue), None)
        if not await self.can_view(actor, member, issue):
            raise NotAllowed("view_issue", issue_place(issue), None)

    async def _add_follower(self, member: Member, issue: Issue) -> tuple[Issue, bool]:
        if await self.is_follower(member, issue):
            return issue, False
        try:
            async with self.session.begin_nested():
                self.session.add(IssueFollower(issue_id=issue.id, member_id=member.id, created_at=self.clock()))
                await self.session.flush()
        except IntegrityError:
            return issue, False
        return issue, True

    async def reopen_rebound(self, member: Member, actor: Actor, issue_id: int, *, offered: Collection[int],
                             photos: list[str] | None = None, note: str | None = None) -> tuple[Issue, bool]:
        """A fixed problem came back (反弹回潮): reopen it instead of filing a new one. The reporter of
        the rebound follows it and their photos join the issue. Returns (issue, changed).

        Only an issue the similar-report question `offered` in this conversation, and only while the
        person may view it at its place."""
        issue = await self.get(issue_id)
        await self._require_offered_and_visible(member, actor, issue, offered)
        if not allows(IssueAction.REBOUND, issue):
            await self._add_follower(member, issue)
            return issue, False
        now = self.clock()
        community = await self.session.get(Community, issue.community_id)
        old = transition(issue, IssueAction.REBOUND, IssueStatus.REOPENED)
        issue.reopen_count += 1
        issue.overdue = False
        issue.closed_at = None
        issue.deadline_at = now + timedelta(days=category(community, issue.category).deadline_days)
        issue.updated_at = now
        self.session.add(IssueEvent(issue_id=issue.id, actor_id=member.id, at=now, kind="reopened",
                                    from_status=old, to_status=IssueStatus.REOPENED,
                                    note=(note or "")[:MAX_DESCRIPTION] or None, public=True))
        start = int((await self.session.execute(select(func.count()).select_from(IssuePhoto).where(
            IssuePhoto.issue_id == issue.id))).scalar_one())
        for i, file_id in enumerate((photos or [])[:MAX_PHOTOS]):
            self.session.add(IssuePhoto(issue_id=issue.id, file_id=file_id, kind="before", position=start + i))
        await self.session.flush()
        await self._add_follower(member, issue)
        await self.cards.refresh(issue)
        await self.cards.announce(issue, "reopened")
        return issue, True

    # ------------------------------------------------------------------ the reporter's own changes

    def _require_reporter_while_new(self, member: Member, issue: Issue) -> None:
        if issue.reporter_id != member.id:
            raise NotAllowed("edit_report", issue_place(issue), None)

    async def withdraw(self, member: Member, issue_id: int) -> tuple[Issue, bool]:
        """The reporter takes back a report nobody accepted yet. Returns (issue, changed)."""
        issue = await self.get(issue_id)
        self._require_reporter_while_new(member, issue)
        if not allows(IssueAction.WITHDRAW, issue):
            return issue, False
        now = self.clock()
        transition(issue, IssueAction.WITHDRAW, IssueStatus.WITHDRAWN)
        issue.closed_at = now
        issue.closed_by_id, issue.close_how = member.id, CloseHow.WITHDRAWN
        issue.updated_at = now
        self.session.add(IssueEvent(issue_id=issue.id, actor_id=member.id, at=now, kind="withdrawn",
                                    from_status=IssueStatus.NEW, to_status=IssueStatus.WITHDRAWN, public=True))
        await self.session.flush()
        await self.cards.refresh(issue)
        return issue, True

    async def edit_description(self, member: Member, issue_id: int, text: str) -> tuple[Issue, bool]:
        """The reporter rewrites the description while the report is new. Returns (issue, changed)."""
        issue = await self.get(issue_id)
        self._require_reporter_while_new(member, issue)
        text = text.strip()
        if len(text) > MAX_DESCRIPTION:
            raise ValueError("too long")
        if not allows(IssueAction.EDIT, issue) or text == issue.description:
            return issue, False
        now = self.clock()
        issue.description = text
        issue.updated_at = now
        self.session.add(IssueEvent(issue_id=issue.id, actor_id=member.id, at=now, kind="edited", public=True))
        await self.session.flush()
        await self.cards.refresh(issue)
        return issue, True


__all__ = ["DEFAULT_CATEGORIES", "Category", "Created", "Draft", "Duplicate", "IssuePage", "ReportingService",
           "TooFar", "categories", "category", "distance_m", "issue_place", "parse_reference"]
