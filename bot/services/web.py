"""The office's desk (web dashboard): who may enter, one-time sign-in links, browser sessions, and the
figures its pages show. Rules only: the aiohttp layer (bot/web/) checks Telegram's signatures, renders
pages and calls these."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from bot.services.access import Actor, Place, can
from bot.services.ledger import Scope
from models import Area, Community, Issue, IssueStatus, Member
from models.web import WebLoginToken, WebSession

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
OPEN = IssueStatus.OPEN


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Signed:
    member_id: int
    csrf: str
    token: str  # the raw cookie value, handed to the browser once


class WebService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock

    # ------------------------------------------------------------------ who may enter

    async def scopes(self, actor: Actor) -> list[Scope]:
        """Where the actor may look: whole communities (staff, admins), else their areas (area heads).
        Empty for everyone else: residents, volunteers and captains keep to the chat."""
        out: list[Scope] = []
        communities = (await self.session.execute(select(Community).order_by(Community.id))).scalars().all()
        for community in communities:
            if can(actor, "dashboard", Place(community.id)):
                out.append(Scope(community.id, None, community.name))
                continue
            for grant in actor.roles("area_head"):
                if grant.community_id == community.id and grant.area_id is not None:
                    area = await self.session.get(Area, grant.area_id)
                    if area is not None and can(actor, "dashboard", Place(community.id, area.id)):
                        out.append(Scope(community.id, area.id, f"{community.name} · {area.name}"))
        return out

    # ------------------------------------------------------------------ sign-in links (/web)

    async def issue_link(self, member: Member) -> str:
        """A fresh one-time sign-in secret for the member; only its hash is stored."""
        raw = secrets.token_urlsafe(32)
        now = self.clock()
        # Old links of this person go: one valid link at a time, and the table stays small.
        await self.session.execute(delete(WebLoginToken).where(
            (WebLoginToken.member_id == member.id) | (WebLoginToken.expires_at < now)))
        self.session.add(WebLoginToken(token_hash=_hash(raw), member_id=member.id, expires_at=now + LINK_TTL,
                                       created_at=now))
        await self.session.flush()
        return raw

    async def redeem_link(self, raw: str) -> int | None:
        """The member a link signs in, once: a single UPDATE claims it, so two clicks at once do not both
        succeed. None when unknown, used or expired."""
        if not raw or len(raw) > 128:
            return None
        now = self.clock()
        claimed = (await self.session.execute(
            update(WebLoginToken)
            .where(WebLoginToken.token_hash == _hash(raw), WebLoginToken.used_at.is_(None),
                   WebLoginToken.expires_at > now)
            .values(used_at=now).returning(WebLoginToken.member_id))).scalar_one_or_none()
        return claimed

    # ------------------------------------------------------------------ sessions

    async def open_session(self, member_id: int, via: str) -> Signed:
        raw, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = self.clock()
        await self.session.execute(delete(WebSession).where(WebSession.expires_at < now))
        self.session.add(WebSession(token_hash=_hash(raw), csrf=csrf, member_id=member_id, via=via,
                                    expires_at=now + SESSION_TTL, created_at=now))
        await self.session.flush()
        return Signed(member_id, csrf, raw)

    async def current(self, raw: str | None) -> Signed | None:
        if not raw or len(raw) > 128:
            return None
        row = (await self.session.execute(select(WebSession).where(
            WebSession.token_hash == _hash(raw), WebSession.expires_at > self.clock()))).scalar_one_or_none()
        return Signed(row.member_id, row.csrf, raw) if row is not None else None

    async def close_session(self, raw: str | None) -> None:
        if raw:
            await self.session.execute(delete(WebSession).where(WebSession.token_hash == _hash(raw)))

    # ------------------------------------------------------------------ Today

    async def today(self, scope: Scope, *, limit: int = 20) -> Today:
        """The exceptions the digest names (urgent, overdue, escalated, reopened, awaiting verification) and
        the day's and week's figures, for the scope."""
        now = self.clock()
        where = [Issue.community_id == scope.community_id]
        if scope.area_id is not None:
            where.append(Issue.area_id == scope.area_id)
        open_ = Issue.status.in_(OPEN)

        async def rows(*cond: ColumnElement[bool]) -> list[IssueLine]:
            found = (await self.session.execute(
                select(Issue.id, Issue.reference, Issue.category, Issue.status, Issue.deadline_at)
                .where(*where, *cond).order_by(Issue.created_at.desc()).limit(limit))).all()
            return [IssueLine(*r) for r in found]

        async def count(*cond: ColumnElement[bool]) -> int:
            return int((await self.session.execute(select(func.count()).select_from(Issue)
                                                   .where(*where, *cond))).scalar_one())

        day, week = now - timedelta(days=1), now - timedelta(days=7)
        return Today(
            urgent=await rows(open_, Issue.urgent.is_(True)),
            overdue=await rows(open_, Issue.overdue.is_(True)),
            escalated=await rows(open_, Issue.escalation_level > 0),
            reopened=await rows(open_, Issue.reopen_count > 0),
            # Fixed and waiting for the office's check (验收): the digest names these among its exceptions too.
            verifying=await rows(Issue.status == IssueStatus.VERIFYING),
            new_day=await count(Issue.created_at >= day), new_week=await count(Issue.created_at >= week),
            resolved_day=await count(Issue.resolved_at >= day), resolved_week=await count(Issue.resolved_at >= week),
            open_now=await count(open_),
        )


    # ------------------------------------------------------------------ Ledger and Issue

    async def ledger(self, scope: Scope, f: LedgerFilter) -> LedgerPage:
        """One page of the ledger, filtered and sorted in SQL. No total count: counting a million rows on every
        click costs more than the page; a "next" link is enough (one row more than a page is fetched)."""
        q = self._ledger_columns()
        page = max(1, min(f.page, 10_000))
        full = q.where(*self._conditions(scope, f, await self._wide(f))).order_by(*self._order(f)) \
            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
        if self._searches_on_postgres(f, page):
            found = await self._search(q, scope, f, page, full)
        else:
            found = list((await self.session.execute(full)).all())
        rows = [LedgerRow(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), r[6] or "", (r[7] or "")[:140], r[8], r[9])
                for r in found[:PAGE_SIZE]]
        return LedgerPage(rows, page, len(found) > PAGE_SIZE)


    def _conditions(self, scope: Scope, f: LedgerFilter, wide: bool = False) -> list[Any]:
        """The WHERE of a ledger view: the scope (an area head's area) and every filter. The page and its
        export share it, so "Export this view" writes exactly the rows the filters show."""
        c: list[Any] = [Issue.community_id == scope.community_id]
        if scope.area_id is not None:
            c.append(Issue.area_id == scope.area_id)
        if f.area_id is not None:
            c.append(Issue.area_id == f.area_id)
        if f.status == "open":
            c.append(Issue.status.in_(IssueStatus.OPEN))
        elif f.status:
            c.append(Issue.status == f.status)
        if f.category:
            c.append(Issue.category == f.category)
        if f.building_id is not None:
            c.append(Issue.building_id == f.building_id)
        if f.triage:
            c.append(Issue.triage == f.triage)
        if f.since is not None:
            c.append(Issue.created_at >= f.since)
        if f.until is not None:
            c.append(Issue.created_at < f.until)
        if f.overdue:
            c.append(Issue.overdue.is_(True))
        text = f.text.strip().lstrip("#")
        if text:
            if self._is_reference(text):
                # A reference first: one row by its unique key.
                c.append(Issue.reference == text.upper())
            else:
                c.append(self._text_condition(text, wide))
        return c

    async def _window_first(self, session: AsyncSession, q: Any, scope: Scope, f: LedgerFilter,
                            page: int) -> list[Any] | None:
        """PostgreSQL, a free-text search: look for the page among the first WINDOW issues of the sort order
        (the other filters applied) before asking the trigram index. A word in one description of a few
        hundred fills a page within some thousands of rows, walked along the sort order's index and stopped
        as soon as the page is full; the trigram index would instead hand over every row holding the
        word's three-letter pieces (tens of thousands in a million) to be re-checked and sorted. The window
        is a prefix of the sort order, so when it holds the page (and one row more, to tell "next") those
        are exactly the rows the full query returns; otherwise None, and the caller asks the index."""
        text = f.text.strip().lstrip("#")
        column = SORTS.get(f.sort.lstrip("-"), Issue.created_at)
        window = select(Issue.id.label("id"), column.label("k"), Issue.description.label("d")) \
            .where(*self._conditions(scope, replace(f, text=""))).order_by(*self._order(f)) \
            .limit(WINDOW * page).subquery()  # page n needs about n times the rows
        key = window.c.k.desc() if f.sort.startswith("-") else window.c.k.asc()
        ids = list((await session.execute(
            select(window.c.id).where(self._ilike(window.c.d, text)).order_by(key, window.c.id.desc())
            .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))).scalars())
        if len(ids) <= PAGE_SIZE:
            return None
        return list((await session.execute(q.where(Issue.id.in_(ids)).order_by(*self._order(f)))).all())

    @staticmethod
    def _ledger_columns() -> Any:
        from models import Building

        return select(Issue.id, Issue.reference, Issue.category, Issue.status, Issue.urgent, Issue.overdue,
                      Building.name, Issue.description, Issue.created_at, Issue.deadline_at) \
            .outerjoin(Building, Building.id == Issue.building_id)

    def _searches_on_postgres(self, f: LedgerFilter, page: int) -> bool:
        text = f.text.strip().lstrip("#")
        return self._dialect() == "postgresql" and bool(text) and not self._is_reference(text) \
            and page <= WINDOW_PAGES

    async def _search(self, q: Any, scope: Scope, f: LedgerFilter, page: int, full: Any) -> list[Any]:
        """A free-text search on PostgreSQL. The trigram index answers a rare word in milliseconds but a
        common one (or a phrase of common words) in hundreds: it re-checks every row holding the word's
        pieces, then sorts them all. Walking the sort order and testing each description finds a common
        word's page in a few thousand rows but never ends for a rare one. So the index gets INDEX_MS; if it
        needs more it is cancelled and the walk tries the first WINDOW issues; if they do not hold the
        page, the index is asked again without a limit. (Running both at once was measured too: on a busy
        machine the two queries slow each other down more than the walk saves.)"""
        found = await self._within(full, INDEX_MS)
        if found is None:
            found = await self._window_first(self.session, q, scope, f, page)
        if found is None:
            found = list((await self.session.execute(full)).all())
        return found

    async def _within(self, statement: Any, milliseconds: int) -> list[Any] | None:
        """The statement's rows, or None when PostgreSQL needs more than `milliseconds` for it (cancelled
        by statement_timeout inside a savepoint, so the transaction goes on and the setting is restored)."""
        from sqlalchemy import text as sql
        from sqlalchemy.exc import DBAPIError

        try:
            async with self.session.begin_nested():
                previous = (await self.session.execute(sql("SELECT current_setting('statement_timeout')"))).scalar_one()
                await self.session.execute(sql("SELECT set_config('statement_timeout', :v, true)"),
                                           {"v": f"{milliseconds}ms"})
                rows = list((await self.session.execute(statement)).all())
                await self.session.execute(sql("SELECT set_config('statement_timeout', :v, true)"), {"v": previous})
            return rows
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == "57014" or "statement timeout" in str(error):
                return None
            raise

    @staticmethod
    def _ilike(column: Any, text: str) -> Any:
        escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
        return column.ilike(f"%{escaped}%", escape="/")

    @staticmethod
    def _is_reference(text: str) -> bool:
        return text.upper() == text and any(ch.isdigit() for ch in text) and len(text) <= 16

    def _dialect(self) -> str:
        return self.session.bind.dialect.name if self.session.bind is not None else "sqlite"

    @staticmethod
    def _fts_rowids(text: str) -> Any:
        from sqlalchemy import column, literal_column
        from sqlalchemy import table as sql_table

        from models.search import FTS_TABLE

        fts = sql_table(FTS_TABLE, column("rowid"))
        phrase = '"' + text.replace('"', '""') + '"'  # one FTS5 string: the words as typed, in order
        return select(fts.c.rowid).where(literal_column(FTS_TABLE).op("MATCH")(phrase))

    async def _wide(self, f: LedgerFilter) -> bool:
        """Whether a free-text search matches so many issues that walking the ledger's sort order and testing
        each description finds a page sooner than sorting every match (SQLite; PostgreSQL's planner weighs
        this itself from its statistics). Counts at most WIDE + 1 matches in the index."""
        text = f.text.strip().lstrip("#")
        if self._dialect() != "sqlite" or len(text) < 3 or self._is_reference(text):
            return False
        n = (await self.session.execute(select(func.count()).select_from(
            self._fts_rowids(text).limit(WIDE + 1).subquery()))).scalar_one()
        return int(n) > WIDE

    def _text_condition(self, text: str, wide: bool = False) -> Any:
        """Issues whose description contains `text` (any case), through the search index of models/search.py:
        trigrams need three characters, so a shorter text (a two-character Chinese word) scans. A text
        matching more than WIDE issues is tested row by row along the sort order instead (see _wide)."""
        dialect = self._dialect()
        if dialect == "sqlite" and len(text) >= 3 and not wide:
            return Issue.id.in_(self._fts_rowids(text))
        if dialect == "postgresql":
            return self._ilike(Issue.description, text)
        return Issue.description.contains(text, autoescape=True)

    @staticmethod
    def _order(f: LedgerFilter) -> list[Any]:
        column = SORTS.get(f.sort.lstrip("-"), Issue.created_at)
        return [column.desc() if f.sort.startswith("-") else column.asc(), Issue.id.desc()]

    async def ledger_ids(self, scope: Scope, f: LedgerFilter, *, limit: int) -> list[int]:
        """Every issue id of the view (all pages), in its order, at most `limit` (+1 to tell "more")."""
        # Every match, sorted: the index's list of matches, whatever its size.
        q = select(Issue.id).where(*self._conditions(scope, f)).order_by(*self._order(f)).limit(limit + 1)
        return list((await self.session.execute(q)).scalars())

    def actions(self, actor: Actor, issue: Issue) -> list[str]:
        """The actions the desk offers this person on this issue, from the issue's life table
        (bot/services/lifecycle.py) and the person's rights at its place — the card's buttons in Telegram
        read the same table. The desk lays out fewer than the card: no assigning a referred issue (the
        department has it), no resolving an issue nobody accepted yet or a private matter (the sides
        settle it), and the check (验收) only while it is due, not a spot check. The services check again."""
        from bot.services.lifecycle import IssueAction, Viewer, available_actions

        may = set(available_actions(issue, Viewer.of(actor, issue)))
        out: list[str] = []
        if IssueAction.ACCEPT in may:
            out.append("accept")
        if IssueAction.ASSIGN in may and issue.status != IssueStatus.REFERRED:
            out.append("assign")
        if IssueAction.DEADLINE in may:
            out.append("deadline")
        if IssueAction.RESOLVE in may and issue.status != IssueStatus.NEW and issue.triage != "residents":
            out.append("resolve")
        if IssueAction.NOTE in may:
            out.append("note")
        if issue.status == IssueStatus.VERIFYING and IssueAction.VERIFY in may:
            out += ["verify", "notacc"]
        return out

    async def issue_in_scope(self, scopes: list[Scope], issue_id: int) -> Issue | None:
        """The issue, if it lies in one of the person's scopes (else None: the page says "not found")."""
        issue = await self.session.get(Issue, issue_id)
        if issue is None:
            return None
        for s in scopes:
            if s.community_id == issue.community_id and (s.area_id is None or s.area_id == issue.area_id):
                return issue
        return None


@dataclass(frozen=True)
class LedgerFilter:
    """What the ledger page was asked for; every value comes from the query string and is checked here."""

    status: str = ""
    category: str = ""
    building_id: int | None = None
    area_id: int | None = None
    triage: str = ""
    since: datetime | None = None
    until: datetime | None = None
    overdue: bool = False
    text: str = ""
    sort: str = "-created"
    page: int = 1


SORTS = {"created": Issue.created_at, "deadline": Issue.deadline_at, "reference": Issue.number,
         "status": Issue.status, "category": Issue.category}
PAGE_SIZE = 50
# Above this many matches a text search walks the sort order testing descriptions (see WebService._wide).
WIDE = 2000
# PostgreSQL: a text search walks at most this many issues of the sort order per page asked for (see
# WebService._window_first), for the first WINDOW_PAGES pages.
WINDOW = 20_000
WINDOW_PAGES = 2
# PostgreSQL: how long the trigram index may take for a text search before the walk is tried (see _race).
INDEX_MS = 100


@dataclass(frozen=True)
class LedgerPage:
    rows: list[LedgerRow]
    page: int
    has_next: bool


@dataclass(frozen=True)
class LedgerRow:
    id: int
    reference: str
    category: str
    status: str
    urgent: bool
    overdue: bool
    building: str
    description: str
    created_at: datetime
    deadline_at: datetime | None


@dataclass(frozen=True)
class IssueLine:
    id: int
    reference: str
    category: str
    status: str
    deadline_at: datetime | None


@dataclass(frozen=True)
class Today:
    urgent: list[IssueLine]
    overdue: list[IssueLine]
    escalated: list[IssueLine]
    reopened: list[IssueLine]
    verifying: list[IssueLine]
    new_day: int
    new_week: int
    resolved_day: int
    resolved_week: int
    open_now: int


# ---------------------------------------------------------------------- the desk's "after" photo

AFTER_PHOTO_KIND = "desk_after_photo"
AFTER_PHOTO_MAX = 5 * 1024 * 1024  # bytes; Telegram takes photos up to 10 MB, a phone photo is 2-4 MB


async def send_after_photo(session: AsyncSession, clock: Clock, actor: Actor, member: Member, issue: Issue,
                           data: bytes, *, note: str, caption: str, failed: str, admin: bool) -> bool:
    """Resolve with an "after" photo uploaded on the desk. The bot keeps photos as Telegram file ids (the
    card, the reporter's before → after album and the ledger all use them), and a file gets an id only
    when it is sent: so the photo goes to the person's own private chat through the outbox, and when
    Telegram has it (`resolve_with_sent_photo`) the issue is resolved with that id through the same
    TriageService.resolve as in the chat. The same upload twice is one outbox row (its key holds the
    photo's hash): False then. Rights are checked now and again when the photo has arrived."""
    import base64

    from bot.services.access import require
    from bot.services.outbox import Outbox

    require(actor, "triage", Place(issue.community_id, issue.area_id, issue.building_id))
    digest = hashlib.sha256(data).hexdigest()[:24]
    return await Outbox(session, clock).enqueue(
        key=f"desk_after:{issue.id}:{digest}", kind=AFTER_PHOTO_KIND, chat_id=member.telegram_id,
        photo={"b64": base64.b64encode(data).decode(), "filename": "after.jpg"}, text=caption,
        member_id=member.id, community_id=issue.community_id, urgent=True,
        extra={"desk_issue": issue.id, "desk_member": member.id, "desk_note": note[:1000],
               "desk_admin": admin, "desk_failed": failed})


async def resolve_with_sent_photo(session: AsyncSession, item: Any) -> None:
    """The outbox hook of an uploaded "after" photo: Telegram has it now, so resolve the issue with its
    file id. The photo's bytes leave the outbox row (they are Telegram's now)."""
    from bot.services.access import NotAllowed
    from bot.services.members import MembersService
    from bot.services.outbox import Outbox
    from bot.services.triage import InvalidInput, TriageService
    from models import OutboxItem

    payload = dict(item.payload or {})
    file_id = payload.pop("sent_file_id", None)
    payload["photo"] = file_id or ""
    item.payload = payload
    await session.execute(update(OutboxItem).where(OutboxItem.id == item.id).values(payload=payload))
    member = await session.get(Member, int(payload.get("desk_member") or 0))
    if not file_id or member is None:
        return

    def clock() -> datetime:
        # The sender's clock is not at hand in a hook; the upload's own time is when it was fixed.
        return item.not_before

    members = MembersService(session, clock, [member.telegram_id] if payload.get("desk_admin") else [])
    triage = TriageService.standalone(session, clock, members)
    try:
        await triage.resolve(await members.actor(member), int(payload.get("desk_issue") or 0), [file_id],
                             payload.get("desk_note") or None)
    except (NotAllowed, InvalidInput, LookupError):
        # The role ended (or the issue went) while the photo was on its way: nothing changes, and the
        # person is told in the words the desk prepared in their language.
        await Outbox(session, clock).enqueue(key=f"desk_after_failed:{item.id}", kind="desk_notice",
                                             chat_id=item.chat_id, text=str(payload.get("desk_failed") or ""),
                                             member_id=member.id, community_id=item.community_id)


def _register() -> None:
    from bot.services.outbox import on_sent

    on_sent(AFTER_PHOTO_KIND)(resolve_with_sent_photo)


_register()
