"""Scores and rankings: the words — the ranking screen, the quarterly report (季度通报) to the office, the
red and black list (红黑榜) in the residents' chats, and the monthly report's ranking section. The rules
(components, weights, who sees which buildings, when) are in bot/services/scores.py. Buildings only,
never people."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import _, __, current_locale, use_locale
from bot.rendering import esc
from bot.services.events import NoticeContext, notice
from bot.services.scores import PUBLIC_TOP, BuildingScore, Ranking, RankingDue, ScoresService
from models import Community

LABELS = {
    "on_time": __("on-time fixes"),
    "verified": __("verified on site"),
    "satisfaction": __("satisfaction"),
    "inspections": __("inspection pass rate"),
    "cleaning": __("cleaning-day turnout"),
    "patrols": __("patrol shifts staffed"),
}


# --- words (in the caller's locale; the notices below set it) ---------------------------------------


def pct(value: float | None) -> str:
    return "—" if value is None else f"{round(100 * value)}%"


def weights_line(weights: dict[str, int]) -> str:
    parts = [f"{LABELS[k]} {w}" for k, w in weights.items() if w]
    return _("⚖️ Weights: {parts}. A figure without data is left out and the rest count in its place.").format(
        parts=" · ".join(parts))


def period_label(ranking: Ranking) -> str:
    if ranking.kind == "quarter":
        return _("{year} Q{q}").format(year=ranking.first.year, q=(ranking.first.month - 1) // 3 + 1)
    return _("{year}-{month:02d}").format(year=ranking.first.year, month=ranking.first.month)


def building_line(r: BuildingScore) -> str:
    if r.score is None:
        return _("· {place}: no figures yet").format(place=esc(r.name))
    # Chinese lists take the enumeration comma (、), not an English ", ".
    detail = ("、" if current_locale().startswith("zh") else ", ").join(
        f"{LABELS[k]} {pct(v)}" for k, v in r.parts.items())
    return _("{rank}. {place} — <b>{score}</b> ({detail})").format(
        rank=r.rank, place=esc(r.name), score=f"{r.score:.1f}", detail=detail)


def ranking_text(ranking: Ranking, *, title: str | None = None) -> str:
    lines = [title or _("🏆 <b>Building ranking</b> · {period}").format(period=period_label(ranking))]
    lines += [building_line(r) for r in ranking.buildings]
    if ranking.areas:
        lines += ["", _("<b>Areas</b>")]
        for i, a in enumerate(ranking.areas, start=1):
            lines.append(_("{rank}. {place} — <b>{score}</b>").format(
                rank=i, place=esc(a.name), score="—" if a.score is None else f"{a.score:.1f}"))
    lines += ["", weights_line(ranking.weights)]
    return "\n".join(lines)


def quarterly_texts(ranking: Ranking) -> list[str]:
    title = _("📣 <b>Quarterly report (季度通报)</b> · {name} · {period}").format(
        name=esc(ranking.community.name), period=period_label(ranking))
    return [ranking_text(ranking, title=title)]


def public_list_text(ranking: Ranking) -> str:
    """The red and black list: the top three, and the bottom three with what to fix first. Buildings only,
    never people."""
    scored = [r for r in ranking.buildings if r.score is not None]
    # With few buildings the lists share them out: nobody is both praised and criticised.
    top = scored[:min(PUBLIC_TOP, (len(scored) + 1) // 2)]
    bottom = [r for r in scored[::-1] if r not in top][:PUBLIC_TOP]
    lines = [_("🏮 <b>Red and black list</b> · {period}").format(period=period_label(ranking)), "",
             _("🔴 <b>Red list — well done</b>")]
    lines += [_("{rank}. {place} — {score}").format(rank=r.rank, place=esc(r.name), score=f"{r.score:.1f}")
              for r in top]
    if bottom:
        lines += ["", _("⚫ <b>Black list — to fix</b>")]
        for r in bottom:
            weak = r.weakest()
            lines.append(_("{rank}. {place} — {score}: improve {what} ({value})").format(
                rank=r.rank, place=esc(r.name), score=f"{r.score:.1f}", what=LABELS[weak] if weak else "—",
                value=pct(r.parts.get(weak)) if weak else "—"))
    lines += ["", weights_line(ranking.weights)]
    return "\n".join(lines)


async def monthly_section(session: AsyncSession, community: Community, kind: str, first: date, last: date,
                          locale: str) -> list[str]:
    """The monthly report's ranking (bot/services/digests.py REPORT_SECTIONS)."""
    if kind != "monthly":
        return []
    ranking = await ScoresService(session).ranking(community, "month", first)
    with use_locale(locale):
        return [ranking_text(ranking)]




@notice(RankingDue)
async def ranking_due(event: RankingDue, ctx: NoticeContext) -> None:
    """In the community's language; keyed by community, period and chat, so a restart or a double tick
    sends nothing twice."""
    community = await ctx.session.get(Community, event.community_id)
    assert community is not None
    expires = ctx.clock() + timedelta(days=3)
    with use_locale(community.locale):
        if event.kind == "quarter":
            texts = quarterly_texts(event.ranking)
            for chat in event.chat_ids:
                for i, text in enumerate(texts):
                    await ctx.outbox.enqueue(key=f"scores:quarter:{community.id}:{event.label}:{chat}:{i}",
                                             kind="scores_quarter", chat_id=chat, text=text,
                                             community_id=community.id, expires_at=expires)
            return
        text = public_list_text(event.ranking)
    for chat in event.chat_ids:
        await ctx.outbox.enqueue(key=f"scores:board:{community.id}:{event.label}:{chat}", kind="scores_board",
                                 chat_id=chat, text=text, community_id=community.id, expires_at=expires)


def _register_section() -> None:
    from bot.services.digests import REPORT_SECTIONS

    if monthly_section not in REPORT_SECTIONS:
        REPORT_SECTIONS.append(monthly_section)


_register_section()
