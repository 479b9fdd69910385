"""Cleaning days' registrations: the tick's job and what is remembered when a post is sent (its message
id, so the live count can edit it)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs import JobContext, job
from bot.services.cleaning.service import CleaningService
from bot.services.outbox import on_sent
from models import CleaningPost, OutboxItem


@on_sent("cleaning_reminder_group")
async def _remember_group_post(session: AsyncSession, item: OutboxItem) -> None:
    await _remember(session, item, "reminder")


@on_sent("cleaning_card")
async def _remember_card(session: AsyncSession, item: OutboxItem) -> None:
    await _remember(session, item, "card")


async def _remember(session: AsyncSession, item: OutboxItem, kind: str) -> None:
    payload = item.payload or {}
    if item.message_id is None or payload.get("day_id") is None:
        return
    session.add(CleaningPost(day_id=int(payload["day_id"]), chat_id=item.chat_id, message_id=item.message_id,
                             kind=kind, offset=payload.get("offset"), photo=payload.get("method") == "photo",
                             locale=payload.get("locale") or "en"))



@job("cleaning_days")
async def cleaning_days_job(session: AsyncSession, ctx: JobContext) -> None:
    """Materialise occurrences, send due reminders, ask captains how past days went."""
    svc = CleaningService(session, ctx.clock)
    await svc.materialise_all()
    await svc.send_due_reminders()
    await svc.prompt_after()


