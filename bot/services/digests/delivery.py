"""When and to whom the digests go: the `digests` job turns due periods into outbox rows; /digest builds
one on demand. The words come from a presenter (bot/notices/digests.py, registered with `present_with`),
which the service calls with the figures; it never words anything itself.

Reliability: a `DigestRun` row with recipient "*" is the decision for one (community, kind, period,
scope): it is inserted with ON CONFLICT DO NOTHING, and only the inserter enqueues, so a restart, a
double tick or a second instance never doubles a digest. After downtime the last `CATCH_UP` missed
periods are sent (marked late); older ones are recorded as skipped and named in the newest digest.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs import JobContext, job
from bot.services.access import Actor, Level, NotAllowed, Place, require
from bot.services.digests.figures import DailyDigest, PeriodReport
from bot.services.digests.periods import KINDS, period_of, send_moment
from bot.services.digests.queries import DigestFigures
from models import Community, DigestRun, Member, Role

log = logging.getLogger(__name__)

# pg_try_advisory_xact_lock(DIGEST_LOCK_SPACE, community id): who builds a community's digests right now.
DIGEST_LOCK_SPACE = 1708
CATCH_UP = {"daily": 3, "weekly": 1, "monthly": 1}  # missed periods still worth sending
LATE_AFTER = timedelta(minutes=15)  # enqueued this long after its time: marked late

# Sections other capabilities add to the weekly/monthly reports (scores, volunteer points), appended by them
# at import: fn(session, community, kind, first day, last day, locale) -> whole messages in Telegram HTML
# ([] when they have nothing for that kind of report). The presenter appends them after the report's own
# messages; an error propagates (the report is retried at the next tick rather than sent without them).
ReportSection = Callable[[AsyncSession, Community, str, date, date, str], Awaitable[list[str]]]
REPORT_SECTIONS: list[ReportSection] = []


@dataclass
class Built:
    """One digest in one language, ready for the outbox."""

    texts: list[str]
    chart: bytes | None
    files: list[tuple[str, bytes]]
    issues: list[tuple[int, str]]  # (id, reference) of the issues it names first
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)  # under the last text: their cards
    caption: str = ""  # the chart's


@dataclass
class OnDemand:
    community: Community
    kind: str
    day: date
    area_id: int | None
    texts: list[str]
    chart: bytes | None
    files: list[tuple[str, bytes]]
    issues: list[tuple[int, str]]  # (id, reference) of the issues it names first
    reports: bool  # may also read the weekly/monthly reports
    caption: str = ""  # the chart's


class DigestPresenter(Protocol):
    """The words of the digests, per reader's language (bot/notices/digests.py)."""

    def daily_texts(self, digest: DailyDigest, locale: str) -> list[str]: ...

    def period_texts(self, report: PeriodReport, locale: str) -> list[str]: ...

    def chart(self, digest: DailyDigest, locale: str) -> bytes: ...

    async def chart_png(self, digest: DailyDigest, locale: str) -> bytes: ...

    def xlsx(self, report: PeriodReport, locale: str) -> bytes: ...

    async def daily(self, digest: DailyDigest, locale: str) -> Built: ...

    async def period(self, session: AsyncSession, report: PeriodReport, locale: str) -> Built: ...

    def html_page(self, title: str, messages: list[str], images: list[str]) -> str: ...


_PRESENTER: list[DigestPresenter] = []


def present_with(presenter: DigestPresenter) -> None:
    """Register the digests' words (bot/notices/digests.py does at import)."""
    _PRESENTER[:] = [presenter]


def presenter() -> DigestPresenter:
    if not _PRESENTER:
        from bot.capabilities import load_notices

        load_notices()
    return _PRESENTER[0]


@dataclass
class _Plan:
    """A kind's due periods for one community: those only recorded as skipped, and those to send, each
    (start, late, skipped periods it names, (recipients, built digests))."""

    skipped: list[date]
    keep: list[tuple[date, bool, list[date], Any]] = field(default_factory=list)


Recipient = tuple[str, str, int, Member | None, str]  # scope, recipient, area id or 0, member or None, locale


class DigestService(DigestFigures):
    # ---- the words, through the presenter

    @property
    def presenter(self) -> DigestPresenter:
        return presenter()

    def render_daily(self, digest: DailyDigest, locale: str) -> list[str]:
        """The digest as Telegram HTML messages, split only between whole sections."""
        return self.presenter.daily_texts(digest, locale)

    def render_period(self, report: PeriodReport, locale: str) -> list[str]:
        return self.presenter.period_texts(report, locale)

    def chart(self, digest: DailyDigest, locale: str) -> bytes:
        return self.presenter.chart(digest, locale)

    async def chart_png(self, digest: DailyDigest, locale: str) -> bytes:
        """The chart drawn off the event loop: in the chart process pool where the bot configured one."""
        return await self.presenter.chart_png(digest, locale)

    def xlsx(self, report: PeriodReport, locale: str) -> bytes:
        return self.presenter.xlsx(report, locale)

    # ---- who may ask, and on-demand digests (/digest)

    async def scopes_for(self, actor: Actor, community_id: int) -> list[int | None]:
        """The scopes an actor may read: None (the whole community) for staff, else their areas."""
        if actor.level_at(Place(community_id)) >= Level.STAFF:
            return [None]
        areas = [g.area_id for g in actor.roles("area_head") if g.community_id == community_id and g.area_id]
        return list(dict.fromkeys(areas))

    async def communities_for(self, actor: Actor, member: Member) -> list[Community]:
        if actor.is_admin:
            return await self.members.communities()
        return [c for c in await self.members.member_communities(member) if await self.scopes_for(actor, c.id)]

    async def on_demand(self, actor: Actor, community: Community, kind: str, day: date, area_id: int | None
                        ) -> DailyDigest | PeriodReport:
        place = Place(community.id, area_id)
        require(actor, "digest", place)
        if kind == "daily":
            return await self.daily(community, day, area_id=area_id)
        require(actor, "digest", Place(community.id))  # weekly/monthly reports cover the community
        return await self.period(community, kind, day)

    async def requested(self, actor: Actor, member: Member, kind: str, day: date, area_id: int | None,
                        locale: str) -> OnDemand:
        """A digest someone asked for (/digest), in their language. Staff read the community; area
        heads their area (a weekly or monthly report needs staff)."""
        communities = await self.communities_for(actor, member)
        if not communities:
            raise NotAllowed("digest", None, Level.AREA_HEAD)
        community = communities[0]
        scopes = await self.scopes_for(actor, community.id) or [None]
        if area_id is None or (None not in scopes and area_id not in scopes):
            area_id = scopes[0]
        require(actor, "digest", Place(community.id, area_id))
        if kind != "daily":
            require(actor, "digest", Place(community.id))
            area_id = None
        built = await self.build(community, kind, day, area_id=area_id, locale=locale)
        return OnDemand(community, kind, day, area_id, built.texts, built.chart, built.files, built.issues,
                        reports=None in (await self.scopes_for(actor, community.id)), caption=built.caption)

    def today(self, community: Community | None = None, tz: str | None = None) -> date:
        zone = ZoneInfo(community.timezone if community is not None else tz or "UTC")
        return self.clock().astimezone(zone).date()

    # ---- scheduled sending

    async def run_due(self, *, commit_each: bool = False) -> int:
        """Enqueue every digest that is due and not yet decided. Returns how many periods were decided.

        `commit_each` (the scheduled job): commit after each community, so that its digests reach the
        sender at once instead of after the last of a thousand communities, and so that several instances
        can share the work: on PostgreSQL each community is taken under a transaction-scoped advisory lock
        that another instance skips rather than waits for (the DigestRun rows still decide: a community
        done elsewhere a moment ago costs one query here). On SQLite every session takes the write lock
        at its first statement, so there the figures, texts and charts are built in a read-only session
        and the write transaction holds only the inserts: people's updates never wait for a chart."""
        decided = 0
        communities = list((await self.session.execute(select(Community).order_by(Community.id))).scalars())
        reads = self._read_sessions() if commit_each else None
        if commit_each:
            await self.session.commit()
        for community in communities:
            if commit_each and not await self._take(community.id):
                continue
            for kind in KINDS:
                try:
                    plan = await self._plan_in(reads, community, kind)
                    if plan is None:
                        continue
                    async with self.session.begin_nested():
                        decided += await self._apply(community, kind, plan)
                except Exception:
                    log.exception("%s digest of %s failed; retried at the next tick", kind, community.key)
            if commit_each:
                await self.session.commit()
        return decided

    def _read_sessions(self) -> Any:
        """SQLite: a factory of read-only sessions on the same database (they begin deferred and take no
        lock); None elsewhere (PostgreSQL readers never block writers: the same session will do)."""
        from sqlalchemy.ext.asyncio import AsyncEngine

        from bot.db import read_session_factory

        bind = self.session.bind
        if isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite":
            return read_session_factory(bind)
        return None

    async def _plan_in(self, reads: Any, community: Community, kind: str) -> _Plan | None:
        if reads is None:
            return await self._plan(community, kind)
        async with reads() as session:
            return await DigestService(session, self.clock)._plan(community, kind)

    async def _take(self, community_id: int) -> bool:
        """PostgreSQL: this community's digests are ours until the commit, unless another instance is
        building them right now. SQLite has one writer (and one instance): always ours."""
        if self.session.bind is None or self.session.bind.dialect.name != "postgresql":
            return True
        taken = await self.session.execute(text("SELECT pg_try_advisory_xact_lock(:space, :id)"),
                                           {"space": DIGEST_LOCK_SPACE, "id": community_id})
        return bool(taken.scalar())

    def _candidates(self, community: Community, kind: str, now: datetime) -> list[date]:
        """Period starts whose send moment has passed, most recent first, no older than needed."""
        tz = ZoneInfo(community.timezone)
        today = now.astimezone(tz).date()
        settings = community.settings or {}
        out: list[date] = []
        day = today
        lookback = {"daily": 14, "weekly": 4, "monthly": 3}[kind]
        while len(out) < lookback:
            first, _last = period_of(kind, day, settings)
            if not out or out[-1] != first:
                if send_moment(kind, first, community) <= now:
                    out.append(first)
            day = first - timedelta(days=1)
            if day < today - timedelta(days=400):
                break
        floor = community.created_at
        return [d for d in out if send_moment(kind, d, community) >= floor]

    async def _run_kind(self, community: Community, kind: str) -> int:
        plan = await self._plan(community, kind)
        return 0 if plan is None else await self._apply(community, kind, plan)

    async def _plan(self, community: Community, kind: str) -> _Plan | None:
        """What is due for this kind and not decided yet, with each kept period already built (reads only)."""
        now = self.clock()
        candidates = self._candidates(community, kind, now)
        if not candidates:
            return None
        decided = set((await self.session.execute(select(DigestRun.period).where(
            DigestRun.community_id == community.id, DigestRun.kind == kind, DigestRun.scope == "community",
            DigestRun.recipient == "*", DigestRun.period >= min(candidates).isoformat()))).scalars())
        latest = max((date.fromisoformat(p) for p in decided), default=None)
        # Only periods after the newest decided one: earlier gaps were dealt with back then.
        missed = sorted(d for d in candidates if d.isoformat() not in decided and (latest is None or d > latest))
        if not missed:
            return None
        if latest is None and not await self._has_runs(community.id, kind):
            # The first digest ever (a new install or community): no backlog to catch up on.
            missed = missed[-1:]
        keep = missed[-CATCH_UP[kind]:]
        skipped = missed[:-CATCH_UP[kind]]
        plan = _Plan(skipped=skipped)
        for d in keep:
            late = now - send_moment(kind, d, community) > LATE_AFTER
            extra = skipped if d == keep[-1] else []
            # Built (figures, texts, charts) before the first write of this period: see run_due.
            plan.keep.append((d, late, extra, await self._prepare(community, kind, d, late=late, skipped=extra)))
        return plan

    async def _apply(self, community: Community, kind: str, plan: _Plan) -> int:
        """Decide the planned periods and enqueue the kept ones (writes only)."""
        count = 0
        for d in plan.skipped:
            await self._decide(community, kind, d, late=True, skipped=True)
        for d, late, extra, prepared in plan.keep:
            if not await self._decide(community, kind, d, late=late, skipped=False):
                continue  # another instance decided it a moment ago
            count += 1
            await self._fan_out(community, kind, d, late=late, skipped=extra, prepared=prepared)
        return count

    async def _prepare(self, community: Community, kind: str, start: date, *, late: bool,
                       skipped: list[date]) -> tuple[list[Recipient],
                                                     dict[tuple[int, str], Built]]:
        """Everyone who gets this period's digest and the digest built for each (area, language)."""
        recipients = await self.recipients(community, kind)
        cache: dict[tuple[int, str], Built] = {}
        for _scope, _recipient, area_id, _member, locale in recipients:
            if (area_id, locale) not in cache:
                cache[(area_id, locale)] = await self.build(community, kind, start, area_id=area_id or None,
                                                            locale=locale, late=late, skipped=skipped)
        return recipients, cache

    async def _has_runs(self, community_id: int, kind: str) -> bool:
        return (await self.session.execute(select(DigestRun.id).where(
            DigestRun.community_id == community_id, DigestRun.kind == kind, DigestRun.recipient == "*").limit(1))
        ).first() is not None

    async def _insert_run(self, values: dict[str, Any]) -> bool:
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        ins: Any = postgresql.insert(DigestRun) if dialect == "postgresql" else sqlite.insert(DigestRun)
        result = await self.session.execute(ins.values(**values).on_conflict_do_nothing(
            index_elements=["community_id", "kind", "period", "scope", "recipient"]))
        return bool(getattr(result, "rowcount", 0))

    async def _decide(self, community: Community, kind: str, start: date, *, late: bool, skipped: bool) -> bool:
        return await self._insert_run(dict(community_id=community.id, kind=kind, period=start.isoformat(),
                                           scope="community", recipient="*", late=late, skipped=skipped,
                                           created_at=self.clock()))

    async def recipients(self, community: Community, kind: str) -> list[Recipient]:
        """(scope, recipient, area_id or 0, member or None, locale) for everyone who gets this kind."""
        out: list[Recipient] = []
        office = await self.chats.office_chat(community.id)
        if office is not None:
            out.append(("community", f"chat:{office}", 0, None, community.locale))
        people = (await self.session.execute(
            select(Member, Role.role, Role.area_id).join(Role, Role.member_id == Member.id)
            .where(Role.community_id == community.id, Role.role.in_(("staff", "area_head")),
                   Member.data_deleted_at.is_(None))
            .order_by(Member.id, Role.id))).all()
        seen: set[tuple[str, str]] = set()
        for member, role, area_id in people:
            prefs = member.prefs or {}
            locale = self.members.locale_for(member, community)
            if role == "staff" and prefs.get("digest"):
                key = ("community", f"member:{member.id}")
            elif role == "area_head" and prefs.get("area_digest") and kind == "daily" and area_id:
                key = (f"area:{area_id}", f"member:{member.id}")
            else:
                continue
            if key not in seen:
                seen.add(key)
                out.append((key[0], key[1], int(area_id or 0) if key[0] != "community" else 0, member, locale))
        return out

    async def _fan_out(self, community: Community, kind: str, start: date, *, late: bool,
                       skipped: list[date], prepared: tuple[list[Recipient], dict[tuple[int, str], Built]] | None = None
                       ) -> None:
        """Enqueue the digest of a decided period to every recipient, each in their language."""
        moment = send_moment(kind, start, community)
        expires = max(moment, self.clock()) + timedelta(days=2)
        recipients, cache = prepared if prepared is not None else (await self.recipients(community, kind), {})
        for scope, recipient, area_id, member, locale in recipients:
            if not await self._insert_run(dict(community_id=community.id, kind=kind, period=start.isoformat(),
                                               scope=scope, recipient=recipient, late=late,
                                               created_at=self.clock())):
                continue
            cache_key = (area_id, locale)
            if cache_key not in cache:
                cache[cache_key] = await self.build(community, kind, start, area_id=area_id or None,
                                                    locale=locale, late=late, skipped=skipped)
            built = cache[cache_key]
            texts, chart, files = built.texts, built.chart, built.files
            chat_id = int(recipient.split(":", 1)[1]) if recipient.startswith("chat:") else member.telegram_id \
                if member else 0
            base = f"digest:{community.id}:{kind}:{start.isoformat()}:{scope}:{recipient}"
            common: dict[str, Any] = dict(kind=f"digest_{kind}", community_id=community.id, expires_at=expires)
            items: list[dict[str, Any]] = [dict(key=f"{base}:{i}", text=t) for i, t in enumerate(texts)]
            if items and built.buttons:
                items[-1]["buttons"] = built.buttons
            if chart is not None:
                items.append(dict(key=f"{base}:chart", text=built.caption,
                                  photo={"b64": base64.b64encode(chart).decode(), "filename": "digest.png"}))
            for name, content in files:
                items.append(dict(key=f"{base}:{name}", document={
                    "b64": base64.b64encode(content).decode(), "filename": name}))
            for item in items:
                if member is not None:
                    await self.outbox.notify(member, tz=community.timezone, **common, **item)
                else:
                    await self.outbox.enqueue(chat_id=chat_id, **common, **item)

    async def build(self, community: Community, kind: str, start: date, *, area_id: int | None, locale: str,
                    late: bool = False, skipped: Sequence[date] = ()) -> Built:
        """Texts, chart PNG and attachments (name, bytes) of one digest in one language."""
        if kind == "daily":
            digest = await self.daily(community, start, area_id=area_id)
            digest.late, digest.skipped = late, list(skipped)
            return await self.presenter.daily(digest, locale)
        report = await self.period(community, kind, start)
        report.late, report.skipped = late, list(skipped)
        return await self.presenter.period(self.session, report, locale)


@job("digests", shared=True)
async def digests_job(session: AsyncSession, ctx: JobContext) -> None:
    await DigestService(session, ctx.clock).run_due(commit_each=True)
