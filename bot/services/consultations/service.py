"""Consultations (民意征集 / 议事协商): rules only (no Telegram, no words).

One vote per household: any member of the household may vote and change the household's vote until
the deadline; a captain may record a household's answer in person (入户). The rule is decided over ALL
households of the places — households with nobody in the bot count in the denominator — so a
consultation passes (by default) only when strictly more than 60% of all households agree.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, system_clock
from bot.services.access import Actor, NotAllowed, Place, require
from bot.services.base import community_of, events_for, timezone_of
from bot.services.events import Event
from bot.services.households import HouseholdsService, HouseholdView
from bot.services.outbox import on_sent
from bot.services.tenure import Erased, on_erased
from models import (
    Area,
    Building,
    Community,
    Consultation,
    ConsultationPost,
    ConsultationVote,
    Household,
    HouseholdMember,
    Member,
    OutboxItem,
    Role,
)

DEFAULT_CHOICES = ("agree", "disagree", "no_opinion")  # 同意 / 不同意 / 弃权; index 0 is "for"
MAX_CHOICES = 6
RULES = ("all", "answered")
TALLY_EVERY_MINUTES = 5  # default of the community setting consultations.tally_every_minutes
MAX_DAYS = 90  # a deadline further away than this is a typing mistake


def tally_every(community: Community | None) -> timedelta:
    """How often a residents' chat's live tally may be edited: settings["consultations"]
    ["tally_every_minutes"] (a whole number ≥ 1), else 5 minutes. Telegram allows about 20 edits a
    minute in a group, shared with everything else the bot does there."""
    raw: Any = ((community.settings or {}).get("consultations") if community is not None else None) or {}
    value = raw.get("tally_every_minutes") if isinstance(raw, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return timedelta(minutes=value)
    return timedelta(minutes=TALLY_EVERY_MINUTES)


def parse_deadline(text: str, now: datetime, tz: str) -> datetime:
    """A typed deadline: a date the triage deadline accepts ("2026-11-27", "11-27", "27.11", "11月27日"),
    optionally followed by a time ("18:00", "9", "1800"); without a time, the end of the working day
    (18:00) as for issue deadlines. Reuses those parsers; raises ConsultationError("deadline_format" |
    "deadline_past" | "deadline_far")."""
    from bot.services.recurrence import parse_hhmm
    from bot.services.triage import InvalidInput, end_of_day, parse_date

    parts = text.strip().replace("\u3000", " ").split()
    minutes: int | None = None
    if len(parts) >= 2 and (minutes := parse_hhmm(parts[-1])) is not None:
        parts = parts[:-1]
    elif len(parts) == 1 and (m := re.fullmatch(r"(.+日|.+号)(.+)", parts[0])) and parse_hhmm(m[2]) is not None:
        parts, minutes = [m[1]], parse_hhmm(m[2])  # "11月27日18:00" written without a space
    try:
        day = parse_date(" ".join(parts), now, tz)
    except InvalidInput as e:
        raise ConsultationError("deadline_past" if e.reason == "date_past" else
                                "deadline_far" if e.reason == "date_far" else "deadline_format") from None
    if minutes is None:
        at = end_of_day(day, tz)
    else:
        at = datetime.combine(day, dtime(minutes // 60, minutes % 60), tzinfo=ZoneInfo(tz)).astimezone(UTC)
    if at <= now:
        raise ConsultationError("deadline_past")
    if at > now + timedelta(days=MAX_DAYS):
        raise ConsultationError("deadline_far")
    return at


@dataclass(frozen=True)
class ConsultOption:
    """Where a person may start a consultation: a building, an area (all its buildings) or the whole
    community. `token` is what the wizard's button carries ("b12", "a3", "c1")."""

    token: str
    kind: str  # building | area | community
    name: str
    community_id: int
    building_ids: tuple[int, ...]


class ConsultationError(ValueError):
    """Input the rules refuse; `reason` is a stable key the handler turns into words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Tally:
    consultation_id: int
    households: int  # all households of the places: the denominator
    answered: int
    counts: list[int]  # per choice
    rule: str
    threshold_pct: int
    passed: bool  # the rule is met with the answers so far
    decided: bool  # the outcome can no longer change, whatever the missing households answer

    @property
    def coverage_pct(self) -> float:
        return 100.0 * self.answered / self.households if self.households else 0.0


@dataclass(frozen=True)
class HouseholdAnswer:
    household: HouseholdView
    choice: int | None
    via: str | None
    voter: str | None  # first name of who answered, for the people responsible only
    comment: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class Result:
    tally: Tally
    closed_early: bool
    table: list[HouseholdAnswer] = field(default_factory=list)  # empty for a secret ballot


@dataclass(frozen=True)
class VoteOutcome:
    consultation: Consultation
    household: HouseholdView
    choice: int
    others: list[Member]  # the household's other members: they see what it answered and who answered
    community: Community


def _meets(rule: str, threshold_pct: int, households: int, answered: int, agree: int) -> bool:
    denominator = households if rule == "all" else answered
    # Strictly more than the threshold, compared in integers (no float rounding at exactly 60%).
    return denominator > 0 and agree * 100 > threshold_pct * denominator


@dataclass(frozen=True)
class ConsultationClosed(Event):
    """Closed, at its deadline or early by its author: the result to the author, the chats and the office."""

    consultation_id: int
    result: Result


class ConsultationsService:
    def __init__(self, session: AsyncSession, clock: Clock = system_clock) -> None:
        self.session = session
        self.clock = clock
        self.households = HouseholdsService(session, clock)

    # --- starting -----------------------------------------------------------------------------------

    async def _places(self, building_ids: list[int]) -> list[Place]:
        rows = (await self.session.execute(select(Building).where(Building.id.in_(building_ids)))).scalars().all()
        if len(rows) != len(set(building_ids)):
            raise ConsultationError("unknown_building")
        return [Place(b.community_id, b.area_id, b.id) for b in rows]

    async def start(self, actor: Actor, *, building_ids: list[int], question: str, deadline: datetime,
                    choices: list[str] | None = None, plan: list[dict[str, Any]] | None = None,
                    rule: str = "all", threshold_pct: int = 60, secret: bool = False,
                    author: Member | None = None) -> Consultation:
        if not building_ids:
            raise ConsultationError("no_places")
        places = await self._places(building_ids)
        for place in places:  # captains their buildings, area heads their area, staff anywhere
            require(actor, "consult", place)
        if len({p.community_id for p in places}) != 1:
            raise ConsultationError("one_community")
        if not question.strip():
            raise ConsultationError("no_question")
        custom = [c.strip() for c in (choices or []) if c.strip()]
        if custom and not 2 <= len(custom) <= MAX_CHOICES:
            raise ConsultationError("choices")
        if len(plan or []) > 10:
            raise ConsultationError("plan")
        if rule not in RULES or not 0 <= threshold_pct < 100:
            raise ConsultationError("rule")
        if deadline <= self.clock():
            raise ConsultationError("deadline_past")
        if sum((await self.households.count(building_ids)).values()) == 0:
            raise ConsultationError("no_households")
        c = Consultation(community_id=places[0].community_id, author_id=author.id if author else actor.member_id,
                         question=question.strip(), plan=plan or [], choices=custom,
                         building_ids=sorted(set(building_ids)), rule=rule, threshold_pct=threshold_pct,
                         secret=secret, deadline=deadline, status="open", created_at=self.clock())
        self.session.add(c)
        await self.session.flush()
        return c

    async def options(self, actor: Actor) -> list[ConsultOption]:
        """The places the bot offers in /consult: every building the actor may consult, then each area
        they hold whole (area heads, staff) and the whole community (staff)."""
        out: list[ConsultOption] = []
        for cid in sorted(actor.communities() or set()):
            community = await self.session.get(Community, cid)
            if community is None:
                continue
            buildings = (await self.session.execute(select(Building).where(
                Building.community_id == cid).order_by(Building.id))).scalars().all()
            mine = [b for b in buildings if _can(actor, "consult", Place(cid, b.area_id, b.id))]
            out += [ConsultOption(f"b{b.id}", "building", b.name, cid, (b.id,)) for b in mine]
            areas = (await self.session.execute(select(Area).where(Area.community_id == cid)
                                                .order_by(Area.id))).scalars().all()
            for a in areas:
                ids = tuple(b.id for b in buildings if b.area_id == a.id)
                if len(ids) > 1 and _can(actor, "consult", Place(cid, a.id)) and set(ids) <= {b.id for b in mine}:
                    out.append(ConsultOption(f"a{a.id}", "area", a.name, cid, ids))
            if len(buildings) > 1 and _can(actor, "consult", Place(cid)):
                out.append(ConsultOption(f"c{cid}", "community", community.name, cid, tuple(b.id for b in buildings)))
        return out

    async def option(self, actor: Actor, token: str) -> ConsultOption:
        """Only a place the bot offered (callback data is untrusted)."""
        for o in await self.options(actor):
            if o.token == token:
                return o
        raise NotAllowed("consult")

    # --- reading ------------------------------------------------------------------------------------

    async def get(self, consultation_id: int) -> Consultation:
        c = await self.session.get(Consultation, consultation_id)
        if c is None:
            raise LookupError("consultation")
        return c

    @staticmethod
    def choice_count(c: Consultation) -> int:
        return len(c.choices) if c.choices else len(DEFAULT_CHOICES)

    async def tally(self, consultation_id: int) -> Tally:
        c = await self.get(consultation_id)
        total = sum((await self.households.count(list(c.building_ids))).values())
        counts = [0] * self.choice_count(c)
        for choice in (await self.session.execute(select(ConsultationVote.choice).where(
                ConsultationVote.consultation_id == c.id))).scalars():
            if 0 <= choice < len(counts):
                counts[choice] += 1
        answered = sum(counts)
        passed = _meets(c.rule, c.threshold_pct, total, answered, counts[0])
        missing = total - answered
        # Decided when the households that have not answered can no longer tip it, taking the answers
        # given as they stand: it fails even if every missing household agrees, or passes even if none does.
        best = _meets(c.rule, c.threshold_pct, total, total, counts[0] + missing)
        worst = _meets(c.rule, c.threshold_pct, total, total, counts[0])
        decided = (not best) or worst if c.rule == "all" else answered == total
        return Tally(c.id, total, answered, counts, c.rule, c.threshold_pct, passed, decided)

    async def _household_for(self, member: Member, c: Consultation) -> HouseholdView | None:
        for building_id in c.building_ids:
            h = await self.households.household_of(member.id, building_id)
            if h is not None:
                return h
        return None

    async def my_household(self, member: Member, consultation_id: int) -> tuple[HouseholdView | None,
                                                                                   ConsultationVote | None]:
        """A member's household and what it answered (who answered it goes to the household's members)."""
        c = await self.get(consultation_id)
        h = await self._household_for(member, c)
        if h is None:
            return None, None
        return h, await self._vote(c.id, h.id)

    async def _vote(self, consultation_id: int, household_id: int) -> ConsultationVote | None:
        return (await self.session.execute(select(ConsultationVote).where(
            ConsultationVote.consultation_id == consultation_id,
            ConsultationVote.household_id == household_id))).scalar_one_or_none()

    async def table(self, actor: Actor, consultation_id: int) -> list[HouseholdAnswer]:
        """Every household of the places with its answer, by unit and room: for the people responsible,
        in private. A secret ballot shows only whether a household answered, never what or who."""
        c = await self.get(consultation_id)
        places = await self._places(list(c.building_ids))
        allowed = [p.building_id for p in places if _can(actor, "consult_record", p)]
        if not allowed:
            raise NotAllowed("consult_record", places[0])
        votes = {v.household_id: v for v in (await self.session.execute(select(ConsultationVote).where(
            ConsultationVote.consultation_id == c.id))).scalars()}
        names: dict[int, str] = {}
        voter_ids = {v.voter_id for v in votes.values() if v.voter_id is not None}
        if voter_ids and not c.secret:
            names = {m.id: m.first_name for m in (await self.session.execute(
                select(Member).where(Member.id.in_(voter_ids)))).scalars()}
        rows: list[HouseholdAnswer] = []
        for building_id in allowed:
            assert building_id is not None
            for h in await self.households.of_building(building_id):
                v = votes.get(h.id)
                if v is None:
                    rows.append(HouseholdAnswer(h, None, None, None, None, None))
                elif c.secret:
                    rows.append(HouseholdAnswer(h, None, "answered", None, None, v.updated_at))
                else:
                    rows.append(HouseholdAnswer(h, v.choice, v.via, names.get(v.voter_id or 0), v.comment,
                                                v.updated_at))
        return rows

    async def _may_follow(self, actor: Actor, c: Consultation) -> bool:
        if actor.member_id == c.author_id:
            return True
        return any(_can(actor, "consult_record", p) for p in await self._places(list(c.building_ids)))

    async def visible(self, actor: Actor) -> list[Consultation]:
        """Consultations the actor follows (as author, or responsible for one of its places): the open
        ones, and those closed in the last two weeks."""
        since = self.clock() - timedelta(days=14)
        rows = (await self.session.execute(select(Consultation).where(
            Consultation.community_id.in_(sorted(actor.communities() or {0})),
            (Consultation.status == "open") | (Consultation.closed_at >= since))
            .order_by(Consultation.deadline, Consultation.id))).scalars().all()
        return [c for c in rows if await self._may_follow(actor, c)][:20]

    async def progress(self, actor: Actor, consultation_id: int) -> tuple[Consultation, Tally, bool]:
        """The author's and captains' view at any time: the tally so far, and whether the author may
        close it now (only when the outcome can no longer change)."""
        c = await self.get(consultation_id)
        if not await self._may_follow(actor, c):
            raise NotAllowed("consult_record")
        t = await self.tally(c.id)
        return c, t, self.may_close_early(actor, c, t)

    def may_close_early(self, actor: Actor, c: Consultation, t: Tally) -> bool:
        return c.status == "open" and self.clock() < c.deadline and actor.member_id == c.author_id and t.decided

    async def attach_form(self, actor: Actor, consultation_id: int, household_id: int, file_id: str) -> None:
        """The photo of the signed paper form of an answer recorded in person."""
        c = await self.get(consultation_id)
        self._open(c)
        v = await self._vote(c.id, household_id)
        if v is None or v.via != "in_person":
            raise ConsultationError("household")
        h = await self.households.get(household_id)
        assert h is not None
        require(actor, "consult_record", await _building_place(self.session, h.building_id))
        v.form_photo = file_id[:255]
        await self.session.flush()

    async def missing(self, actor: Actor, consultation_id: int) -> dict[int | None, list[HouseholdView]]:
        """Door to door (入户): households that have not answered, per unit, by room."""
        out: dict[int | None, list[HouseholdView]] = {}
        for row in await self.table(actor, consultation_id):
            if row.via is None:
                out.setdefault(row.household.unit, []).append(row.household)
        return out

    # --- voting -------------------------------------------------------------------------------------

    def _open(self, c: Consultation) -> None:
        if c.status != "open" or self.clock() >= c.deadline:
            raise ConsultationError("closed")

    def _check_choice(self, c: Consultation, choice: int) -> None:
        if not 0 <= choice < self.choice_count(c):  # callback data is untrusted
            raise ConsultationError("choice")

    async def vote(self, actor: Actor, member: Member, consultation_id: int, choice: int,
                   comment: str | None = None) -> ConsultationVote:
        """The household's answer, given by one of its members; a later vote replaces it (idempotent)."""
        c = await self.get(consultation_id)
        self._open(c)
        self._check_choice(c, choice)
        h = await self._household_for(member, c)
        if h is None:
            raise ConsultationError("no_household")
        require(actor, "consult_vote", await _building_place(self.session, h.building_id))
        return await self._put(c, h.id, choice, comment, voter_id=member.id, via="bot")

    async def record(self, actor: Actor, consultation_id: int, household_id: int, choice: int, *,
                     comment: str | None = None, form_photo: str | None = None) -> ConsultationVote:
        """入户: a captain records a household's answer in person, with an optional photo of the signed form."""
        c = await self.get(consultation_id)
        self._open(c)
        self._check_choice(c, choice)
        h = await self.households.get(household_id)
        if h is None or h.building_id not in c.building_ids:
            raise ConsultationError("household")
        require(actor, "consult_record", await _building_place(self.session, h.building_id))
        return await self._put(c, h.id, choice, comment, voter_id=None, via="in_person",
                               recorded_by=actor.member_id, form_photo=form_photo)

    async def _put(self, c: Consultation, household_id: int, choice: int, comment: str | None, *,
                   voter_id: int | None, via: str, recorded_by: int | None = None,
                   form_photo: str | None = None) -> ConsultationVote:
        v = await self._vote(c.id, household_id)
        if v is None:
            v = ConsultationVote(consultation_id=c.id, household_id=household_id, choice=choice)
            self.session.add(v)
        v.choice, v.comment, v.voter_id, v.via = choice, (comment or "").strip()[:1000] or None, voter_id, via
        v.recorded_by, v.form_photo, v.updated_at = recorded_by, form_photo, self.clock()
        await self.session.flush()
        return v

    # --- closing ------------------------------------------------------------------------------------

    async def close(self, consultation_id: int, *, actor: Actor | None = None) -> Result | None:
        """At the deadline (actor None, from the job) or early by the author — only when the outcome can
        no longer change. Idempotent: a closed consultation returns None."""
        c = await self.get(consultation_id)
        if c.status != "open":
            return None
        if actor is not None and actor.member_id != c.author_id:
            # A person closes only their own consultation, early or late; the job closes the rest.
            raise ConsultationError("not_author")
        tally = await self.tally(c.id)
        early = self.clock() < c.deadline
        if early:
            if actor is None:
                raise ConsultationError("not_author")
            if not tally.decided:
                raise ConsultationError("can_still_change")
        c.status, c.closed_at, c.closed_early = "closed", self.clock(), early
        c.result = {"households": tally.households, "answered": tally.answered, "counts": tally.counts,
                    "passed": tally.passed, "rule": tally.rule, "threshold_pct": tally.threshold_pct}
        await self.session.flush()
        result = Result(tally, early, [] if c.secret else await self._full_table(c))
        await events_for(self.session, self.clock).record(ConsultationClosed(c.id, result))
        return result

    async def _full_table(self, c: Consultation) -> list[HouseholdAnswer]:
        votes = {v.household_id: v for v in (await self.session.execute(select(ConsultationVote).where(
            ConsultationVote.consultation_id == c.id))).scalars()}
        rows = []
        for building_id in c.building_ids:
            for h in await self.households.of_building(building_id):
                v = votes.get(h.id)
                rows.append(HouseholdAnswer(h, v.choice if v else None, v.via if v else None, None,
                                            v.comment if v else None, v.updated_at if v else None))
        return rows

    async def due(self) -> list[int]:
        """Open consultations whose deadline has passed (for the job)."""
        return list((await self.session.execute(select(Consultation.id).where(
            Consultation.status == "open", Consultation.deadline <= self.clock()))).scalars())

    async def vote_from_bot(self, actor: Actor, member: Member, consultation_id: int, choice: int,
                            comment: str | None = None) -> VoteOutcome:
        """`vote`, plus what the handler shows: the household, and its other members to tell."""
        v = await self.vote(actor, member, consultation_id, choice, comment)
        c = await self.get(consultation_id)
        h = await self.households.get(v.household_id)
        assert h is not None
        others = [m for m in await self.households.members_of(h.id) if m.id != member.id]
        community = await self.session.get(Community, c.community_id)
        assert community is not None
        return VoteOutcome(c, h, choice, others, community)

    async def residents(self, c: Consultation) -> list[tuple[Member, str | None]]:
        """Everyone who lives in the places (residents and captains there), with their household label."""
        # DISTINCT over ids, not whole rows: PostgreSQL cannot compare Member's JSON column.
        ids = (select(Role.member_id).where(Role.building_id.in_(list(c.building_ids)),
                                            Role.role.in_(["resident", "captain"])).distinct())
        rows = (await self.session.execute(
            select(Member).where(Member.id.in_(ids), Member.data_deleted_at.is_(None), Member.started.is_(True))
            .order_by(Member.id))).scalars().all()
        labels = dict((await self.session.execute(
            select(HouseholdMember.member_id, Household.label).join(
                Household, Household.id == HouseholdMember.household_id)
            .where(Household.building_id.in_(list(c.building_ids))))).all())
        return [(m, labels.get(m.id)) for m in rows]

    async def unanswered(self, c: Consultation) -> list[Member]:
        """The people of households that have not answered."""
        answered = select(ConsultationVote.household_id).where(ConsultationVote.consultation_id == c.id)
        ids = (select(HouseholdMember.member_id).join(Household, Household.id == HouseholdMember.household_id)
               .where(Household.building_id.in_(list(c.building_ids)), Household.id.not_in(answered)))
        return list((await self.session.execute(
            select(Member).where(Member.id.in_(ids), Member.data_deleted_at.is_(None), Member.started.is_(True))
            .order_by(Member.id))).scalars())

    async def building_names(self, c: Consultation) -> dict[int, str]:
        return {b.id: b.name for b in (await self.session.execute(
            select(Building).where(Building.id.in_(list(c.building_ids))))).scalars()}

    async def community(self, community_id: int) -> Community:
        return await community_of(self.session, community_id)

    async def timezone(self, community_id: int) -> str:
        """The community's time zone (UTC when it is gone)."""
        return await timezone_of(self.session, community_id)


def _can(actor: Actor, action: str, place: Place) -> bool:
    from bot.services.access import can

    return can(actor, action, place)


async def _building_place(session: AsyncSession, building_id: int) -> Place:
    b = await session.get(Building, building_id)
    if b is None:
        raise LookupError("building")
    return Place(b.community_id, b.area_id, b.id)


def result_xlsx(rows: list[HouseholdAnswer], *, choices: list[str], buildings: dict[int, str],
                headers: list[str], via_words: dict[str, str]) -> bytes:
    """The per-household table for the office's records (公示 and archive). Words come from the caller."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(headers)
    for r in rows:
        ws.append([buildings.get(r.household.building_id, ""), r.household.label,
                   choices[r.choice] if r.choice is not None else "",
                   via_words.get(r.via or "", ""), r.comment or "",
                   r.updated_at.strftime("%Y-%m-%d %H:%M") if r.updated_at else ""])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@on_erased("consultations")
async def _erased(session: AsyncSession, clock: Clock, member: Member, erased: Erased) -> None:
    # Votes cast stay (the household's answer counts), but no longer name the person.
    for v in (await session.execute(select(ConsultationVote).where(
            ConsultationVote.voter_id == member.id))).scalars():
        v.voter_id = None
        v.comment = None


@on_sent("consult_post")
async def _post_sent(session: AsyncSession, item: OutboxItem) -> None:
    """Remember the residents' chat post's message id: the live tally edits that message."""
    payload = item.payload or {}
    if item.message_id is None or payload.get("consultation_id") is None:
        return
    post = (await session.execute(select(ConsultationPost).where(
        ConsultationPost.consultation_id == int(payload["consultation_id"]),
        ConsultationPost.chat_id == item.chat_id))).scalar_one_or_none()
    if post is None:
        session.add(ConsultationPost(consultation_id=int(payload["consultation_id"]), chat_id=item.chat_id,
                                     message_id=item.message_id, shown=payload.get("text")))
    else:
        post.message_id = item.message_id
