"""The office's desk: the dashboard's aiohttp routes. Signs people in (Telegram Mini App init data, or a
one-time link from /web), keeps a session cookie, renders server-side Jinja2 pages and serves its own
vendored assets under a strict Content-Security-Policy (no inline script, nothing from a CDN).

Rules live in bot/services/web.py; every page re-reads the person's roles (access.py), so a role that
ends closes the desk at the next click."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

from aiohttp import web
from aiohttp.typedefs import Handler
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import i18n
from bot.clock import Clock
from bot.config import Settings
from bot.services.access import Place
from bot.services.members import MembersService
from bot.services.web import SESSION_TTL, WebService

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"
COOKIE = "desk"
LANG_COOKIE = "desk_lang"
INIT_DATA_MAX_AGE = timedelta(days=1)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "img-src 'self' data: https://tile.openstreetmap.org; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org")


@dataclass
class DeskContext:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    bot: Any  # aiogram Bot: getFile for the photo proxy, and the token for the init data check
    # Photos already fetched from Telegram, by file id (bounded; oldest dropped first).
    photos: dict[str, bytes] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return desk_prefix(self.settings)

    @property
    def secure(self) -> bool:
        return (self.settings.web_url or "").startswith("https://")


DESK = web.AppKey("desk", DeskContext)
LOCALE = web.RequestKey("locale", str)
MEMBER_ID = web.RequestKey("member_id", int)
CSRF_KEY = web.RequestKey("csrf", str)
STAFF_FLAG = web.RequestKey("staff", bool)


def desk_prefix(settings: Settings) -> str:
    """The path the desk lives under, from WEB_URL (https://example.org/desk → /desk)."""
    return urlparse(settings.web_url or "").path.rstrip("/")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda m, **kw: i18n.gettext(m, **kw), i18n.ngettext_text, newstyle=True)
    return env


ENV = _environment()


class Halt(Exception):
    """Stop handling and answer with this page (the sign-in page, the polite refusal, not found)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and refusals carry the headers too
        response = exc
    except Halt as halt:
        response = halt.response
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith(request.app[DESK].prefix + "/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    desk: DeskContext = request.app[DESK]
    locale = request.get(LOCALE) or "en"
    with i18n.use_locale(locale):
        html = ENV.get_template(template).render(prefix=desk.prefix, locale=locale, lang="zh-Hans" if
                                             locale == "zh_Hans" else "en", csrf=request.get(CSRF_KEY, ""),
                                             signed_in=request.get(MEMBER_ID) is not None,
                                             staff=request.get(STAFF_FLAG, False),
                                             path=request.path, **context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _locale(request: web.Request, member: Any, members: MembersService | None) -> str:
    chosen = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in i18n.SUPPORTED:
        return chosen
    if member is not None and members is not None:
        return members.locale_for(member, None, "en")
    return i18n.normalize_locale(request.headers.get("Accept-Language", "")[:5]) or "en"


def _set_cookie(desk: DeskContext, response: web.StreamResponse, raw: str) -> None:
    response.set_cookie(COOKIE, raw, max_age=int(SESSION_TTL.total_seconds()), httponly=True,
                        secure=desk.secure, samesite="Lax", path=desk.prefix or "/")


# ---------------------------------------------------------------------------------------- handlers


async def index(request: web.Request) -> web.StreamResponse:
    """Today. Not signed in: the sign-in page, whose script signs in with the Mini App's init data."""
    desk: DeskContext = request.app[DESK]
    async with desk.sessions() as session:
        visit = await _visit(request, session, signin_status=200)
        scope = next((s for s in visit.scopes if s.token == request.query.get("scope")), visit.scopes[0])
        today = await visit.service.today(scope)
        community = (await visit.members.place_info(Place(scope.community_id))).community
        from bot.web.pages import today_chart

        return _with_lang(request, render(
            request, "web_today.html.j2", today=today, scope=scope, scopes=visit.scopes,
            name=visit.member.display_name, label=_labels(community, request[LOCALE]),
            chart=await today_chart(session, scope, desk.clock(), community.timezone)))


def _with_lang(request: web.Request, response: web.Response) -> web.Response:
    if request.query.get("lang") in i18n.SUPPORTED:
        response.set_cookie(LANG_COOKIE, request.query["lang"], max_age=365 * 86400, samesite="Lax",
                            path=request.app[DESK].prefix or "/")
    return response


async def login(request: web.Request) -> web.StreamResponse:
    """The one-time link from /web: claims it and sets the session cookie."""
    desk: DeskContext = request.app[DESK]
    async with desk.sessions() as session:
        service = WebService(session, desk.clock)
        member_id = await service.redeem_link(request.query.get("t", ""))
        if member_id is None:
            await session.commit()
            request[LOCALE] = _locale(request, None, None)
            return render(request, "web_link_expired.html.j2", status=403)
        signed = await service.open_session(member_id, "link")
        await session.commit()
    response = web.HTTPSeeOther(desk.prefix + "/")
    _set_cookie(desk, response, signed.token)
    raise response


async def telegram_signin(request: web.Request) -> web.StreamResponse:
    """The Mini App posts Telegram's init data; its HMAC (keyed with the bot token) proves who opened it."""
    from aiogram.utils.web_app import safe_parse_webapp_init_data

    desk: DeskContext = request.app[DESK]
    form = await request.post()
    raw = str(form.get("init_data", ""))[:4096]
    try:
        data = safe_parse_webapp_init_data(desk.settings.bot_token, raw)
    except ValueError:
        return web.json_response({"ok": False}, status=403)
    if data.user is None or desk.clock() - data.auth_date > INIT_DATA_MAX_AGE:
        return web.json_response({"ok": False}, status=403)
    async with desk.sessions() as session:
        member = await MembersService(session, desk.clock).by_telegram_id(data.user.id)
        if member is None:
            return web.json_response({"ok": False}, status=403)
        signed = await WebService(session, desk.clock).open_session(member.id, "webapp")
        await session.commit()
    response = web.json_response({"ok": True})
    _set_cookie(desk, response, signed.token)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    desk: DeskContext = request.app[DESK]
    form = await request.post()
    async with desk.sessions() as session:
        service = WebService(session, desk.clock)
        signed = await service.current(request.cookies.get(COOKIE))
        if signed is None or form.get("csrf") != signed.csrf:
            raise web.HTTPForbidden(text="CSRF")
        await service.close_session(signed.token)
        await session.commit()
    response = web.HTTPSeeOther(desk.prefix + "/")
    response.del_cookie(COOKIE, path=desk.prefix or "/")
    raise response


@dataclass
class Visit:
    """A signed-in office person on one request: their member, actor (roles re-read now) and scopes."""

    session: AsyncSession
    service: WebService
    members: MembersService
    member: Any
    actor: Any
    scopes: list[Any]


async def _visit(request: web.Request, session: AsyncSession, signin_status: int = 401) -> Visit:
    """Who is asking: raises the sign-in page, or the polite page for people who are not office."""
    desk: DeskContext = request.app[DESK]
    service = WebService(session, desk.clock)
    signed = await service.current(request.cookies.get(COOKIE))
    members = MembersService(session, desk.clock, desk.settings.admin_ids)
    member = await members.get(signed.member_id) if signed else None
    request[LOCALE] = _locale(request, member, members)
    if signed is None or member is None:
        raise Halt(_with_lang(request, render(request, "web_signin.html.j2", status=signin_status)))
    request[MEMBER_ID], request[CSRF_KEY] = member.id, signed.csrf
    actor = await members.actor(member)
    scopes = await service.scopes(actor)
    if not scopes:
        raise Halt(_with_lang(request, render(request, "web_office_only.html.j2", status=403)))
    request[STAFF_FLAG] = any(s.area_id is None for s in scopes)
    return Visit(session, service, members, member, actor, scopes)


def _labels(community: Any, locale: str) -> Any:
    from bot.services.digests import category_label

    return lambda key: category_label(community, key, locale)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) < 12 else None


def _date(value: str | None, tz: str) -> Any:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    try:
        d = date.fromisoformat(value or "")
    except ValueError:
        return None
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz))


def _ledger_filter(q: Any, tz: str) -> Any:
    """The ledger's filters from the query string (the page's and its export's), each value checked."""
    from datetime import timedelta as td

    from bot.services.web import SORTS, LedgerFilter
    from models import IssueStatus

    until = _date(q.get("until"), tz)
    sort = q.get("sort", "-created")
    return LedgerFilter(
        status=q.get("status", "") if q.get("status", "") in (*IssueStatus.OPEN, *IssueStatus.DONE, "open")
        else "", category=q.get("category", "")[:32], building_id=_int(q.get("building")),
        area_id=_int(q.get("area")), triage=q.get("triage", "") if q.get("triage") in
        ("office", "joint", "residents") else "", since=_date(q.get("since"), tz),
        until=until + td(days=1) if until else None, overdue=q.get("overdue") == "1",
        text=q.get("q", "")[:100], sort=sort if sort.lstrip("-") in SORTS else "-created",
        page=_int(q.get("page")) or 1)


async def ledger(request: web.Request) -> web.StreamResponse:
    from bot.notices.cards import status_label
    from models import Area, Building, IssueStatus

    desk: DeskContext = request.app[DESK]
    q = request.query
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        scope = next((s for s in visit.scopes if s.token == q.get("scope")), visit.scopes[0])
        community = (await visit.members.place_info(Place(scope.community_id))).community
        f = _ledger_filter(q, community.timezone)
        page = await visit.service.ledger(scope, f)
        areas = (await session.execute(select(Area).where(Area.community_id == scope.community_id)
                                       .order_by(Area.id))).scalars().all()
        buildings = (await session.execute(select(Building).where(Building.community_id == scope.community_id)
                                           .order_by(Building.id))).scalars().all()
        if scope.area_id is not None:
            areas = [a for a in areas if a.id == scope.area_id]
            buildings = [b for b in buildings if b.area_id == scope.area_id]
        locale = request[LOCALE]
        with i18n.use_locale(locale):
            statuses = [("open", i18n.gettext("open (any)"))] + [(st, status_label(st)) for st in
                                                      (*IssueStatus.OPEN, *IssueStatus.DONE)]
        label = _labels(community, locale)
        categories = [(c, label(c)) for c in _category_keys(community)]
        args = {k: v for k, v in q.items() if k != "page"}
        return _with_lang(request, render(
            request, "web_ledger.html.j2", scope=scope, scopes=visit.scopes, page=page, f=f, q=q,
            statuses=statuses, categories=categories, areas=areas, buildings=buildings, label=label,
            status_label=lambda st: _status(st, locale), tz=community.timezone, args=args, fmt=_fmt_time,
            page_url=lambda n: "?" + urlencode({**args, "page": n}),
            export_url=lambda fmt: f"{desk.prefix}/ledger/export?" + urlencode({**args, "fmt": fmt}),
            presets=_presets(desk, community.timezone, locale, q.get("scope")),
            chip_url=lambda key: "?" + urlencode({**args, "category": key}),
            too_many=request.query.get("too_many", "")))


def _presets(desk: DeskContext, tz: str, locale: str, scope: str | None) -> list[tuple[str, str]]:
    """Quick filters one click away (the desk's "done when": last week's overdue reports of one category
    in three clicks — Ledger, this preset, the category's chip)."""
    from datetime import timedelta as td
    from zoneinfo import ZoneInfo

    from models import IssueStatus

    week_ago = (desk.clock().astimezone(ZoneInfo(tz)).date() - td(days=7)).isoformat()
    extra = {"scope": scope} if scope else {}
    with i18n.use_locale(locale):
        items = [
            (i18n.gettext("Overdue, reported in the last 7 days"), {"overdue": "1", "since": week_ago}),
            (i18n.gettext("All overdue"), {"overdue": "1"}),
            (i18n.gettext("Open"), {"status": "open"}),
            (i18n.gettext("Awaiting verification"), {"status": IssueStatus.VERIFYING}),
        ]
    return [(text, f"{desk.prefix}/ledger?" + urlencode({**extra, **args})) for text, args in items]


# "Export this view": CSV is written row by row straight into the response (no limit: memory stays flat);
# XLSX cannot be streamed while it is made (a zip whose directory comes last), so openpyxl's write-only
# workbook fills a temporary file in a worker thread and that file is then streamed and deleted. A
# workbook of more than XLSX_MAX_ROWS rows would keep the request open for minutes: the page asks for CSV
# or a narrower view instead (the bot's /export runs big periods as a background job).
EXPORT_CHUNK = 1000
XLSX_MAX_ROWS = 100_000
CSV_MAX_ROWS = 2_000_000


async def ledger_export(request: web.Request) -> web.StreamResponse:
    import asyncio
    import csv
    import io
    import tempfile

    from bot.notices.ledger import build_rows, headers_for, labels_for
    from bot.services.access import can
    from bot.services.ledger import csv_row, issue_columns, xlsx_writer
    from models import Area, Building

    desk: DeskContext = request.app[DESK]
    q = request.query
    fmt = "xlsx" if q.get("fmt") == "xlsx" else "csv"
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        scope = next((s for s in visit.scopes if s.token == q.get("scope")), visit.scopes[0])
        community = (await visit.members.place_info(Place(scope.community_id))).community
        f = _ledger_filter(q, community.timezone)
        ids = await visit.service.ledger_ids(scope, f, limit=XLSX_MAX_ROWS if fmt == "xlsx" else CSV_MAX_ROWS)
        limit = XLSX_MAX_ROWS if fmt == "xlsx" else CSV_MAX_ROWS
        if len(ids) > limit:
            args = {k: v for k, v in q.items() if k not in ("fmt", "page")}
            raise web.HTTPSeeOther(f"{desk.prefix}/ledger?" + urlencode({**args, "too_many": limit}))
        # The reporter's name only for those the bot's own export shows it to (staff).
        reporter = can(visit.actor, "export_reporter", Place(scope.community_id))
        areas = {a.id: a.name for a in (await session.execute(
            select(Area).where(Area.community_id == community.id))).scalars()}
        buildings = {b.id: b.name for b in (await session.execute(
            select(Building).where(Building.community_id == community.id))).scalars()}
        labels = labels_for(community, request[LOCALE])
        headers = headers_for(labels, reporter=reporter)
    stamp = desk.clock().strftime("%Y%m%d-%H%M")
    name = f"ledger-{community.code}-{stamp}.{fmt}"

    async def chunks() -> Any:
        for start in range(0, len(ids), EXPORT_CHUNK):
            async with desk.sessions() as s:  # one short read per chunk: no transaction held for minutes
                issues = await issue_columns(s, ids[start:start + EXPORT_CHUNK])
                rows, _photos = await build_rows(s, community, issues, labels, reporter=reporter, areas=areas,
                                                 buildings=buildings)
            yield rows

    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8" if fmt == "csv" else
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "Content-Disposition": f'attachment; filename="{name}"'})
    if fmt == "csv":
        await response.prepare(request)

        def encode(rows: list[list[Any]]) -> bytes:
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            return buffer.getvalue().encode("utf-8")

        # UTF-8 with a byte-order mark so that Excel shows Chinese correctly (as the bot's CSV).
        await response.write(b"\xef\xbb\xbf" + encode([headers]))
        async for rows in chunks():
            await response.write(encode([csv_row(r) for r in rows]))
        await response.write_eof()
        return response
    with tempfile.TemporaryDirectory(prefix="desk-export-") as folder:
        path = Path(folder) / name
        writer = await asyncio.to_thread(xlsx_writer, path, headers)
        async for rows in chunks():
            await asyncio.to_thread(writer.append, rows)
        await asyncio.to_thread(writer.close)
        response.content_length = path.stat().st_size
        await response.prepare(request)
        with path.open("rb") as fh:
            while block := await asyncio.to_thread(fh.read, 256 * 1024):
                await response.write(block)
        await response.write_eof()
    return response


def _status(status: str, locale: str) -> str:
    from bot.notices.cards import status_label

    with i18n.use_locale(locale):
        return status_label(status)


def _category_keys(community: Any) -> list[str]:
    from bot.services.reporting import categories

    return [c.key for c in categories(community)]


def _fmt_time(value: Any, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if value else "—"


PHOTO_CACHE = 256


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"  # what Telegram stores photos as


async def photo(request: web.Request) -> web.StreamResponse:
    """A report's photo through the bot's own proxy of getFile: the browser never sees a Telegram file URL
    (which carries the bot token); bytes are cached here and, privately, in the browser."""
    from models import IssuePhoto

    desk: DeskContext = request.app[DESK]
    photo_id = _int(request.match_info.get("id")) or 0
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        row = await session.get(IssuePhoto, photo_id)
        if row is None or await visit.service.issue_in_scope(visit.scopes, row.issue_id) is None:
            raise web.HTTPNotFound()
        file_id = row.file_id
    data = desk.photos.get(file_id)
    if data is None:
        import io

        buffer = io.BytesIO()
        try:
            await desk.bot.download(file_id, destination=buffer)
        except Exception:  # Telegram refused or is unreachable: the page shows the alt text
            log.warning("photo %s could not be fetched", photo_id, exc_info=True)
            raise web.HTTPBadGateway() from None
        data = buffer.getvalue()
        while len(desk.photos) >= PHOTO_CACHE:
            desk.photos.pop(next(iter(desk.photos)))
        desk.photos[file_id] = data
    return web.Response(body=data, content_type=_image_type(data),
                        headers={"Cache-Control": "private, max-age=86400"})


def setup_desk(app: web.Application, ctx: DeskContext) -> None:
    """Add the desk's routes to an aiohttp application (the webhook's, or one of its own)."""
    app[DESK] = ctx
    app.middlewares.append(security_headers)
    p = ctx.prefix
    app.router.add_get(p + "/", index)
    if p:
        async def bare(_request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound(p + "/")

        app.router.add_get(p, bare)
    app.router.add_get(p + "/login", login)
    app.router.add_get(p + "/ledger", ledger)
    app.router.add_get(p + "/ledger/export", ledger_export)
    from bot.web.issues import issue_action, issue_page, settings_change, settings_page

    app.router.add_get(p + "/issue/{id}", issue_page)
    app.router.add_post(p + "/issue/{id}/{action}", issue_action)
    app.router.add_get(p + "/settings", settings_page)
    app.router.add_get(p + "/photo/{id}", photo)
    app.router.add_post(p + "/settings/{what}/{name}", settings_change)
    app.router.add_post(p + "/tg", telegram_signin)
    app.router.add_post(p + "/logout", logout)
    from bot.web.pages import setup_pages

    setup_pages(app, ctx)  # Map, Patrols and cleaning (bot/web/pages.py)
    app.router.add_static(p + "/static/", STATIC, append_version=False)


def desk_app(ctx: DeskContext) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    setup_desk(app, ctx)
    return app
