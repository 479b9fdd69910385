"""The consultations tick: announce new consultations, keep the chats' tallies, remind households that
have not answered (two days before, and on the morning of the last day), close those past their deadline.
Each step is an event; bot/notices/consultations.py words it, with a unique outbox key per message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs import JobContext, job
from bot.services.base import events_for
from bot.services.consultations.service import ConsultationsService, Tally
from bot.services.events import Event
from models import Community, Consultation


@dataclass(frozen=True)
class ConsultationAnnounced(Event):
    """A new consultation reaches everyone who lives in its places: the plan and the question, privately."""

    consultation_id: int


@dataclass(frozen=True)
class ConsultationOpen(Event):
    """A consultation still open at a tick: each residents' chat has its post, showing the tally."""

    consultation_id: int
    tally: Tally


@dataclass(frozen=True)
class ConsultationReminderDue(Event):
    """Households that have not answered are reminded: two days before, and on the morning of the last day."""

    consultation_id: int
    kind: str  # "remind2" | "remindday": part of the once-only outbox key
    last_day: bool


REMIND_BEFORE = timedelta(days=2)
MORNING = time(8, 0)


async def run_due(service: ConsultationsService) -> None:
    """The tick: announce new consultations, keep the chats' tallies, remind households that have not
    answered, close those past their deadline (bot/notices/consultations.py words each event). Every
    message has a unique outbox key, so a double tick or a restart sends nothing twice."""
    events = events_for(service.session, service.clock)
    now = service.clock()
    for c in (await service.session.execute(select(Consultation).where(
            Consultation.status == "open"))).scalars().all():
        community = await service.session.get(Community, c.community_id)
        assert community is not None
        tz = community.timezone
        if c.announced_at is None and now < c.deadline:
            await events.record(ConsultationAnnounced(c.id))
            c.announced_at = now
        if now < c.deadline:
            await events.record(ConsultationOpen(c.id, await service.tally(c.id)))
            local_deadline = c.deadline.astimezone(ZoneInfo(tz))
            morning = datetime.combine(local_deadline.date(), MORNING, ZoneInfo(tz))
            if (now >= c.deadline - REMIND_BEFORE and c.created_at < c.deadline - REMIND_BEFORE
                    and now < morning):
                await events.record(ConsultationReminderDue(c.id, "remind2", False))
            if morning <= now and c.created_at < morning:
                await events.record(ConsultationReminderDue(c.id, "remindday", True))
            continue
        await service.close(c.id)  # records ConsultationClosed: the result goes out


@job("consultations")
async def consultations_job(session: AsyncSession, ctx: JobContext) -> None:
    """Announce, remind, close at the deadline. The words live in bot/notices/consultations.py."""
    await run_due(ConsultationsService(session, ctx.clock))
