"""/survey: residents answer their household's satisfaction survey (one tap per question, a typed line
is a comment on the question on screen); captains see their buildings' progress and record answers
given door to door; staff start one for the community, an area or a building from the template and
follow coverage. Glue only: bot/services/surveys.py holds the rules."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import _, ngettext
from bot.notices.surveys import progress_lines, question_text
from bot.rendering import esc
from bot.services.access import Actor, NotAllowed, Place
from bot.services.surveys import (
    MAX_QUESTIONS,
    AlreadyAnswered,
    SurveyClosed,
    SurveysService,
    local_date,
)
from models import Community, Member, Survey

router = Router(name=__name__)
router.message.filter(F.chat.type == "private")


class SurveyCb(CallbackData, prefix="sv"):
    """a: go (answer) | sc (score q=v) | pr (progress) | mi (missing, of building q) | rec (record for
    household q) | new (choose a place) | st (start at place token: q=area id, v=building id, -1 = none)."""

    a: str
    s: int
    q: int = 0
    v: int = 0


class SurveyFlow(StatesGroup):
    answering = State()


class SurveyNew(StatesGroup):
    """Staff typing their own questions (data c = community id), then `ready` with data qs = the lines."""

    typing = State()
    ready = State()


def parse_questions(text: str) -> list[str] | None:
    """One question per line, blank lines ignored; None when there are none or more than allowed."""
    lines = [" ".join(line.split())[:300] for line in text.splitlines()]
    qs = [line for line in lines if line]
    return qs if 0 < len(qs) <= MAX_QUESTIONS else None


def _when(survey: Survey, community: Community | None) -> str:
    return local_date(survey.ends_at, community.timezone if community else "UTC")


def score_kb(survey_id: int, q: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for v in range(1, 6):
        kb.button(text=str(v), callback_data=SurveyCb(a="sc", s=survey_id, q=q, v=v))
    kb.adjust(5)
    return kb.as_markup()


def question_screen(survey: Survey, q: int, locale: str, household: str | None = None) -> str:
    head = _("📋 <b>{title}</b> · question {n} of {total}").format(
        title=esc(survey.title), n=q + 1, total=len(survey.questions))
    lines = [head]
    if household:
        lines.append(_("Recording in person for household {label}.").format(label=esc(household)))
    lines += ["", esc(question_text(survey.questions[q], locale)), "",
              _("1 = very dissatisfied · 5 = very satisfied. To add a comment, type it before you tap.")]
    return "\n".join(lines)


@router.message(Command("survey"))
async def survey_cmd(message: Message, member: Member, actor: Actor, surveys: SurveysService,
                     state: FSMContext, locale: str) -> None:
    await state.clear()
    lines: list[str] = []
    kb = InlineKeyboardBuilder()
    for s in await surveys.running_for(member):
        mine = await surveys.status(member, s.id)
        if mine.response is not None:
            lines.append(done_line(s, mine.response.in_person, mine.by))
        else:
            lines.append(_("📋 {title}: your household has not answered yet.").format(title=esc(s.title)))
            kb.button(text=_("📝 Answer “{title}”").format(title=s.title[:40]), callback_data=SurveyCb(a="go", s=s.id))
    for cid in sorted(actor.communities()):
        for s in await surveys.visible(actor, cid):
            state_word = _("running") if s.status == "running" else _("closed")
            kb.button(text=_("📊 {title} ({state})").format(title=s.title[:40], state=state_word),
                      callback_data=SurveyCb(a="pr", s=s.id))
        if await surveys.places_for(actor, cid):
            kb.button(text=_("➕ New survey"), callback_data=SurveyCb(a="new", s=cid))
    kb.adjust(1)
    if not lines and not kb.buttons:
        await message.answer(_("There is no survey for your household right now. I'll send you one when it starts."))
        return
    text = "\n".join(lines) if lines else _("📋 Satisfaction surveys")
    await message.answer(text, reply_markup=kb.as_markup())


def done_line(s: Survey, in_person: bool, by: Member | None) -> str:
    if in_person:
        return _("✅ {title}: your household's answer was recorded by the captain, in person.").format(
            title=esc(s.title))
    name = esc(by.first_name) if by is not None else _("a member of your household")
    return _("✅ {title}: your household has answered (by {name}). Thank you!").format(title=esc(s.title), name=name)


@router.callback_query(SurveyCb.filter(F.a == "go"))
async def take(query: CallbackQuery, callback_data: SurveyCb, member: Member, surveys: SurveysService,
               state: FSMContext, locale: str) -> None:
    mine = await surveys.status(member, callback_data.s)
    if mine.household is None:
        raise NotAllowed("survey_respond")
    if mine.response is not None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(done_line(mine.survey, mine.response.in_person, mine.by))
        return
    if mine.survey.status != "running":
        await query.answer(_("This survey has ended."), show_alert=True)
        return
    await state.set_state(SurveyFlow.answering)
    await state.set_data({"s": mine.survey.id, "scores": [], "comments": [], "hh": None})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(question_screen(mine.survey, 0, locale), reply_markup=score_kb(mine.survey.id, 0))


@router.message(SurveyFlow.answering, F.text, ~F.text.startswith("/"))
async def comment(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    q = len(data.get("scores", []))
    comments = list(data.get("comments", []))
    comments += [""] * (q + 1 - len(comments))
    comments[q] = (message.text or "")[:1000]
    await state.update_data(comments=comments)
    await message.answer(_("📝 Comment noted for this question. Now tap a score from 1 to 5."))


@router.callback_query(SurveyCb.filter(F.a == "sc"))
async def score(query: CallbackQuery, callback_data: SurveyCb, member: Member, actor: Actor,
                surveys: SurveysService, state: FSMContext, locale: str) -> None:
    data = await state.get_data()
    scores = list(data.get("scores", []))
    # Only the question on screen of the survey being answered counts; a stale button changes nothing.
    if await state.get_state() != SurveyFlow.answering.state or data.get("s") != callback_data.s \
            or callback_data.q != len(scores) or not 1 <= callback_data.v <= 5:
        await query.answer(_("That question is no longer open. Send /survey to start again."), show_alert=True)
        return
    survey = await surveys.get(callback_data.s)
    scores.append(callback_data.v)
    await state.update_data(scores=scores)
    message = query.message if isinstance(query.message, Message) else None
    household = data.get("hh")
    if len(scores) < len(survey.questions):
        await query.answer()
        if message is not None:
            label = data.get("hh_label")
            await message.edit_text(question_screen(survey, len(scores), locale, label),
                                    reply_markup=score_kb(survey.id, len(scores)))
        return
    comments = list(data.get("comments", []))
    await state.clear()
    try:
        if household:
            await surveys.record_in_person(actor, survey.id, int(household), scores, comments)
            text = _("✅ Recorded for household {label}, marked as given in person.").format(
                label=esc(str(data.get("hh_label"))))
        else:
            await surveys.respond(member, survey.id, scores, comments)
            text = _("✅ Thank you! Your household's answer is in. The results go to the community office "
                     "when the survey ends.")
    except AlreadyAnswered as e:
        text = done_line(survey, e.response.in_person, e.by)
    except SurveyClosed:
        text = _("This survey has ended.")
    await query.answer()
    if message is not None:
        await message.edit_text(text)


@router.callback_query(SurveyCb.filter(F.a == "pr"))
async def progress(query: CallbackQuery, callback_data: SurveyCb, actor: Actor, surveys: SurveysService,
                   locale: str) -> None:
    survey, rows = await surveys.progress_for(actor, callback_data.s)
    community = await surveys.community(survey.community_id)
    head = _("📊 <b>{title}</b> · until {date}").format(title=esc(survey.title), date=_when(survey, community))
    kb = InlineKeyboardBuilder()
    if survey.status == "running":
        for p in rows:  # door to door goes on after the target is met: more voices, better figures
            kb.button(text=_("🚪 Not answered: {place}").format(place=p.name[:40]),
                      callback_data=SurveyCb(a="mi", s=survey.id, q=p.building_id))
    kb.adjust(1)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer("\n".join([head, *progress_lines(rows)]), reply_markup=kb.as_markup())


@router.callback_query(SurveyCb.filter(F.a == "mi"))
async def missing(query: CallbackQuery, callback_data: SurveyCb, actor: Actor, surveys: SurveysService) -> None:
    flats = await surveys.missing(actor, callback_data.s, callback_data.q)
    kb = InlineKeyboardBuilder()
    for h in flats[:60]:
        kb.button(text=h.label, callback_data=SurveyCb(a="rec", s=callback_data.s, q=h.id))
    kb.adjust(6)
    text = ngettext("🚪 %(num)d household has not answered. Tap it to record its answers given in person.",
                    "🚪 %(num)d households have not answered. Tap one to record its answers given in person.",
                    len(flats)) + ("\n" + _("(the first 60 are shown)") if len(flats) > 60 else "")
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text, reply_markup=kb.as_markup())


@router.callback_query(SurveyCb.filter(F.a == "rec"))
async def record(query: CallbackQuery, callback_data: SurveyCb, actor: Actor, surveys: SurveysService,
                 state: FSMContext, locale: str) -> None:
    survey = await surveys.get(callback_data.s)
    household = await surveys.households.get(callback_data.q)
    if household is None or household.building_id not in survey.building_ids:
        raise LookupError("household")
    flats = await surveys.missing(actor, survey.id, household.building_id)  # checks the captain's right
    if household.id not in {h.id for h in flats}:
        await query.answer(_("That household has already answered."), show_alert=True)
        return
    await state.set_state(SurveyFlow.answering)
    await state.set_data({"s": survey.id, "scores": [], "comments": [], "hh": household.id,
                          "hh_label": household.label})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(question_screen(survey, 0, locale, household.label),
                                   reply_markup=score_kb(survey.id, 0))


def _places_kb(places: list[tuple[str, Place]], *, typed_from: int | None = None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for name, place in places[:20]:
        kb.button(text=name[:50], callback_data=SurveyCb(a="st", s=place.community_id, q=place.area_id or -1,
                                                           v=place.building_id or -1))
    if typed_from is not None:
        kb.button(text=_("✍️ Type my own questions"), callback_data=SurveyCb(a="ty", s=typed_from))
    kb.adjust(1)
    return kb.as_markup()


@router.callback_query(SurveyCb.filter(F.a == "new"))
async def new(query: CallbackQuery, callback_data: SurveyCb, actor: Actor, surveys: SurveysService,
              state: FSMContext) -> None:
    places = await surveys.places_for(actor, callback_data.s)
    if not places:
        raise NotAllowed("survey")
    await state.clear()  # the template unless the person goes on to type questions
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_("📋 A satisfaction survey from the community's template. Who is asked?"),
                                   reply_markup=_places_kb(places, typed_from=callback_data.s))


def _typing_prompt() -> str:
    return _("✍️ Send your questions, one per line (up to {max}). Each is scored 1 to 5; write them in the "
             "language your residents read. /cancel to stop.").format(max=MAX_QUESTIONS)


@router.callback_query(SurveyCb.filter(F.a == "ty"))
async def typed_start(query: CallbackQuery, callback_data: SurveyCb, actor: Actor, surveys: SurveysService,
                      state: FSMContext) -> None:
    if not await surveys.places_for(actor, callback_data.s):
        raise NotAllowed("survey")
    await state.set_state(SurveyNew.typing)
    await state.set_data({"c": callback_data.s})
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(_typing_prompt())


@router.message(SurveyNew.typing, ~F.text.startswith("/"))
async def typed_questions(message: Message, actor: Actor, surveys: SurveysService, state: FSMContext) -> None:
    data = await state.get_data()
    qs = parse_questions(message.text or "")
    if qs is None:
        await message.answer(_("Please send between 1 and {max} questions as text, one per line.").format(
            max=MAX_QUESTIONS))
        await message.answer(_typing_prompt())
        return
    places = await surveys.places_for(actor, int(data.get("c", 0)))
    if not places:
        raise NotAllowed("survey")
    await state.set_state(SurveyNew.ready)
    await state.update_data(qs=qs)
    listed = "\n".join(f"{n}. {esc(q)}" for n, q in enumerate(qs, 1))
    await message.answer(_("📋 Your questions:\n{questions}\n\nWho is asked?").format(questions=listed),
                         reply_markup=_places_kb(places))


@router.callback_query(SurveyCb.filter(F.a == "st"))
async def start(query: CallbackQuery, callback_data: SurveyCb, actor: Actor, member: Member,
                surveys: SurveysService, state: FSMContext) -> None:
    community = await surveys.community(callback_data.s)
    place = Place(community.id, None if callback_data.q < 0 else callback_data.q,
                  None if callback_data.v < 0 else callback_data.v)
    allowed = {p for _n, p in await surveys.places_for(actor, community.id)}
    if place not in allowed:  # only a place the bot offered
        raise NotAllowed("survey", place)
    today = surveys.clock().astimezone(ZoneInfo(community.timezone))
    title = _("Satisfaction survey {date}").format(date=today.strftime("%Y-%m"))
    questions = None
    data = await state.get_data()
    if await state.get_state() == SurveyNew.ready.state and data.get("c") == community.id and data.get("qs"):
        # Typed questions are shown as typed to every reader (bot/notices/surveys.question_text).
        questions = [{"text": str(q)} for q in data["qs"]][:MAX_QUESTIONS]
    await state.clear()
    survey = await surveys.start(actor, community, place=place, title=title, questions=questions, by=member)
    rows = await surveys.progress(survey)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text("\n".join([
            _("✅ Started “{title}” until {date}. Every household member there gets it privately; reminders go "
              "2 days before the end and on the last morning.").format(title=esc(survey.title),
                                                                     date=_when(survey, community)),
            *progress_lines(rows)]))
