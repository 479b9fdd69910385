"""Announcements' words: the message exactly as each recipient reads it (the preview too), the audience's
name, the author's delivery report, and why a scheduled one was cancelled. The rules (who may tell whom,
the recipients, the counts) are in bot/services/announcements.py."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from bot.i18n import _, use_locale
from bot.keyboards.places import buildings_text
from bot.notices.onboarding import role_label
from bot.rendering import CAPTION_LIMIT, TEXT_LIMIT, esc, local_time, plain_len, render
from bot.services.announcements import (
    BODY_LIMIT_CAPTION,
    BODY_LIMIT_TEXT,
    AnnDraft,
    AnnouncementCancelled,
    AnnouncementQueued,
    AnnouncementReported,
    AnnouncementsService,
)
from bot.services.events import NoticeContext, notice
from models import Announcement, Member


def body_fits(body_html: str, photo: bool) -> bool:
    return plain_len(body_html) <= (BODY_LIMIT_CAPTION if photo else BODY_LIMIT_TEXT)


async def audience_name(svc: AnnouncementsService, draft: AnnDraft | Announcement) -> str:
    facts = await svc.audience_facts(draft)
    if facts.audience == "buildings":
        return buildings_text(facts.names)
    name = facts.names[0]
    if facts.audience == "area_captains":
        return _("Building captains of {area}").format(area=name)
    if facts.audience == "volunteers":
        return _("Volunteers of {community}").format(community=name)
    if facts.audience == "captains":
        return _("Building captains of {community}").format(community=name)
    return name


async def message_text(svc: AnnouncementsService, ann: AnnDraft | Announcement, locale: str,
                       author: Member | None) -> str:
    """The announcement exactly as a recipient in `locale` reads it (the preview uses this too)."""
    community = await svc.community(ann.community_id)
    place = await audience_name(svc, ann) if ann.audience in ("buildings", "area") else None
    role = ""
    if author is not None:
        key = await svc.author_role(author, community.id)
        if key is not None:
            with use_locale(locale):
                role = role_label(key)
    text = render("announcements_message.html.j2", locale=locale, urgent=ann.urgent, community=community.name,
                  place=place, body=Markup(ann.body_html), author=author.display_name if author else None,
                  role=role)
    limit = CAPTION_LIMIT if ann.photo_file_id else TEXT_LIMIT
    if plain_len(text) > limit:  # guarded at input; a very long signature must not break delivery
        text = render("announcements_message.html.j2", locale=locale, urgent=ann.urgent,
                      community=community.name, place=None, body=Markup(ann.body_html), author=None, role="")
    return text


def _svc(ctx: NoticeContext) -> AnnouncementsService:
    return AnnouncementsService(ctx.session, ctx.clock, ctx.members, ctx.chats, ctx.outbox)


async def _announcement(ctx: NoticeContext, announcement_id: int) -> Announcement:
    ann = await ctx.session.get(Announcement, announcement_id)
    assert ann is not None
    return ann


async def _member(ctx: NoticeContext, member_id: int | None) -> Member | None:
    """One of the event's people (the service loaded them in this session: no query each)."""
    return await ctx.session.get(Member, member_id) if member_id is not None else None


async def _person(ctx: NoticeContext, member_id: int) -> Member:
    m = await _member(ctx, member_id)
    assert m is not None
    return m


@notice(AnnouncementQueued)
async def queue_messages(event: AnnouncementQueued, ctx: NoticeContext) -> None:
    svc = _svc(ctx)
    ann = await _announcement(ctx, event.announcement_id)
    community = await svc.community(ann.community_id)
    author = await _member(ctx, ann.author_id)
    texts: dict[str, str] = {}
    common: dict[str, Any] = {"kind": "announcement", "batch": ann.batch, "community_id": community.id,
                              "photo": ann.photo_file_id}
    for m in [await _person(ctx, i) for i in event.member_ids]:
        locale = ctx.members.locale_for(m, community)
        if locale not in texts:
            texts[locale] = await message_text(svc, ann, locale, author)
        key = f"ann:{ann.id}:m{m.id}"
        if ann.urgent:  # urgent: quiet hours do not apply
            await ctx.outbox.enqueue(key=key, chat_id=m.telegram_id, member_id=m.id, urgent=True,
                                     text=texts[locale], **common)
        else:
            await ctx.outbox.notify(m, key=key, text=texts[locale], tz=community.timezone, **common)
    for chat_id in event.chat_ids:
        if community.locale not in texts:
            texts[community.locale] = await message_text(svc, ann, community.locale, author)
        await ctx.outbox.enqueue(key=f"ann:{ann.id}:c{chat_id}", chat_id=chat_id, urgent=ann.urgent,
                                 text=texts[community.locale], **common)


def _stale_text(audience: str, when: str) -> str:
    return _("📣 A scheduled announcement to {audience} ({when}) was cancelled: its author no longer "
             "has a role that may announce to them. Send it again with /announce if it is still "
             "needed.").format(audience=esc(audience), when=when)


@notice(AnnouncementCancelled)
async def tell_cancelled(event: AnnouncementCancelled, ctx: NoticeContext) -> None:
    svc = _svc(ctx)
    ann = await _announcement(ctx, event.announcement_id)
    community = await svc.community(ann.community_id)
    when = local_time(ann.send_at, community.timezone, "%Y-%m-%d %H:%M")
    author = await _member(ctx, event.author_id)
    if author is not None:
        with use_locale(ctx.members.locale_for(author, community)):
            text = _("📣 Your announcement to {audience} planned for {when} was not sent: you no longer "
                     "have a role that may announce to them. Nothing went out.").format(
                audience=esc(await audience_name(svc, ann)), when=when)
        await ctx.outbox.notify(author, key=f"ann_stale:{ann.id}:author", kind="announcement_cancelled",
                                text=text, community_id=community.id, tz=community.timezone)
    if event.office_chat is not None:
        with use_locale(community.locale):
            text = _stale_text(await audience_name(svc, ann), when)
        await ctx.outbox.enqueue(key=f"ann_stale:{ann.id}:office", kind="announcement_cancelled",
                                 chat_id=event.office_chat, text=text, community_id=community.id)
    for person in [await _person(ctx, i) for i in event.staff_ids]:
        with use_locale(ctx.members.locale_for(person, community)):
            text = _stale_text(await audience_name(svc, ann), when)
        await ctx.outbox.notify(person, key=f"ann_stale:{ann.id}:{person.id}", kind="announcement_cancelled",
                                text=text, community_id=community.id, tz=community.timezone)


@notice(AnnouncementReported)
async def report_to_author(event: AnnouncementReported, ctx: NoticeContext) -> None:
    svc = _svc(ctx)
    ann = await _announcement(ctx, event.announcement_id)
    community = await svc.community(ann.community_id)
    author = await _person(ctx, event.author_id)
    figures: dict[str, Any] = dict(event.figures)
    with use_locale(ctx.members.locale_for(author, community)):
        text = render("announcements_report.html.j2", id=ann.id, audience=await audience_name(svc, ann),
                      urgent=ann.urgent, **figures)
    await ctx.outbox.notify(author, key=f"ann_report:{ann.id}", kind="announcement_report", text=text,
                            tz=community.timezone, community_id=community.id)
