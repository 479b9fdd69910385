"""Satisfaction surveys (满意度测评): staff ask the households of the community, an area or some
buildings up to 8 questions scored 1–5; one response per household from any member, or recorded by a
captain door to door; coverage per building against a target (two thirds by default).

Rules and figures live here; what is told to whom is recorded as events (SurveyInvited, SurveyEnded)
that bot/notices/surveys.py words per recipient's language, the screens are in handlers/surveys.py.
Every message goes through the outbox under keys unique per survey, moment and person, so a restart or
a double tick sends nothing twice.

Community settings (``community.settings["surveys"]``):

    target: 0.6667            # share of households per building a survey should reach
    days: 14                  # how long a survey runs unless the author says otherwise
    template: [{en: "...", zh_Hans: "..."}, ...]   # the default questions (at most 8)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.jobs import JobContext, job
from bot.services.access import Actor, NotAllowed, Place, can, require
from bot.services.base import CommunityService
from bot.services.events import Event
from bot.services.households import HouseholdsService, HouseholdView
from bot.services.tenure import Erased, on_erased
from models import Area, Building, Community, Household, HouseholdMember, Member, Survey, SurveyResponse

MAX_QUESTIONS = 8
DEFAULT_TARGET = 2 / 3
DEFAULT_DAYS = 14
REMIND_AT = time(9, 0)  # the morning of a reminder day, local time
SATISFIED = 4  # 4 and 5 count as satisfied

# The default template, stored by its English text (a msgid: bot/notices/surveys.py marks the same texts
# for the catalogue and translates them for the reader); a community may replace it with its own list of
# {"en": ..., "zh_Hans": ...}.
DEFAULT_TEMPLATE = (
    "How satisfied are you with the cleanliness of your building and yard?",
    "How satisfied are you with safety in the community?",
    "How satisfied are you with how reports are handled?",
    "How satisfied are you with your building captain?",
    "How satisfied are you with the community office?",
)


class SurveyError(ValueError):
    """A survey that cannot be started as asked; the message says why (shown to the staff member)."""


class AlreadyAnswered(Exception):
    def __init__(self, response: SurveyResponse, by: Member | None) -> None:
        super().__init__("already answered")
        self.response = response
        self.by = by


class SurveyClosed(Exception):
    pass


@dataclass
class BuildingProgress:
    building_id: int
    name: str
    households: int
    responses: int
    in_person: int
    target: float

    @property
    def needed(self) -> int:
        # "不少于三分之二": at least the target share, rounded up (32 of 48 meets two thirds).
        import math

        return math.ceil(self.households * self.target - 1e-9)

    @property
    def met(self) -> bool:
        return self.households > 0 and self.responses >= self.needed

    @property
    def coverage(self) -> int:
        return round(100 * self.responses / self.households) if self.households else 0


@dataclass
class QuestionResult:
    index: int
    question: str
    responses: int
    mean: float | None
    satisfied: int | None  # percent of responses scoring 4 or 5
    raw: dict[str, str] = field(default_factory=dict)  # the question as stored, to show in any language


@dataclass
class PlaceResult:
    name: str
    progress: BuildingProgress | None  # None for the survey as a whole
    questions: list[QuestionResult]
    households: int
    responses: int

    @property
    def coverage(self) -> int:
        return round(100 * self.responses / self.households) if self.households else 0


@dataclass
class SurveyResults:
    survey_id: int
    title: str
    ends_at: datetime
    closed: bool
    places: list[PlaceResult]  # each building, then the whole survey (name "")
    buildings: list[BuildingProgress] = field(default_factory=list)

    @property
    def all_met(self) -> bool:
        return all(b.met for b in self.buildings)


@dataclass
class MyStatus:
    survey: Survey
    household: HouseholdView | None
    response: SurveyResponse | None
    by: Member | None


def survey_settings(community: Community) -> dict[str, Any]:
    raw = (community.settings or {}).get("surveys")
    return raw if isinstance(raw, dict) else {}


def target_of(community: Community) -> float:
    value = survey_settings(community).get("target", DEFAULT_TARGET)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TARGET
    return value if 0 < value <= 1 else DEFAULT_TARGET


def template_of(community: Community) -> list[dict[str, str]]:
    raw = survey_settings(community).get("template")
    if isinstance(raw, list) and raw:
        out = [q if isinstance(q, dict) else {"text": str(q)} for q in raw[:MAX_QUESTIONS]]
        return [{str(k): str(v) for k, v in q.items()} for q in out]
    return [{"msgid": q} for q in DEFAULT_TEMPLATE]


def stored_question(question: dict[str, str], locale: str) -> str:
    """A question as stored, in a language where it was stored in several: a template one by its English
    msgid (the reader's words are bot/notices/surveys.question_text), a typed one as typed."""
    if "msgid" in question:
        return question["msgid"]
    if "text" in question:
        return question["text"]
    short = "zh_Hans" if locale.startswith("zh") else "en"
    return question.get(short) or question.get("en") or next(iter(question.values()), "")


@dataclass(frozen=True)
class SurveyInvited(Event):
    """Members of households yet to answer are asked: moment "start" (the invitation), "2d" or "last"
    (the reminders)."""

    survey_id: int
    community_id: int
    moment: str
    member_ids: tuple[int, ...]


@dataclass(frozen=True)
class SurveyEnded(Event):
    """A survey closed: its author gets the results (text and spreadsheet)."""

    survey_id: int
    community_id: int
    author_id: int | None


class SurveysService(CommunityService):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.households = HouseholdsService(self.session, self.clock)

    # --- places -------------------------------------------------------------------------------------

    async def places_for(self, actor: Actor, community_id: int) -> list[tuple[str, Place]]:
        """Where this person may start a survey (see places_for)."""
        return await places_for(self.session, actor, community_id)

    async def _buildings_of(self, place: Place) -> list[Building]:
        q = select(Building).where(Building.community_id == place.community_id)
        if place.building_id is not None:
            q = q.where(Building.id == place.building_id)
        elif place.area_id is not None:
            q = q.where(Building.area_id == place.area_id)
        return list((await self.session.execute(q.order_by(Building.id))).scalars())

    async def _place_of_building(self, building_id: int) -> Place:
        b = await self.session.get(Building, building_id)
        if b is None:
            raise LookupError("building")
        return Place(b.community_id, b.area_id, b.id)

    async def get(self, survey_id: int) -> Survey:
        s = await self.session.get(Survey, survey_id)
        if s is None:
            raise LookupError("survey")
        return s

    # --- starting -----------------------------------------------------------------------------------

    async def start(self, actor: Actor, community: Community, *, place: Place, title: str,
                    questions: list[dict[str, str]] | None = None, ends_at: datetime | None = None,
                    by: Member | None = None) -> Survey:
        """Start a survey for a place and invite every household member there, privately."""
        require(actor, "survey", place)
        qs = questions if questions is not None else template_of(community)
        if not qs:
            raise SurveyError("no questions")
        if len(qs) > MAX_QUESTIONS:
            raise SurveyError(f"at most {MAX_QUESTIONS} questions")
        now = self.clock()
        days = survey_settings(community).get("days", DEFAULT_DAYS)
        ends = ends_at or _end_of_day(now + timedelta(days=int(days) if isinstance(days, int) else DEFAULT_DAYS),
                                      community.timezone)
        if ends <= now:
            raise SurveyError("the end must be in the future")
        buildings = await self._buildings_of(place)
        if not buildings:
            raise SurveyError("no buildings there")
        survey = Survey(community_id=community.id, title=title[:200], questions=list(qs),
                        building_ids=[b.id for b in buildings], target=target_of(community), starts_at=now,
                        ends_at=ends, created_by=by.id if by else actor.member_id, status="running",
                        created_at=now)
        self.session.add(survey)
        await self.session.flush()
        await self._invite(survey, community, "start")
        return survey

    async def _household_members(self, survey: Survey) -> list[tuple[Member, int]]:
        rows = (await self.session.execute(
            select(Member, HouseholdMember.household_id)
            .join(HouseholdMember, HouseholdMember.member_id == Member.id)
            .join(Household, Household.id == HouseholdMember.household_id)
            .where(Household.building_id.in_(list(survey.building_ids)), Member.data_deleted_at.is_(None))
            .order_by(Member.id))).all()
        return [(m, hid) for m, hid in rows]

    async def _answered(self, survey_id: int) -> set[int]:
        return set((await self.session.execute(select(SurveyResponse.household_id).where(
            SurveyResponse.survey_id == survey_id))).scalars())

    async def _invite(self, survey: Survey, community: Community, moment: str) -> int:
        """Invitation ("start") or reminder ("2d", "last") to members of households yet to answer."""
        answered = await self._answered(survey.id)
        ids = tuple(m.id for m, household_id in await self._household_members(survey) if household_id not in answered)
        if not ids:
            return 0
        await self.events.record(SurveyInvited(survey.id, community.id, moment, ids))
        return len(ids)

    # --- answering ----------------------------------------------------------------------------------

    async def running_for(self, member: Member) -> list[Survey]:
        """Running surveys that ask a household this member belongs to."""
        hh = set((await self.session.execute(
            select(Household.building_id).join(HouseholdMember, HouseholdMember.household_id == Household.id)
            .where(HouseholdMember.member_id == member.id))).scalars())
        rows = (await self.session.execute(select(Survey).where(
            Survey.status == "running").order_by(Survey.id))).scalars()
        return [s for s in rows if hh & set(s.building_ids)]

    async def status(self, member: Member, survey_id: int) -> MyStatus:
        survey = await self.get(survey_id)
        household = None
        for bid in survey.building_ids:
            household = await self.households.household_of(member.id, bid)
            if household is not None:
                break
        response = by = None
        if household is not None:
            response = (await self.session.execute(select(SurveyResponse).where(
                SurveyResponse.survey_id == survey.id, SurveyResponse.household_id == household.id)
            )).scalar_one_or_none()
            if response is not None and response.member_id is not None:
                by = await self.session.get(Member, response.member_id)
        return MyStatus(survey, household, response, by)

    def _check_scores(self, survey: Survey, scores: list[int], comments: list[str] | None) -> list[str]:
        if len(scores) != len(survey.questions) or any(not isinstance(v, int) or not 1 <= v <= 5 for v in scores):
            raise ValueError("one score from 1 to 5 per question")
        out = [(c or "")[:1000] for c in (comments or [])]
        return (out + [""] * len(scores))[:len(scores)]

    async def _add(self, survey: Survey, household: HouseholdView, scores: list[int], comments: list[str],
                   member_id: int | None, in_person: bool, recorded_by: int | None) -> SurveyResponse:
        if survey.status != "running" or self.clock() >= survey.ends_at:
            raise SurveyClosed()
        existing = (await self.session.execute(select(SurveyResponse).where(
            SurveyResponse.survey_id == survey.id, SurveyResponse.household_id == household.id)
        )).scalar_one_or_none()
        if existing is not None:
            by = await self.session.get(Member, existing.member_id) if existing.member_id else None
            raise AlreadyAnswered(existing, by)
        response = SurveyResponse(survey_id=survey.id, household_id=household.id, building_id=household.building_id,
                                  member_id=member_id, scores=list(scores), comments=comments, in_person=in_person,
                                  recorded_by=recorded_by, created_at=self.clock())
        self.session.add(response)
        await self.session.flush()
        return response

    async def respond(self, member: Member, survey_id: int, scores: list[int],
                      comments: list[str] | None = None) -> SurveyResponse:
        """The household's one response, by any member of it. A second one is refused (AlreadyAnswered
        says when and by whom), so two members answering at once cannot both count."""
        mine = await self.status(member, survey_id)
        if mine.household is None:
            raise NotAllowed("survey_respond")
        return await self._add(mine.survey, mine.household, scores, self._check_scores(mine.survey, scores, comments),
                               member.id, False, None)

    async def record_in_person(self, actor: Actor, survey_id: int, household_id: int, scores: list[int],
                               comments: list[str] | None = None) -> SurveyResponse:
        """A captain records a household's answers given door to door (入户), marked as such."""
        survey = await self.get(survey_id)
        household = await self.households.get(household_id)
        if household is None or household.building_id not in survey.building_ids:
            raise LookupError("household")
        require(actor, "survey_record", await self._place_of_building(household.building_id))
        return await self._add(survey, household, scores, self._check_scores(survey, scores, comments),
                               None, True, actor.member_id)

    async def missing(self, actor: Actor, survey_id: int, building_id: int) -> list[HouseholdView]:
        """The households of a building that have not answered yet (for door-to-door visits)."""
        survey = await self.get(survey_id)
        if building_id not in survey.building_ids:
            raise LookupError("building")
        require(actor, "survey_record", await self._place_of_building(building_id))
        answered = await self._answered(survey.id)
        return [h for h in await self.households.of_building(building_id) if h.id not in answered]

    # --- figures ------------------------------------------------------------------------------------

    async def progress(self, survey: Survey) -> list[BuildingProgress]:
        ids = list(survey.building_ids)
        counts = await self.households.count(ids)
        rows = (await self.session.execute(
            select(SurveyResponse.building_id, SurveyResponse.in_person, func.count())
            .where(SurveyResponse.survey_id == survey.id).group_by(SurveyResponse.building_id,
                                                                    SurveyResponse.in_person))).all()
        got: dict[int, list[int]] = {}
        for bid, in_person, n in rows:
            acc = got.setdefault(bid, [0, 0])
            acc[0] += int(n)
            if in_person:
                acc[1] += int(n)
        names = dict((await self.session.execute(
            select(Building.id, Building.name).where(Building.id.in_(ids)))).all())
        return [BuildingProgress(bid, names.get(bid, "—"), counts.get(bid, 0), got.get(bid, [0, 0])[0],
                                 got.get(bid, [0, 0])[1], survey.target) for bid in ids]

    async def progress_for(self, actor: Actor, survey_id: int) -> tuple[Survey, list[BuildingProgress]]:
        """Progress per building: staff see every building, area heads and captains theirs."""
        survey = await self.get(survey_id)
        rows = []
        for p in await self.progress(survey):
            if can(actor, "survey_progress", await self._place_of_building(p.building_id)):
                rows.append(p)
        if not rows:
            raise NotAllowed("survey_progress")
        return survey, rows

    async def visible(self, actor: Actor, community_id: int) -> list[Survey]:
        """Surveys (running first, then the latest closed) whose progress this person may see."""
        out = []
        for s in (await self.session.execute(select(Survey).where(Survey.community_id == community_id)
                                             .order_by(Survey.status.desc(), Survey.id.desc()).limit(20))).scalars():
            for bid in s.building_ids:
                if can(actor, "survey_progress", await self._place_of_building(bid)):
                    out.append(s)
                    break
        return out

    async def results(self, survey: Survey, locale: str) -> SurveyResults:
        progress = await self.progress(survey)
        responses = list((await self.session.execute(select(SurveyResponse).where(
            SurveyResponse.survey_id == survey.id))).scalars())
        by_building: dict[int, list[SurveyResponse]] = {}
        for r in responses:
            by_building.setdefault(r.building_id, []).append(r)

        def figures(rs: list[SurveyResponse]) -> list[QuestionResult]:
            out = []
            for i, q in enumerate(survey.questions):
                scores = [int(r.scores[i]) for r in rs if i < len(r.scores)]
                mean = round(sum(scores) / len(scores), 2) if scores else None
                sat = round(100 * sum(1 for v in scores if v >= SATISFIED) / len(scores)) if scores else None
                out.append(QuestionResult(i, stored_question(q, locale), len(scores), mean, sat, dict(q)))
            return out

        places = [PlaceResult(p.name, p, figures(by_building.get(p.building_id, [])), p.households, p.responses)
                  for p in progress]
        places.append(PlaceResult("", None, figures(responses), sum(p.households for p in progress), len(responses)))
        return SurveyResults(survey.id, survey.title, survey.ends_at, survey.status == "closed", places, progress)

    async def lagging(self, community_id: int, now: datetime) -> list[tuple[Survey, list[BuildingProgress]]]:
        """Running surveys with a building behind schedule: fewer responses than the target times the
        share of the survey's time gone by."""
        out = []
        for s in (await self.session.execute(select(Survey).where(
                Survey.community_id == community_id, Survey.status == "running").order_by(Survey.id))).scalars():
            span = (s.ends_at - s.starts_at).total_seconds() or 1
            elapsed = min(1.0, max(0.0, (now - s.starts_at).total_seconds() / span))
            behind = [p for p in await self.progress(s)
                      if p.households and p.responses < p.households * p.target * elapsed]
            if behind:
                out.append((s, behind))
        return out

    # --- the clock: reminders and the end -----------------------------------------------------------

    async def run_due(self) -> int:
        """Reminders 2 days before and on the morning of the last day; results at the end. Keys make it
        idempotent, so a restart in the middle or a double tick sends nothing twice."""
        now = self.clock()
        done = 0
        for s in list((await self.session.execute(select(Survey).where(Survey.status == "running"))).scalars()):
            community = await self.session.get(Community, s.community_id)
            if community is None:
                continue
            tz = ZoneInfo(community.timezone)
            last_day = (s.ends_at - timedelta(seconds=1)).astimezone(tz).date()
            if now >= s.ends_at:
                await self._close(s, community)
                done += 1
                continue
            for moment, day in (("2d", last_day - timedelta(days=2)), ("last", last_day)):
                at = datetime.combine(day, REMIND_AT, tz).astimezone(UTC)
                if at <= now < s.ends_at and at > s.starts_at:
                    done += await self._invite(s, community, moment)
        return done

    async def _close(self, survey: Survey, community: Community) -> None:
        survey.status = "closed"
        survey.closed_at = self.clock()
        await self.session.flush()
        await self.events.record(SurveyEnded(survey.id, community.id, survey.created_by))


async def places_for(session: AsyncSession, actor: Actor, community_id: int) -> list[tuple[str, Place]]:
    """Where this person may start a survey: the community, each area, each building (staff only)."""
    community = await session.get(Community, community_id)
    if community is None or not can(actor, "survey", Place(community_id)):
        return []
    out = [(community.name, Place(community_id))]
    for a in (await session.execute(select(Area).where(Area.community_id == community_id).order_by(Area.id))).scalars():
        out.append((a.name, Place(community_id, a.id)))
    for b in (await session.execute(select(Building).where(Building.community_id == community_id)
                                    .order_by(Building.id))).scalars():
        out.append((b.name, Place(community_id, b.area_id, b.id)))
    return out


def _end_of_day(moment: datetime, tz_name: str) -> datetime:
    tz = ZoneInfo(tz_name)
    local = moment.astimezone(tz).date()
    return datetime.combine(local + timedelta(days=1), time(0), tz).astimezone(UTC)


def local_date(moment: datetime, tz_name: str) -> str:
    return (moment - timedelta(seconds=1)).astimezone(ZoneInfo(tz_name)).strftime("%Y-%m-%d")


# --- for the digests (found there by name, see bot/services/digests.py `_optional`) -------------------


async def survey_results(session: AsyncSession, community_id: int, start_utc: datetime, end_utc: datetime,
                         locale: str = "en") -> list[SurveyResults]:
    """Surveys that ended in a period (the weekly report shows their results)."""
    service = SurveysService(session)
    rows = (await session.execute(select(Survey).where(
        Survey.community_id == community_id, Survey.ends_at > start_utc, Survey.ends_at <= end_utc)
        .order_by(Survey.id))).scalars()
    return [await service.results(s, locale) for s in rows]


async def survey_lagging(session: AsyncSession, community_id: int, now: datetime
                         ) -> list[tuple[Survey, list[BuildingProgress]]]:
    return await SurveysService(session).lagging(community_id, now)


async def running_coverage(session: AsyncSession, building_id: int) -> list[tuple[Survey, BuildingProgress]]:
    """Running surveys that ask a building, with its coverage (for the weekly board post)."""
    service = SurveysService(session)
    out: list[tuple[Survey, BuildingProgress]] = []
    for s in (await session.execute(select(Survey).where(Survey.status == "running").order_by(Survey.id))).scalars():
        if building_id in s.building_ids:
            out.extend((s, p) for p in await service.progress(s) if p.building_id == building_id)
    return out


@job("survey_reminders")
async def survey_reminders(session: AsyncSession, ctx: JobContext) -> None:
    await SurveysService(session, ctx.clock).run_due()


@on_erased("surveys")
async def _erased(session: AsyncSession, clock: Clock, member: Member, erased: Erased) -> None:
    # The household's answer stays (it counts); who gave it is personal and goes.
    from sqlalchemy import update

    await session.execute(update(SurveyResponse).where(SurveyResponse.member_id == member.id).values(member_id=None))
    await session.execute(update(SurveyResponse).where(SurveyResponse.recorded_by == member.id)
                          .values(recorded_by=None))


__all__ = ["AlreadyAnswered", "Area", "BuildingProgress", "SurveyClosed", "SurveyEnded", "SurveyError",
           "SurveyInvited", "SurveyResults", "SurveysService", "survey_lagging", "survey_results"]
