"""The office's desk: the dashboard's aiohttp routes. Signs people in (Telegram Mini App init data, or a
one-time link from /web), keeps a session cookie, renders server-side Jinja2 pages and serves its own
vendored assets under a strict Content-Security-Policy (no inline script, nothing from a CDN).

Rules live in bot/services/web.py; every page re-reads the person's roles (access.py), so a role that
ends closes the desk at the next click."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aiohttp import web
from aiohttp.typedefs import Handler
from jinja2 import Environment, FileSystemLoader, select_autoescape
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
       "img-src 'self' data: https://*.tile.openstreetmap.org; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org")


@dataclass
class DeskContext:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    bot: Any  # aiogram Bot: getFile for the photo proxy, and the token for the init data check

    @property
    def prefix(self) -> str:
        return desk_prefix(self.settings)

    @property
    def secure(self) -> bool:
        return (self.settings.web_url or "").startswith("https://")


DESK = web.AppKey("desk", DeskContext)


def desk_prefix(settings: Settings) -> str:
    """The path the desk lives under, from WEB_URL (https://example.org/desk → /desk)."""
    return urlparse(settings.web_url or "").path.rstrip("/")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      extensions=["jinja2.ext.i18n"])
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda m, **kw: i18n.gettext(m, **kw), lambda s, p, n, **kw: i18n.ngettext(s, p, n, **kw), newstyle=True)
    return env


ENV = _environment()


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and refusals carry the headers too
        response = exc
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith(request.app[DESK].prefix + "/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    desk: DeskContext = request.app[DESK]
    locale = request.get("locale") or "en"
    with i18n.use_locale(locale):
        html = ENV.get_template(template).render(prefix=desk.prefix, locale=locale, lang="zh-Hans" if
                                             locale == "zh_Hans" else "en", csrf=request.get("csrf", ""),
                                             signed_in=request.get("member_id") is not None,
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
    desk: DeskContext = request.app[DESK]
    async with desk.sessions() as session:
        service = WebService(session, desk.clock)
        signed = await service.current(request.cookies.get(COOKIE))
        members = MembersService(session, desk.clock, desk.settings.admin_ids)
        member = await members.get(signed.member_id) if signed else None
        request["locale"] = _locale(request, member, members)
        if signed is None or member is None:
            # Not signed in: inside Telegram the page's script signs in with the Mini App's init data.
            return _with_lang(request, render(request, "web_signin.html.j2"))
        request["member_id"], request["csrf"] = member.id, signed.csrf
        actor = await members.actor(member)
        scopes = await service.scopes(actor)
        if not scopes:
            return _with_lang(request, render(request, "web_office_only.html.j2", status=403))
        scope = next((s for s in scopes if s.token == request.query.get("scope")), scopes[0])
        today = await service.today(scope)
        from bot.services.digests import category_label

        community = (await members.place_info(Place(scope.community_id))).community
        locale = request["locale"]
        return _with_lang(request, render(
            request, "web_today.html.j2", today=today, scope=scope, scopes=scopes, name=member.display_name,
            label=lambda key: category_label(community, key, locale)))


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
            request["locale"] = _locale(request, None, None)
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
    app.router.add_post(p + "/tg", telegram_signin)
    app.router.add_post(p + "/logout", logout)
    app.router.add_static(p + "/static/", STATIC, append_version=False)


def desk_app(ctx: DeskContext) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    setup_desk(app, ctx)
    return app
