"""The public board's words: the lines of /board and the weekly post to the residents' chats (每周一通报).
Rules (which issues, when) are in bot/services/board.py. No line names a person."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n import _, ngettext, use_locale
from bot.rendering import esc, shorten
from bot.services.board import WEEKLY_ALBUMS, BoardItem, BoardService
from bot.services.cards import fmt_date, fmt_when
from bot.services.consultations import ConsultationsService
from bot.services.outbox import Outbox
from bot.services.surveys import running_coverage
from bot.services.triage import category_label
from models import Community, Consultation, IssueStatus


def resident_status(status: str) -> str:
    """A status in the residents' words (conversations.md: 已有人处理, 楼栋长说已经处理好了, 已完成)."""
    words = {
        IssueStatus.NEW: _("waiting for the captains"),
        IssueStatus.ACCEPTED: _("being handled"),
        IssueStatus.IN_PROGRESS: _("being handled"),
        IssueStatus.REOPENED: _("reopened, being handled again"),
        IssueStatus.REFERRED: _("passed to the responsible department"),
        IssueStatus.RESOLVED: _("fixed"),
        IssueStatus.VERIFYING: _("fixed"),
        IssueStatus.CLOSED: _("done"),
    }
    return words.get(status, status)


def item_lines(item: BoardItem, community: Community, now: datetime) -> list[str]:
    """Two short lines per issue: what and where, then its state (and deadline, or when it was fixed)."""
    what = f"{category_label(community, item.category)} {item.hashtag}"
    if item.urgent and not item.fixed:
        what += " · " + _("urgent")
    detail = item.place_note or item.description
    if detail:
        what += " · " + esc(shorten(detail, 60))
    if item.fixed:
        when = fmt_date(item.resolved_at, community.timezone) if item.resolved_at else "—"
        state = _("✅ fixed {date}").format(date=when)
        if item.before and item.after:
            state += " · " + _("📷 before/after")
    else:
        state = _("Status: {status}").format(status=resident_status(item.status))
        if item.deadline_at is not None:
            due = fmt_when(item.deadline_at, community.timezone, now)
            late = item.deadline_at < now  # an escalation may have set a new one: not late then
            state += " · " + (_("was due {when}") if late else _("due {when}")).format(when=due)
    return [what, "   " + state]


def photos_of(item: BoardItem) -> list[str]:
    """Before then after, at most 10 (an album's limit), keeping at least one of each."""
    after = item.after[:5]
    return item.before[:10 - len(after)] + after


async def post_weekly(session: AsyncSession, clock: Clock, community: Community, week: str) -> int:
    """This week's post to every residents' chat of the community that has not had it. Returns how many
    chats got it. The outbox keys carry the chat and the week, so a second tick, a restart or a second
    instance adds nothing; the week done per chat is recorded too, so a quiet week is looked at once."""
    board = BoardService(session, clock)
    outbox = Outbox(session, clock)
    consultations = ConsultationsService(session, clock)
    now = clock()
    running = list((await session.execute(select(Consultation).where(
        Consultation.community_id == community.id, Consultation.status == "open")
        .order_by(Consultation.id))).scalars())
    posted = 0
    for building, chat in await board.weekly_targets(community):
        key = f"board_week:{chat}:{week}"
        if await board.week_done(chat, week):
            continue
        await board.mark_week(chat, week)
        fixed = await board.fixed_since(building.id, now - timedelta(days=7))
        opened = await board.open_issues(building.id)
        surveys = await running_coverage(session, building.id)
        asking = [c for c in running if building.id in c.building_ids]
        if not (fixed or opened or surveys or asking):
            continue  # nothing to say this week: no post (a quiet chat is not told so every Monday)
        with use_locale(community.locale):
            lines = [_("📌 <b>{building}: this week's board</b>").format(building=esc(building.name))]
            lines += ["", ngettext("✅ Fixed this week: %(num)d", "✅ Fixed this week: %(num)d", len(fixed))]
            for it in fixed[:10]:
                lines += item_lines(it, community, now)
            if not fixed:
                lines.append(_("Nothing was fixed this week."))
            lines += ["", ngettext("🔧 Still open: %(num)d", "🔧 Still open: %(num)d", len(opened))]
            for it in opened[:10]:
                lines += item_lines(it, community, now)
            if len(opened) > 10:
                lines.append(_("… and {n} more: send /board to me in a private chat.").format(n=len(opened) - 10))
            asks = []
            for c in asking:
                tally = await consultations.tally(c.id)
                asks.append(_("🗳 {question}: {got} of {all} households have answered ({pct}%)").format(
                    question=esc(shorten(c.question, 80)), got=tally.answered, all=tally.households,
                    pct=round(tally.coverage_pct)))
            for s, p in surveys:
                asks.append(_("📋 {title}: {got} of {all} households have answered ({pct}%), target {need}").format(
                    title=esc(s.title), got=p.responses, all=p.households, pct=p.coverage, need=p.needed))
            if asks:
                lines += ["", _("Your household's voice counts:"), *asks]
            lines += ["", _("Who reported what is never shown here. Report a problem or follow one: /board")]
            await outbox.enqueue(key=key, kind="board_weekly", chat_id=chat, text="\n".join(lines),
                                 community_id=community.id, expires_at=now + timedelta(days=2))
            with_photos = [it for it in fixed if it.before and it.after][:WEEKLY_ALBUMS]
            for it in with_photos:
                caption = _("{ref}: before → after").format(ref=it.hashtag)
                await outbox.enqueue(key=f"{key}:ph:{it.id}", kind="board_weekly", chat_id=chat,
                                     photos=photos_of(it), text=caption, community_id=community.id,
                                     expires_at=now + timedelta(days=2))
        posted += 1
    return posted
