"""Operations' words: the morning line to the office chat about yesterday's failed deliveries
("📮 3 messages could not be delivered yesterday: 2 people blocked the bot, 1 chat not found")."""

from __future__ import annotations

from bot.i18n import ngettext, use_locale
from bot.services.events import NoticeContext, notice
from bot.services.operations import SUMMARY_KIND, DeliveryFailures, FailureSummary


def summary_text(summary: FailureSummary, locale: str) -> str:
    with use_locale(locale):
        parts = []
        r = summary.reasons
        if r.get("blocked"):
            parts.append(ngettext("%(num)d person blocked the bot", "%(num)d people blocked the bot",
                                  r["blocked"]))
        if r.get("deactivated"):
            parts.append(ngettext("%(num)d account was deleted", "%(num)d accounts were deleted",
                                  r["deactivated"]))
        if r.get("kicked"):
            parts.append(ngettext("%(num)d group removed the bot", "%(num)d groups removed the bot",
                                  r["kicked"]))
        if r.get("not_found"):
            parts.append(ngettext("%(num)d chat not found", "%(num)d chats not found", r["not_found"]))
        if r.get("other"):
            parts.append(ngettext("%(num)d refused by Telegram", "%(num)d refused by Telegram", r["other"]))
        head = ngettext("📮 %(num)d message could not be delivered yesterday",
                        "📮 %(num)d messages could not be delivered yesterday", summary.total)
        sep = "，" if locale.startswith("zh") else ", "
        colon = "：" if locale.startswith("zh") else ": "
        end = "。" if locale.startswith("zh") else "."
        return head + colon + sep.join(parts) + end


@notice(DeliveryFailures)
async def delivery_failures(event: DeliveryFailures, ctx: NoticeContext) -> None:
    await ctx.outbox.enqueue(key=event.key, kind=SUMMARY_KIND, chat_id=event.chat_id,
                             text=summary_text(event.summary, event.locale), community_id=event.community_id,
                             expires_at=event.expires_at)
