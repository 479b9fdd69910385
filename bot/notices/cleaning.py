"""Cleaning days' words and buttons: the reminders (residents' chats first: they carry the live count), the
captain's card and its coalesced edits, the changes told to those who answered, the summary after the day,
the "how did it go" prompt, and the texts of the /cleanday and /cleaning screens. The rules are in
bot/services/cleaning/."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import _, ngettext, use_locale
from bot.keyboards.cleaning import DayCb, RsvpCb
from bot.keyboards.places import buildings_text
from bot.notices.recurrence import date_label, join_list, offset_label, rule_label
from bot.rendering import CAPTION_LIMIT, esc, plain_len, render, shorten
from bot.services.cleaning import (
    CARD_EDIT_DELAY,
    GROUP_EDIT_DELAY,
    NAMES_SHOWN,
    AfterDayDue,
    CleaningService,
    CountsChanged,
    DayChanged,
    DayRecorded,
    DayView,
    Draft,
    ReminderDue,
)
from bot.services.cleaning.base import set_place_label
from bot.services.events import NoticeContext, notice
from bot.services.recurrence import fmt_hhmm, reminder_at
from models import CleaningDay, CleaningSeries, Community, Member

set_place_label(buildings_text)  # the service names long lists of buildings with it


def _svc(ctx: NoticeContext) -> CleaningService:
    return CleaningService(ctx.session, ctx.clock, ctx.members, ctx.chats, ctx.outbox)


async def _occurrence(ctx: NoticeContext, day_id: int
                      ) -> tuple[CleaningService, CleaningDay, CleaningSeries, Community, str]:
    """An event's day, its series and community, and the name of its place."""
    svc = _svc(ctx)
    day, series = await svc.get_day(day_id)
    community = await svc.community(series.community_id)
    return svc, day, series, community, await svc.place_name(series)


def fit_caption(text: str) -> str:
    """Captions hold 1024 characters: keep whole lines that fit, as plain escaped text if cut."""
    if plain_len(text) <= CAPTION_LIMIT:
        return text
    lines, out = text.split("\n"), list[str]()
    for line in lines:
        candidate = "\n".join([*out, line])
        if plain_len(candidate) > CAPTION_LIMIT - 1:
            break
        out.append(line)
    return "\n".join(out) if out else esc(shorten(text, CAPTION_LIMIT))


# ---------------------------------------------------------------------------------------- buttons


def rsvp_buttons(day: CleaningDay, locale: str, answer: bool | None = None) -> list[list[tuple[str, str]]]:
    """The reminder's buttons; a person who already answered sees their answer ticked."""
    with use_locale(locale):
        yes = ("✅ " + _("I'll join")) if answer is True else _("🙋 I'll join")
        no = ("✅ " if answer is False else "") + _("Not this time")
        return [[(yes, RsvpCb(day=day.id, yes=True).pack()), (no, RsvpCb(day=day.id, yes=False).pack())]]


def card_buttons(day: CleaningDay, locale: str) -> list[list[tuple[str, str]]]:
    with use_locale(locale):
        return [[(_("📋 Details"), DayCb(action="view", day=day.id).pack())]]


def after_buttons(day: CleaningDay, locale: str) -> list[list[tuple[str, str]]]:
    with use_locale(locale):
        return [[(_("📝 Record attendance"), DayCb(action="record", day=day.id).pack())],
                [(_("📷 Report a problem found"), DayCb(action="report", day=day.id).pack())]]


# ---------------------------------------------------------------------------------------- texts


async def reminder_text(svc: CleaningService, day: CleaningDay, series: CleaningSeries, community: Community,
                        place: str, offset: str, locale: str, *, group: bool) -> str:
    tz = community.timezone
    coming = (await svc.counts(day.id))[0] if group else None
    with use_locale(locale):
        sent_on = reminder_at(offset, day.local_date, series.start_minutes, tz).astimezone(ZoneInfo(tz)).date() \
            if offset else day.local_date
        delta = (day.local_date - sent_on).days
        when = date_label(day.local_date)
        if delta == 0:
            when = _("today, {date}").format(date=when)
        elif delta == 1:
            when = _("tomorrow, {date}").format(date=when)
        end = day.ends_at.astimezone(ZoneInfo(tz)).strftime("%H:%M")
        return render("cleaning_reminder.html.j2", when=when, place=place, start=fmt_hhmm(series.start_minutes),
                      end=end, meeting_point=series.meeting_point, tasks=series.tasks, coming=coming,
                      status=day.status)


async def card_text(svc: CleaningService, day: CleaningDay, series: CleaningSeries, locale: str) -> str:
    place = await svc.place_name(series)
    coming = await svc.coming_members(day.id)
    _yes, no = await svc.counts(day.id)
    with use_locale(locale):
        return render("cleaning_card.html.j2", date=date_label(day.local_date),
                      start=fmt_hhmm(series.start_minutes), place=place,
                      names=[m.display_name for m in coming[:NAMES_SHOWN]], coming=len(coming),
                      more=max(0, len(coming) - NAMES_SHOWN), not_coming=no, status=day.status)


async def series_text(svc: CleaningService, draft_or_series: Draft | CleaningSeries,
                      locale: str | None = None) -> str:
    """The summary shown before Create and in the series view."""
    f = await svc.facts(draft_or_series)
    with use_locale(locale) if locale else nullcontext():
        return render("cleaning_series.html.j2", place=f.place, how=rule_label(f.rule),
                      start=fmt_hhmm(f.start_minutes),
                      end=fmt_hhmm((f.start_minutes + f.duration_minutes) % (24 * 60)),
                      meeting_point=f.meeting_point, tasks=f.tasks, photo=f.photo,
                      reminders=join_list([offset_label(o) for o in f.reminders]) or "—",
                      first=date_label(f.first) if f.first else None)


async def summary_text(svc: CleaningService, local_date: date, series: CleaningSeries, *, people: int,
                       bags: int | None, summary: str | None, locale: str) -> str:
    """What the residents' chat reads after the day (also the captain's preview)."""
    place = await svc.place_name(series)
    with use_locale(locale):
        return render("cleaning_summary.html.j2", date=date_label(local_date), place=place, people=people,
                      bags=bags, summary=summary)


def change_text(day: CleaningDay, series: CleaningSeries, place: str, tz: str, what: str) -> str:
    when = _("{date} {time}").format(date=date_label(day.local_date), time=fmt_hhmm(series.start_minutes))
    if what == "skipped":
        return _("🧹 The cleaning day on {when} ({place}) will not take place. Thank you for signing up — "
                 "see you next time!").format(when=when, place=esc(place))
    if what == "cancelled":
        return _("🧹 The cleaning days for {place} have been cancelled, including {when}. Thank you for "
                 "signing up!").format(when=when, place=esc(place))
    end = (day.starts_at + timedelta(minutes=series.duration_minutes)).astimezone(ZoneInfo(tz))
    text = _("🧹 Change to the cleaning day ({place}): now {date} {start}–{end}.").format(
        place=esc(place), date=date_label(day.local_date), start=fmt_hhmm(series.start_minutes),
        end=end.strftime("%H:%M"))
    if series.meeting_point:
        text += "\n" + _("📍 Meet at: {point}").format(point=esc(series.meeting_point))
    return text


# ---------------------------------------------------------------------------------------- notices


async def _members(ctx: NoticeContext, ids: tuple[int, ...]) -> list[Member]:
    """The event's people (the service loaded them in this session: no query each)."""
    out = [await ctx.session.get(Member, mid) for mid in ids]
    return [m for m in out if m is not None]


@notice(ReminderDue)
async def remind(event: ReminderDue, ctx: NoticeContext) -> None:
    svc, day, series, community, place = await _occurrence(ctx, event.day_id)
    offset = event.offset
    texts: dict[str, str] = {}
    photo = series.photo_file_id
    answers = await svc.answers(day.id)
    # The residents' chat first (the sender goes by row order): it carries the live count, which taps
    # arriving while thousands of private reminders go out can only update once it is posted.
    for chat_id in event.chat_ids:
        text = await reminder_text(svc, day, series, community, place, offset, community.locale, group=True)
        await ctx.outbox.enqueue(key=f"clean:{day.id}:{offset}:c{chat_id}", kind="cleaning_reminder_group",
                                 chat_id=chat_id, text=fit_caption(text) if photo else text, photo=photo,
                                 buttons=rsvp_buttons(day, community.locale), expires_at=day.starts_at,
                                 community_id=community.id,
                                 extra={"day_id": day.id, "offset": offset, "locale": community.locale})
    for m in await _members(ctx, event.member_ids):
        locale = ctx.members.locale_for(m, community)
        if locale not in texts:
            texts[locale] = await reminder_text(svc, day, series, community, place, offset, locale, group=False)
        text = fit_caption(texts[locale]) if photo else texts[locale]
        await ctx.outbox.notify(m, key=f"clean:{day.id}:{offset}:{m.id}", kind="cleaning_reminder",
                                text=text, photo=photo, tz=community.timezone,
                                buttons=rsvp_buttons(day, locale, answers.get(m.id)), expires_at=day.starts_at,
                                community_id=community.id)
    # The captain's card with the live count, once per occurrence (with its first reminder).
    for author in await _members(ctx, (event.card_to,) if event.card_to is not None else ()):
        locale = ctx.members.locale_for(author, community)
        await ctx.outbox.notify(author, key=f"clean_card:{day.id}", kind="cleaning_card",
                                text=await card_text(svc, day, series, locale), tz=community.timezone,
                                buttons=card_buttons(day, locale), community_id=community.id,
                                extra={"day_id": day.id, "locale": locale})


@notice(DayChanged)
async def tell_change(event: DayChanged, ctx: NoticeContext) -> None:
    _s, day, series, community, place = await _occurrence(ctx, event.day_id)
    what, stamp = event.what, event.stamp
    for m in await _members(ctx, event.member_ids):
        with use_locale(ctx.members.locale_for(m, community)):
            text = change_text(day, series, place, community.timezone, what)
        await ctx.outbox.notify(m, key=f"clean_{what}:{day.id}:{m.id}:{stamp}", kind="cleaning_change",
                                text=text, tz=community.timezone, community_id=community.id)
    for chat_id in event.chat_ids:
        with use_locale(community.locale):
            text = change_text(day, series, place, community.timezone, what)
        await ctx.outbox.enqueue(key=f"clean_{what}:{day.id}:c{chat_id}:{stamp}", kind="cleaning_change",
                                 chat_id=chat_id, text=text, community_id=community.id)


@notice(CountsChanged)
async def refresh_posts(event: CountsChanged, ctx: NoticeContext) -> None:
    """Edit the captain's card and the reminders in residents' chats to show the current count
    (coalesced: a burst of answers becomes one edit per message)."""
    svc, day, series, community, place = await _occurrence(ctx, event.day_id)
    posts = await svc.posts(day.id)
    for post in posts:
        if post.kind == "card":
            text = await card_text(svc, day, series, post.locale)
            buttons = card_buttons(day, post.locale)
            delay = CARD_EDIT_DELAY
        else:
            text = await reminder_text(svc, day, series, community, place, post.offset or "", post.locale,
                                       group=True)
            buttons = rsvp_buttons(day, post.locale) if day.status == "scheduled" else []
            delay = GROUP_EDIT_DELAY
        if post.photo:
            text = fit_caption(text)
        await ctx.outbox.enqueue_edit(key=f"cleanpost:{post.id}", kind="cleaning_edit", chat_id=post.chat_id,
                                      message_id=post.message_id, text=text, caption=post.photo,
                                      buttons=buttons, community_id=community.id, delay=delay,
                                      urgent=True)  # coalesced, so it cannot crowd out the batch


@notice(DayRecorded)
async def post_summary(event: DayRecorded, ctx: NoticeContext) -> None:
    svc, day, series, community, _place = await _occurrence(ctx, event.day_id)
    text = await summary_text(svc, day.local_date, series, people=day.attendance or 0, bags=day.bags,
                              summary=day.summary, locale=community.locale)
    for chat_id in event.chat_ids:
        kwargs: dict[str, Any] = {}
        if day.after_photos:
            kwargs["photos"] = list(day.after_photos)
            text_out = fit_caption(text)
        else:
            text_out = text
        await ctx.outbox.enqueue(key=f"clean_summary:{day.id}:c{chat_id}", kind="cleaning_summary",
                                 chat_id=chat_id, text=text_out, community_id=community.id, **kwargs)


@notice(AfterDayDue)
async def ask_how_it_went(event: AfterDayDue, ctx: NoticeContext) -> None:
    _s, day, _series, community, place = await _occurrence(ctx, event.day_id)
    for person in await _members(ctx, event.member_ids):
        locale = ctx.members.locale_for(person, community)
        with use_locale(locale):
            text = _("🧹 How did the cleaning day go? {date}, {place}.").format(
                date=date_label(day.local_date), place=esc(place)) + "\n" + ngettext(
                "%(num)d neighbour said they would come.", "%(num)d neighbours said they would come.",
                event.coming) + "\n" + _("Record who took part and post a short summary to the residents' chat.")
        await ctx.outbox.notify(person, key=f"clean_after:{day.id}:{person.id}", kind="cleaning_after",
                                text=text, tz=community.timezone, buttons=after_buttons(day, locale),
                                community_id=community.id)


# ---------------------------------------------------------------------------------------- screens


def closed_text(reason: str) -> str:
    return {
        "skipped": _("This cleaning day was skipped."),
        "cancelled": _("These cleaning days were cancelled."),
        "over": _("This cleaning day is already over. Thank you!"),
        "started": _("This cleaning day has already started."),
        "not_started": _("You can record attendance once the cleaning day has started."),
    }.get(reason, _("This cleaning day is no longer open."))


def day_text(view: DayView, description: str) -> str:
    lines = [description, ""]
    if view.day.status == "skipped":
        lines.append(_("⏭ {date} is skipped.").format(date=date_label(view.day.local_date)))
    else:
        lines.append(_("📅 {date}: 🙋 {yes} coming · 🙅 {no} not this time").format(
            date=date_label(view.day.local_date), yes=len(view.coming), no=view.not_coming))
        if view.coming:
            lines.append(", ".join(esc(m.display_name) for m in view.coming[:40]))
    return "\n".join(lines)
