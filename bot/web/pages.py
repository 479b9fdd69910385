"""The desk's Map and Patrols-and-cleaning pages, and the Today page's 14-day chart. Kept apart from
bot/web/__init__.py (sign-in, ledger, issue, settings) so each page family changes on its own; they share
its `_visit` (who is asking, their scopes re-read on every request) and `render`.

Figures come from bot/services/desk_views.py and the patrol and cleaning services' read functions; every
one of them is limited to the page's scope (an area head's area), not to what the query string asks."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import i18n
from bot.services.access import Place
from bot.services.desk_views import MapFilter, chart, daily_counts, map_view, status_group
from bot.services.ledger import Scope
from bot.web import (
    DESK,
    LOCALE,
    DeskContext,
    Visit,
    _category_keys,
    _fmt_time,
    _int,
    _labels,
    _status,
    _visit,
    _with_lang,
    render,
)
from models import Building, IssueStatus

# OpenStreetMap's tile server (its usage policy asks for this host, without the old a/b/c subdomains); the
# desk's Content-Security-Policy allows images from it and nothing else from outside.
TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
TILE_HOST = "https://tile.openstreetmap.org"
UPCOMING_CLEANING_DAYS = 35
PAST_CLEANING_DAYS = 60


def _scope(visit: Visit, request: web.Request) -> Scope:
    return next((s for s in visit.scopes if s.token == request.query.get("scope")), visit.scopes[0])


async def today_chart(session: AsyncSession, scope: Scope, now: datetime, tz: str) -> Any:
    """The Today page's chart: reported and resolved per day over the last 14 days."""
    return chart(await daily_counts(session, scope, now, tz))


async def map_page(request: web.Request) -> web.StreamResponse:
    desk: DeskContext = request.app[DESK]
    q = request.query
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        scope = _scope(visit, request)
        community = (await visit.members.place_info(Place(scope.community_id))).community
        keys = _category_keys(community)
        status = q.get("status", "open")  # no status asked: the open issues, the office's usual view
        f = MapFilter(
            status=status if status in ("", "open", *IssueStatus.OPEN, *IssueStatus.DONE) else "open",
            category=q.get("category", "") if q.get("category", "") in keys else "",
            building_id=_int(q.get("building")), overdue=q.get("overdue") == "1")
        view = await map_view(session, scope, f)
        buildings = await _buildings(session, scope)
        locale = request[LOCALE]
        label = _labels(community, locale)
        with i18n.use_locale(locale):
            statuses = [("open", i18n.gettext("open (any)"))] + [(st, _status(st, locale)) for st in
                                                                 (*IssueStatus.OPEN, *IssueStatus.DONE)]
        return _with_lang(request, render(
            request, "pages_map.html.j2", scope=scope, scopes=visit.scopes, view=view, f=f, statuses=statuses,
            categories=[(c, label(c)) for c in keys], buildings=buildings, label=label,
            status_label=lambda st: _status(st, locale), group=status_group, tiles=TILES,
            ledger_url=desk.prefix + "/ledger?" + urlencode(
                {k: v for k, v in (("status", f.status), ("category", f.category),
                                   ("building", f.building_id or ""), ("overdue", "1" if f.overdue else ""),
                                   ("scope", q.get("scope", ""))) if v})))


async def _buildings(session: AsyncSession, scope: Scope) -> list[Building]:
    stmt = select(Building).where(Building.community_id == scope.community_id)
    if scope.area_id is not None:
        stmt = stmt.where(Building.area_id == scope.area_id)
    return list((await session.execute(stmt.order_by(Building.id))).scalars())


def _monday(value: str | None, today: date) -> date:
    try:
        chosen = date.fromisoformat(value or "")
    except ValueError:
        chosen = today
    return chosen - timedelta(days=chosen.weekday())


async def patrols_page(request: web.Request) -> web.StreamResponse:
    from bot.notices.patrols import day_label
    from bot.services.cleaning import cleaning_days_between
    from bot.services.patrols import roster_week

    desk: DeskContext = request.app[DESK]
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        scope = _scope(visit, request)
        community = (await visit.members.place_info(Place(scope.community_id))).community
        zone = ZoneInfo(community.timezone)
        now = desk.clock()
        today = now.astimezone(zone).date()
        monday = _monday(request.query.get("week"), today)
        start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
        end = start + timedelta(days=7)
        routes = await roster_week(session, scope.community_id, start, end, area_id=scope.area_id)
        locale = request[LOCALE]
        with i18n.use_locale(locale):  # place names ("… and 3 more buildings") in the reader's language
            upcoming = await cleaning_days_between(
                session, scope.community_id, now, now + timedelta(days=UPCOMING_CLEANING_DAYS),
                area_id=scope.area_id, statuses=("scheduled", "skipped"))
            past = await cleaning_days_between(
                session, scope.community_id, now - timedelta(days=PAST_CLEANING_DAYS), now,
                area_id=scope.area_id, statuses=("scheduled", "held"))
        shifts = [s for r in routes for s in r.shifts if s.status != "cancelled"]
        totals = {"shifts": len(shifts), "gaps": sum(1 for s in shifts if s.gap),
                  "missing": sum(s.gap for s in shifts), "checked_in": sum(s.checked_in for s in shifts),
                  "hours": round(sum(s.hours for s in shifts), 1)}
        week_url = lambda d: "?" + urlencode({**({"scope": scope.token} if len(visit.scopes) > 1 else {}),  # noqa: E731
                                              "week": d.isoformat()})
        return _with_lang(request, render(
            request, "pages_patrols.html.j2", scope=scope, scopes=visit.scopes, routes=routes, totals=totals,
            monday=monday, sunday=monday + timedelta(days=6), this_week=monday <= today < monday + timedelta(days=7),
            prev_url=week_url(monday - timedelta(days=7)), next_url=week_url(monday + timedelta(days=7)),
            now_url=week_url(today), upcoming=upcoming, past=list(reversed(past)), tz=community.timezone,
            fmt=_fmt_time, local=lambda at: at.astimezone(zone), day_label=day_label))


def setup_pages(app: web.Application, ctx: DeskContext) -> None:
    p = ctx.prefix
    app.router.add_get(p + "/map", map_page)
    app.router.add_get(p + "/patrols", patrols_page)
