"""The desk's issue page and its actions (accept, assign, deadline, note, resolve with an after photo,
verify / not accepted), and the Settings page: routes of bot/web (the shared helpers live in its
__init__). The actions call the same TriageService as the chat's buttons, so the card and the reporter
follow through the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from bot import i18n
from bot.services.access import Place
from bot.services.web import AFTER_PHOTO_MAX, send_after_photo
from bot.web import (
    CSRF_KEY,
    DESK,
    LOCALE,
    DeskContext,
    Halt,
    Visit,
    _fmt_time,
    _image_type,
    _int,
    _labels,
    _status,
    _visit,
    _with_lang,
    render,
)

if TYPE_CHECKING:
    from bot.services.triage import Outcome

async def issue_page(request: web.Request) -> web.StreamResponse:
    desk: DeskContext = request.app[DESK]
    issue_id = _int(request.match_info.get("id"))
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        issue = await visit.service.issue_in_scope(visit.scopes, issue_id or 0)
        if issue is None:
            return render(request, "web_not_found.html.j2", status=404)
        from bot.services.access import can
        from bot.services.triage import TriageService

        place = TriageService.place_of(issue)
        community = (await visit.members.place_info(Place(issue.community_id))).community
        from bot.notices.cards import timeline_lines
        from bot.services.cards import CardService

        locale = request[LOCALE]
        events = timeline_lines(await CardService(session, desk.clock).detail(
            issue, can(visit.actor, "view_reporter", place)), locale)
        from models import IssuePhoto

        photos = (await session.execute(select(IssuePhoto.id, IssuePhoto.kind).where(
            IssuePhoto.issue_id == issue.id).order_by(IssuePhoto.kind, IssuePhoto.position))).all()
        actions = visit.service.actions(visit.actor, issue)
        people = []
        if "assign" in actions:
            people = [(m.id, m.display_name) for m in await TriageService.standalone(session, desk.clock, visit.members)
                      .assignees(visit.actor, issue.id)]
        from datetime import timedelta as td
        from zoneinfo import ZoneInfo

        today = desk.clock().astimezone(ZoneInfo(community.timezone)).date()
        return _with_lang(request, render(
            request, "web_issue.html.j2", issue=issue, events=events, label=_labels(community, locale),
            status_label=lambda st: _status(st, locale), tz=community.timezone, fmt=_fmt_time,
            actions=actions, people=people, flash=request.query.get("done", ""), photos=photos,
            problem=_problem(request.query.get("why", ""), locale), today=today.isoformat(),
            last_day=(today + td(days=366)).isoformat(), photo_mb=AFTER_PHOTO_MAX // (1024 * 1024)))


def _problem(reason: str, locale: str) -> str:
    """The one line saying why an action's input could not be used (the bot's own words for it)."""
    if not reason:
        return ""
    from handlers.triage import input_error

    with i18n.use_locale(locale):
        if reason == "photo_big":
            return i18n.gettext("That photo is too big: please upload one under {mb} MB.").format(
                mb=AFTER_PHOTO_MAX // (1024 * 1024))
        if reason == "photo_type":
            return i18n.gettext("Please upload a photo (JPEG, PNG or WebP).")
        if reason == "assignee":
            return i18n.gettext("That person can't be given this issue. Please choose from the list.")
        return input_error(reason)


async def _resolve_form(request: web.Request) -> tuple[dict[str, str], bytes | None, str]:
    """The resolve form is multipart (the "after" photo): read it field by field with a size cap, since
    the app's body limit (64 KB) is for ordinary forms. Returns (fields, photo bytes, problem)."""
    fields: dict[str, str] = {}
    data: bytes | None = None
    problem = ""
    reader = await request.multipart()
    while True:
        part: Any = await reader.next()
        if part is None:
            break
        if part.name == "photo" and part.filename:
            chunks, size = [], 0
            while chunk := await part.read_chunk(65536):
                size += len(chunk)
                if size > AFTER_PHOTO_MAX:
                    problem = "photo_big"
                    break
                chunks.append(chunk)
            if problem:
                break
            data = b"".join(chunks) or None
        elif part.name in ("csrf", "note"):
            fields[part.name] = (await part.text())[:2000]
    if data is not None and _image_type(data) == "image/jpeg" and not data.startswith(b"\xff\xd8"):
        problem = problem or "photo_type"
    return fields, data, problem


async def issue_action(request: web.Request) -> web.StreamResponse:
    """An action on an issue, through the same service as the chat's buttons: the team chat's card and
    the reporter's updates follow through the outbox exactly as when the button is pressed in Telegram.
    The CSRF token is checked first, the issue must lie in the person's scope (else "not found"), and the
    service re-checks the right; a repeated POST changes nothing and the page says so."""
    from bot.services import build_services
    from bot.services.access import NotAllowed
    from bot.services.triage import InvalidInput

    desk: DeskContext = request.app[DESK]
    issue_id = _int(request.match_info.get("id")) or 0
    action = request.match_info.get("action") or ""
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    photo_data: bytes | None = None
    upload_problem = ""
    target = f"{desk.prefix}/issue/{issue_id}?"
    async with desk.sessions() as session:
        # Who is asking first: nobody uploads a photo's megabytes before being known to be office.
        visit = await _visit(request, session)
        form: Any
        if action == "resolve" and request.content_type == "multipart/form-data":
            form, photo_data, upload_problem = await _resolve_form(request)
        else:
            form = await request.post()
        if form.get("csrf") != request[CSRF_KEY]:
            raise web.HTTPForbidden(text="CSRF")
        issue = await visit.service.issue_in_scope(visit.scopes, issue_id)
        if issue is None:
            return render(request, "web_not_found.html.j2", status=404)
        services = build_services(session, desk.clock, desk.settings)
        triage = services.triage
        actor = visit.actor
        done, why = "", ""
        try:
            with i18n.use_locale(request[LOCALE]):
                if action == "accept":
                    outcome = await triage.accept(actor, issue_id)
                    done = "accepted"
                elif action == "assign":
                    raw = str(form.get("member", ""))
                    outcome = await triage.assign(actor, issue_id, None if raw == "office" else (_int(raw) or -1))
                    done = "assigned"
                elif action == "deadline":
                    outcome = await triage.deadline_on(actor, issue_id, str(form.get("day", ""))[:20])
                    done = "deadline"
                elif action == "note":
                    outcome = await triage.add_note(actor, issue_id, str(form.get("note", ""))[:2000], public=False)
                    done = "noted"
                elif action == "resolve":
                    if upload_problem:
                        raise InvalidInput(upload_problem)
                    if photo_data is None:
                        raise InvalidInput("photo_needed")
                    outcome = await _send_after_photo(request, visit, issue, photo_data, str(form.get("note", "")))
                    done = "resolving"
                elif action == "verify":
                    outcome = await triage.verify(actor, issue_id, note=str(form.get("note", ""))[:2000] or None)
                    done = "verified"
                else:  # notacc
                    outcome = await triage.not_accepted(actor, issue_id, str(form.get("reason", ""))[:2000])
                    done = "notacc"
            if not outcome.changed:
                done = "unchanged"
        except NotAllowed:
            await session.rollback()
            done = "refused"
        except InvalidInput as exc:
            await session.rollback()
            done, why = "invalid", exc.reason
        except LookupError:
            await session.rollback()
            done, why = "invalid", "assignee"
        await session.commit()
    raise web.HTTPSeeOther(target + urlencode({"done": done, **({"why": why} if why else {})}))


ACTIONS = ("accept", "assign", "deadline", "note", "resolve", "verify", "notacc")


async def _send_after_photo(request: web.Request, visit: Visit, issue: Any, data: bytes, note: str) -> Outcome:
    """The "after" photo goes to Telegram through the outbox (to the person's own chat) to get a file id;
    the issue is resolved with it when it has arrived (bot/services/web.py: resolve_with_sent_photo)."""
    from bot.services.triage import MAX_NOTE, WORKABLE, InvalidInput, Outcome

    desk: DeskContext = request.app[DESK]
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput("too_long")
    if issue.status not in WORKABLE:
        return Outcome(issue, False)
    locale = request[LOCALE]
    with i18n.use_locale(locale):
        caption = i18n.gettext("📷 The \"after\" photo of #{ref}, uploaded on the desk. I mark the issue fixed "
                               "with it now.").format(ref=issue.reference)
        failed = i18n.gettext("#{ref} was not marked fixed: you can no longer do this, or the issue has "
                              "changed.").format(ref=issue.reference)
    changed = await send_after_photo(
        visit.session, desk.clock, visit.actor, visit.member, issue, data, note=note, caption=caption,
        failed=failed, admin=visit.member.telegram_id in (desk.settings.admin_ids or []))
    return Outcome(issue, changed)


def _community_scope(visit: Visit, request: web.Request) -> Any:
    """The community the Settings page edits: only whole-community scopes (staff, admins)."""
    scopes = [s for s in visit.scopes if s.area_id is None]
    if not scopes:
        raise Halt(_with_lang(request, render(request, "web_not_found.html.j2", status=404)))
    return next((s for s in scopes if s.token == request.query.get("scope")), scopes[0])


async def settings_page(request: web.Request) -> web.StreamResponse:
    from bot.services.desk_settings import SCALARS, CommunitySettings
    from bot.services.reporting import categories

    desk: DeskContext = request.app[DESK]
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        scope = _community_scope(visit, request)
        community = (await visit.members.place_info(Place(scope.community_id))).community
        service = CommunitySettings(session, desk.clock)
        return _with_lang(request, render(
            request, "web_settings.html.j2", scope=scope, categories=categories(community),
            values=service.values(community), names=list(SCALARS), audit=await service.audit(community.id),
            tz=community.timezone, fmt=_fmt_time, flash=request.query.get("done", ""),
            failed=request.query.get("error", ""), field=request.query.get("field", "")))


async def settings_change(request: web.Request) -> web.StreamResponse:
    from bot.services.access import NotAllowed
    from bot.services.desk_settings import CommunitySettings, SettingError

    desk: DeskContext = request.app[DESK]
    what, name = request.match_info["what"], request.match_info["name"]
    form = await request.post()
    async with desk.sessions() as session:
        visit = await _visit(request, session)
        if form.get("csrf") != request[CSRF_KEY]:
            raise web.HTTPForbidden(text="CSRF")
        scope = _community_scope(visit, request)
        service = CommunitySettings(session, desk.clock)
        target = f"{desk.prefix}/settings?"
        try:
            if what == "category":
                changed = await service.change_category(
                    visit.actor, scope.community_id, name, en=str(form.get("en", "")), zh=str(form.get("zh", "")),
                    emoji=str(form.get("emoji", "")), deadline_days=str(form.get("deadline_days", "")),
                    urgent=form.get("urgent") == "1")
            elif what == "value":
                changed = await service.change(visit.actor, scope.community_id, name, str(form.get("value", "")))
            else:
                raise web.HTTPNotFound()
        except SettingError as exc:
            await session.rollback()
            raise web.HTTPSeeOther(target + urlencode({"error": exc.reason, "field": name})) from None
        except NotAllowed:
            await session.rollback()
            raise web.HTTPSeeOther(target + urlencode({"error": "refused", "field": name})) from None
        await session.commit()
    raise web.HTTPSeeOther(target + urlencode({"done": "saved" if changed else "same", "field": name}))
