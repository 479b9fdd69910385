"""The public board's words: the lines of /board and the weekly post to the residents' chats (每周一通报).
Rules (which issues, when) are in bot/services/board.py. No line names a person."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.i18n import _, ngettext, use_locale
from bot.notices.cards import fmt_date, fmt_when
from bot.notices.triage import category_label
from bot.rendering import esc, shorten
from bot.services.board import WEEKLY_ALBUMS, BoardItem, BoardWeekly
from bot.services.events import NoticeContext, notice
from models import Community, IssueStatus


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


@notice(BoardWeekly)
async def post_weekly(event: BoardWeekly, ctx: NoticeContext) -> None:
    """This week's post to one residents' chat, in the community's language, then before/after albums of
    what was fixed. Keyed by chat and week: a second tick, a restart or a second instance adds nothing."""
    community = await ctx.session.get(Community, event.community_id)
    assert community is not None
    now = ctx.clock()
    fixed, opened, chat = event.fixed, event.opened, event.chat_id
    key = f"board_week:{chat}:{event.week}"
    with use_locale(community.locale):
        lines = [_("📌 <b>{building}: this week's board</b>").format(building=esc(event.building))]
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
        for a in event.asks:
            if a.kind == "consultation":
                asks.append(ngettext("🗳 {question}: {got} of {all} household has answered ({pct}%)",
                                     "🗳 {question}: {got} of {all} households have answered ({pct}%)",
                                     a.households).format(
                    question=esc(shorten(a.title, 80)), got=a.answered, all=a.households, pct=round(a.pct)))
            else:
                asks.append(ngettext("📋 {title}: {got} of {all} household has answered ({pct}%), target {need}",
                                     "📋 {title}: {got} of {all} households have answered ({pct}%), target {need}",
                                     a.households).format(
                    title=esc(a.title), got=a.answered, all=a.households, pct=round(a.pct), need=a.needed))
        if asks:
            lines += ["", _("Your household's voice counts:"), *asks]
        lines += ["", _("Who reported what is never shown here. Report a problem or follow one: /board")]
        await ctx.outbox.enqueue(key=key, kind="board_weekly", chat_id=chat, text="\n".join(lines),
                                 community_id=community.id, expires_at=now + timedelta(days=2))
        with_photos = [it for it in fixed if it.before and it.after][:WEEKLY_ALBUMS]
        for it in with_photos:
            caption = _("{ref}: before → after").format(ref=it.hashtag)
            await ctx.outbox.enqueue(key=f"{key}:ph:{it.id}", kind="board_weekly", chat_id=chat,
                                     photos=photos_of(it), text=caption, community_id=community.id,
                                     expires_at=now + timedelta(days=2))
