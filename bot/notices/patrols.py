"""The patrols' words: what volunteers and captains are told when something happens on a shift (one
function per event of bot/services/patrols/events.py, each recipient in their language, through the
outbox), the weekly roster message, the calendar file, and the words handlers need for days, shift times
and refusals. Rules (who, when, what changed) are in bot/services/patrols/."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot import ics
from bot.i18n import _, __, ngettext, use_locale
from bot.keyboards.patrols import WEEKDAYS, pt, ro
from bot.rendering import TEXT_LIMIT, esc, render, shorten
from bot.services.background import JobFailed, JobMessage, JobOutcome, JobRun, job_kind
from bot.services.events import NoticeContext, notice
from bot.services.outbox import Buttons
from bot.services.patrols import (
    AssignmentAnswered,
    CalendarEntry,
    CheckedIn,
    CoverNeeded,
    NobodyCheckedIn,
    PatrolService,
    RosterChanged,
    RosterDue,
    ShiftAutoClosed,
    ShiftCancelled,
    ShiftReminder,
    ShiftUnderstaffed,
    ShiftView,
    SwapOffered,
    SwapTaken,
    VolunteerAsked,
    VolunteerCantCome,
    VolunteerRemoved,
    calendar_for,
)
from models import Member, OutboxItem, OutboxStatus, RosterMessage, ShiftStatus

MONTHS = (__("Jan"), __("Feb"), __("Mar"), __("Apr"), __("May"), __("Jun"), __("Jul"), __("Aug"),
          __("Sep"), __("Oct"), __("Nov"), __("Dec"))


# ------------------------------------------------------------------------------------- words for handlers


def day_label(day: date, today: date | None = None) -> str:
    """'Mon 23 Nov' / '11月23日周一', or 'today' / 'tomorrow' when `today` is given."""
    if today is not None and day == today:
        return _("today")
    if today is not None and day == today + timedelta(days=1):
        return _("tomorrow")
    return _("{weekday} {day} {month_name}").format(
        weekday=str(WEEKDAYS[day.weekday()]), day=day.day, month=day.month, month_name=str(MONTHS[day.month - 1]))


def when(v: ShiftView, today: date | None = None) -> str:
    """'tomorrow 19:00–21:00': the shift's day (relative to `today` when given) and local times."""
    return "{} {}–{}".format(day_label(v.local_start.date(), today), v.local_start.strftime("%H:%M"),
                             v.local_end.strftime("%H:%M"))


def error_text(reason: str) -> str:
    """What to tell the person a rule refused (PatrolError.reason), in the current locale."""
    texts = {
        "full": _("Sorry, this shift is full now."),
        "too_late": _("It's less than 12 hours to the start, so only your captain can take you off this "
                      "shift now. Please message them, or use Swap to find someone."),
        "started": _("This shift has already started."),
        "cancelled": _("This shift was cancelled."),
        "already": _("Nothing changed: that was already done."),
        "not_on_shift": _("You are not on this shift."),
        "overlap": _("You already have a shift at that time."),
        "gone": _("Someone else was faster: this offer is taken."),
        "own": _("That's your own offer."),
        "not_volunteer": _("This person is not a volunteer of the community."),
        "not_checked_in": _("Please check in first."),
        "window": _("Check-in opens 30 minutes before the start and closes at the end of the shift."),
        "invalid": _("That doesn't look right. Please try again."),
    }
    return texts.get(reason, texts["invalid"])


def calendar_file(entries: Sequence[CalendarEntry], member_id: int, now: datetime) -> bytes:
    """My shifts as an .ics file, in the current locale."""
    events = []
    for entry in entries:
        v = entry.view
        co = ", ".join(v.names(exclude=member_id))
        description = v.route.description
        if co:
            description = (description + "\n" if description else "") + _("With: {names}").format(names=co)
        events.append(ics.Event(uid=f"patrol-shift-{v.id}@neighbourhood-bot", start=v.shift.starts_at,
                                end=v.shift.ends_at, summary=_("Patrol: {route}").format(route=v.route.name),
                                description=description, location=entry.place,
                                cancelled=v.shift.status == ShiftStatus.CANCELLED))
    return ics.calendar(events, name=_("My patrols"), now=now)


# ------------------------------------------------------------------------------------- helpers


async def _shift(ctx: NoticeContext, shift_id: int) -> tuple[PatrolService, ShiftView, date]:
    """The service on the notice's session, the shift as it is now (pending changes written first) and
    today in its community."""
    await ctx.session.flush()
    svc = PatrolService(ctx.session, ctx.clock, ctx.members, ctx.chats, ctx.outbox)
    v = await svc.view(shift_id)
    return svc, v, await svc.today(v.shift.community_id)


async def _locale(svc: PatrolService, member: Member, v: ShiftView) -> str:
    return svc.members.locale_for(member, await svc.community(v.shift.community_id))


async def _to_captains(ctx: NoticeContext, svc: PatrolService, v: ShiftView, *, key: str, kind: str,
                       words: Callable[[], tuple[str, Buttons | None]], **kwargs: Any) -> None:
    """Tell whoever answers for the shift's route, each in their language: `words()` runs in it and gives the
    text and buttons; the outbox key is `key` and the captain's id."""
    for captain in await svc.responsible(v.route):
        with use_locale(await _locale(svc, captain, v)):
            text, buttons = words()
        if buttons is not None:
            kwargs["buttons"] = buttons
        await ctx.outbox.notify(captain, key=f"{key}:{captain.id}", kind=kind, text=text, tz=v.tz.key, **kwargs)


async def _people(ctx: NoticeContext, ids: Sequence[int]) -> list[Member]:
    out = []
    for member_id in ids:
        member = await ctx.members.get(member_id)
        if member is not None:
            out.append(member)
    return out


# ------------------------------------------------------------------------------------- volunteers


@notice(ShiftCancelled)
async def shift_cancelled(event: ShiftCancelled, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    tz = (await svc.community(v.shift.community_id)).timezone
    for m in await _people(ctx, event.member_ids):
        with use_locale(await _locale(svc, m, v)):
            text = _("❌ The patrol {when}, {route}, is cancelled. Thank you for signing up — nothing "
                     "else to do.").format(when=when(v, today), route=esc(v.route.name))
        await ctx.outbox.notify(m, key=f"pt:s{v.id}:cancel:{m.id}", kind="patrol_cancelled", text=text, tz=tz,
                                urgent=True)


@notice(VolunteerRemoved)
async def volunteer_removed(event: VolunteerRemoved, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    for member in await _people(ctx, [event.member_id]):
        with use_locale(await _locale(svc, member, v)):
            text = _("Your captain took you off the patrol {when}, {route}. Thank you!").format(
                when=when(v, today), route=esc(v.route.name))
        await ctx.outbox.notify(member, key=f"pt:s{v.id}:removed:{event.assignment_id}:{event.at.timestamp():.0f}",
                                kind="patrol_removed", text=text, tz=v.tz.key, urgent=True)


@notice(CoverNeeded)
async def cover_needed(event: CoverNeeded, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    shift = v.shift
    for person in await _people(ctx, event.asked):
        with use_locale(await _locale(svc, person, v)):
            text = _("🆘 Cover needed: patrol {when}, {route} needs {n} more. Can you come?").format(
                when=when(v, today), route=esc(v.route.name), n=max(1, shift.min_volunteers - shift.filled))
            buttons = [[(_("🙋 I'll take it"), pt("take", shift.id))]]
        await ctx.outbox.notify(person, key=f"pt:s{shift.id}:cover:{event.assignment_id}:{event.stamp}:{person.id}",
                                kind="patrol_cover", text=text, tz=v.tz.key, buttons=buttons,
                                expires_at=shift.starts_at)


@notice(VolunteerAsked)
async def volunteer_asked(event: VolunteerAsked, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    captain = await ctx.members.get(event.captain_id)
    for member in await _people(ctx, [event.member_id]):
        with use_locale(await _locale(svc, member, v)):
            text = _("👤 {captain} asks you to patrol {when}, {route}. Can you?").format(
                captain=esc(captain.display_name if captain else ""), when=when(v, today), route=esc(v.route.name))
            buttons = [[(_("✅ Yes, I'll go"), pt("yes", event.assignment_id)),
                        (_("🙅 No, sorry"), pt("no", event.assignment_id))]]
        await ctx.outbox.notify(member, key=f"pt:s{v.id}:ask:{event.assignment_id}:{event.at.timestamp():.0f}",
                                kind="patrol_assign", text=text, tz=v.tz.key, buttons=buttons,
                                expires_at=v.shift.starts_at)


@notice(SwapOffered)
async def swap_offered(event: SwapOffered, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    giver = await ctx.members.get(event.from_member_id)
    for person in await _people(ctx, event.asked):
        with use_locale(await _locale(svc, person, v)):
            text = _("🔁 {name} can't do the patrol {when}, {route}, and offers it. Can you take it?").format(
                name=esc(giver.display_name if giver else ""), when=when(v, today), route=esc(v.route.name))
            buttons = [[(_("🙋 I'll take it"), pt("swapok", event.swap_id))]]
        await ctx.outbox.notify(person, key=f"pt:s{v.id}:swap:{event.swap_id}:{person.id}", kind="patrol_swap",
                                text=text, tz=v.tz.key, buttons=buttons, expires_at=v.shift.starts_at)


@notice(CheckedIn)
async def checked_in(event: CheckedIn, ctx: NoticeContext) -> None:
    svc, v, _today = await _shift(ctx, event.shift_id)
    member = await ctx.members.get(event.member_id)
    if member is None:
        return
    for _a, m in v.active:
        if m.id == member.id:
            continue
        with use_locale(await _locale(svc, m, v)):
            text = _("🚶 {name} checked in for the patrol {route} ({time}).").format(
                name=esc(member.display_name), route=esc(v.route.name), time=v.local_start.strftime("%H:%M"))
        await ctx.outbox.notify(m, key=f"pt:s{v.id}:on:{member.id}:{m.id}", kind="patrol_on", text=text,
                                tz=v.tz.key, urgent=True, expires_at=v.shift.ends_at)


@notice(ShiftReminder)
async def shift_reminder(event: ShiftReminder, ctx: NoticeContext) -> None:
    """24 h before: confirm or can't make it; 1 h before: go and check in. Urgent (the volunteer chose the
    shift), expiring at the start so a late one is never sent."""
    svc, v, today = await _shift(ctx, event.shift_id)
    member = await ctx.members.get(event.member_id)
    if member is None:
        return
    s = v.shift
    with use_locale(await _locale(svc, member, v)):
        co = v.names(exclude=member.id)
        with_line = _("with {names}").format(names=esc(", ".join(co))) if co else _("no one else yet")
        if event.hours == 1:
            text = _("⏰ Patrol in 1 hour: {when}, {route}, {with_line}. When you're there, open /patrols "
                     "and check in.").format(when=when(v, today), route=esc(v.route.name), with_line=with_line)
            await ctx.outbox.notify(member, key=f"pt:s{s.id}:r1:{member.id}", kind="patrol_reminder", text=text,
                                    tz=v.tz.key, urgent=True, expires_at=s.starts_at,
                                    buttons=[[(_("🚶 My patrols"), pt("menu"))]])
        else:
            text = _("🚶 Patrol {when}, {route}, {with_line}.").format(
                when=when(v, today), route=esc(v.route.name), with_line=with_line)
            buttons = [[(_("✅ I'll be there"), pt("confirm", s.id)), (_("🙅 Can't make it"), pt("cant", s.id))]]
            await ctx.outbox.notify(member, key=f"pt:s{s.id}:r24:{member.id}", kind="patrol_reminder", text=text,
                                    tz=v.tz.key, urgent=True, expires_at=s.starts_at, buttons=buttons)


# ------------------------------------------------------------------------------------- captains


@notice(VolunteerCantCome)
async def volunteer_cant_come(event: VolunteerCantCome, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    shift = v.shift
    member = await ctx.members.get(event.member_id)

    def words() -> tuple[str, Buttons | None]:
        return _("🙅 {name} can't make the patrol {when}, {route}. On it now: {count} of {min}–{max}.").format(
            name=esc(member.display_name if member else ""), when=when(v, today), route=esc(v.route.name),
            count=shift.filled, min=shift.min_volunteers, max=shift.max_volunteers), None

    # The button is worded in the current locale (the update's), not the captain's: as it always was.
    await _to_captains(ctx, svc, v, key=f"pt:s{shift.id}:cant:{event.assignment_id}", kind="patrol_cant",
                       words=words, expires_at=shift.starts_at,
                       buttons=[[(_("👥 See the shift"), ro("shift", shift.id))]])


@notice(AssignmentAnswered)
async def assignment_answered(event: AssignmentAnswered, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    captain = await ctx.members.get(event.captain_id)
    member = await ctx.members.get(event.member_id)
    if captain is None or member is None:
        return
    with use_locale(await _locale(svc, captain, v)):
        text = (_("✅ {name} will patrol {when}, {route}.") if event.yes else
                _("🙅 {name} can't patrol {when}, {route}.")).format(
            name=esc(member.display_name), when=when(v, today), route=esc(v.route.name))
    await ctx.outbox.notify(captain, key=f"pt:s{v.id}:ans:{event.assignment_id}:{event.at.timestamp():.0f}",
                            kind="patrol_assign_answer", text=text, tz=v.tz.key)


@notice(SwapTaken)
async def swap_taken(event: SwapTaken, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    taker = await ctx.members.get(event.taker_id)
    giver = await ctx.members.get(event.giver_id)
    taker_name = esc(taker.display_name if taker else "")
    if giver is not None:
        with use_locale(await _locale(svc, giver, v)):
            text = _("🔁 {name} took your patrol {when}, {route}. You're free — thank you for finding cover!"
                     ).format(name=taker_name, when=when(v, today), route=esc(v.route.name))
        await ctx.outbox.notify(giver, key=f"pt:s{v.id}:swapped:{event.swap_id}:{giver.id}", kind="patrol_swapped",
                                text=text, tz=v.tz.key, urgent=True)
    await _to_captains(ctx, svc, v, key=f"pt:s{v.id}:swapped:{event.swap_id}", kind="patrol_swapped", words=lambda: (
        _("🔁 Swap on the patrol {when}, {route}: {taker} takes over from {giver}.").format(
            when=when(v, today), route=esc(v.route.name), taker=taker_name,
            giver=esc(giver.display_name if giver else "—")), None))


@notice(ShiftUnderstaffed)
async def shift_understaffed(event: ShiftUnderstaffed, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    s = v.shift
    await _to_captains(ctx, svc, v, key=f"pt:s{s.id}:u{event.window}", kind="patrol_understaffed", words=lambda: (
        ngettext("⚠️ The patrol {when}, {route}, has {count} of at least {min} volunteer.",
                 "⚠️ The patrol {when}, {route}, has {count} of at least {min} volunteers.", event.need).format(
            when=when(v, today), route=esc(v.route.name), count=event.have, min=event.need),
        [[(_("👤 Assign a volunteer"), ro("assign", s.id)), (_("❌ Cancel shift"), ro("cancel", s.id))]]),
        expires_at=s.starts_at)


@notice(NobodyCheckedIn)
async def nobody_checked_in(event: NobodyCheckedIn, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    s = v.shift
    await _to_captains(ctx, svc, v, key=f"pt:s{s.id}:nci", kind="patrol_no_checkin", words=lambda: (
        _("🔕 Nobody has checked in for the patrol {when}, {route} ({names}).").format(
            when=when(v, today), route=esc(v.route.name), names=esc(", ".join(v.names()) or _("nobody signed up"))),
        None), urgent=True, expires_at=s.ends_at)


@notice(ShiftAutoClosed)
async def shift_auto_closed(event: ShiftAutoClosed, ctx: NoticeContext) -> None:
    svc, v, today = await _shift(ctx, event.shift_id)
    who = [m.display_name for _a, m in v.people if m.id in event.member_ids]
    await _to_captains(ctx, svc, v, key=f"pt:s{v.id}:auto", kind="patrol_auto_closed", words=lambda: (
        _("🏁 The patrol {when}, {route}, was closed automatically: no check-out from {names}. "
          "Their time counts to the scheduled end.").format(
            when=when(v, today), route=esc(v.route.name), names=esc(", ".join(who))), None))


# ------------------------------------------------------------------------------------- the weekly roster


async def roster_text(svc: PatrolService, community_id: int, chat_id: int, week_start: date) -> str | None:
    """The week's roster message of a team chat, in the community's language (None: no shifts)."""
    views = await svc.roster_shifts(community_id, chat_id, week_start)
    if views is None:
        return None
    community = await svc.community(community_id)
    with use_locale(community.locale):
        lines = [{"when": when(v), "route": v.route.name, "names": ", ".join(v.names()),
                  "count": v.shift.filled, "min": v.shift.min_volunteers, "max": v.shift.max_volunteers,
                  "needs": v.needs, "cancelled": v.shift.status == ShiftStatus.CANCELLED} for v in views]
        text = render("patrols_roster.html.j2", week=day_label(week_start), lines=lines[:40],
                      more=max(0, len(lines) - 40), bot_link="/patrols")
    return text if len(text) <= TEXT_LIMIT else shorten(text, TEXT_LIMIT)


async def _roster(ctx: NoticeContext, roster_id: int) -> tuple[RosterMessage, str] | None:
    rm = await ctx.session.get(RosterMessage, roster_id)
    if rm is None:
        return None
    svc = PatrolService(ctx.session, ctx.clock, ctx.members, ctx.chats, ctx.outbox)
    text = await roster_text(svc, rm.community_id, rm.chat_id, rm.week_start)
    return None if text is None else (rm, text)


@notice(RosterDue)
async def roster_due(event: RosterDue, ctx: NoticeContext) -> None:
    found = await _roster(ctx, event.roster_id)
    if found is None:
        return
    rm, text = found
    await ctx.outbox.enqueue(key=f"pt:roster:{rm.id}", kind="patrol_roster", chat_id=rm.chat_id, text=text,
                             community_id=rm.community_id, expires_at=event.expires_at)


@notice(RosterChanged)
async def roster_changed(event: RosterChanged, ctx: NoticeContext) -> None:
    """Edit the posted message in place; if it is still waiting in the outbox, change what it will say."""
    found = await _roster(ctx, event.roster_id)
    if found is None:
        return
    rm, text = found
    if rm.message_id is not None:
        await ctx.outbox.enqueue_edit(key=f"pt:roster_edit:{rm.id}", kind="patrol_roster_edit", chat_id=rm.chat_id,
                                      message_id=rm.message_id, text=text, community_id=rm.community_id)
        return
    pending = (await ctx.session.execute(select(OutboxItem).where(
        OutboxItem.dedup_key == f"pt:roster:{rm.id}", OutboxItem.status == OutboxStatus.PENDING))
    ).scalar_one_or_none()
    if pending is not None:
        pending.payload = {**pending.payload, "text": text}


# The /patrols calendar file, made by the job worker off the update path (handlers/patrols submits it).
@job_kind("patrol_calendar")
async def calendar_job(run: JobRun) -> JobOutcome:
    entries = await calendar_for(run.sessions, run.clock, run.member_id)
    if entries is None:
        raise JobFailed(_("Sorry, you can't do this here."))
    data = calendar_file(entries, run.member_id, run.clock())
    path = run.folder / "patrols.ics"
    await asyncio.to_thread(path.write_bytes, data)
    return JobOutcome("", [JobMessage(text=_("📅 Your patrol shifts. Open the file to add them to your calendar."),
                                      document=path)])
