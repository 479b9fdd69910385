"""Hostile and odd input, property-based: generated updates of every kind through the real dispatcher.

Properties checked for every generated sequence:
* no unexpected exception reached handlers/errors.py (it would have said "something went wrong");
* Telegram (the test double) refused no call, apart from ordinary business (someone who never opened
  the bot, a press that changes nothing);
* every callback query was answered (a spinning button is silence);
* afterwards a normal person still gets normal answers to /start and /help.
Separate properties: a wrong input at a step of a conversation gets the same question again (settings'
quiet hours, onboarding's invite code, and the report flow's photo step when that flow exists).

Commands come from bot.commands.COMMANDS and callback data from every CallbackData class of the bot
(see test_authz_matrix), so capabilities that land later are fuzzed without editing this file.
Hypothesis is derandomized with a bounded number of examples so CI stays fast and stable.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData
from aiogram.types import Update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BotHarness, unique_id
from tests.e2e.test_authz_matrix import (
    B1_TEAM,
    FakeMonotonic,
    Targets,
    callback_classes,
    capture_crashes,
    fake_throttle_time,
    harvested_values,
    make_targets,
)

UNLINKED_GROUP = -1009999999999
FORUM = -1009999999990
CHANNEL = -1009999999980
KNOWN_PEOPLE = [3001, 3002, 2001, 2002, 2003, 4001, 2102, 9000]

FUZZ = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])

# Text that has broken bots: markup, entities, zero-width and bidi characters, CJK, emoji, huge strings.
NASTY = ["<b>bold</b>", "<script>alert(1)</script>", "&amp;&lt;", "a < b > c & d", "**bold** _it_ `code`",
         "[link](http://x)", "\u200b\u200c\u200d\ufeff", "\u202eevil\u202c", "مرحبا بالعالم", "楼道堆物 #NC0042",
         "👨‍👩‍👧‍👦🏳️‍🌈", "\x00\x01", "/start NC", "/report@test_bot", "/", "/ /", "   ", "x" * 4096, "中" * 3000,
         "<a href='javascript:alert(1)'>x</a>", "%s %(name)s {name} {0}", "\n\n\n", "22:30-06:30", "25:99-99:00"]

texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=200),
                  st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60))
names = st.one_of(st.sampled_from(["Ann", "<b>Bob</b>", "李女士", "\u202eevil", "&", "x" * 10_000, " "]),
                  st.text(min_size=1, max_size=80).filter(lambda s: s.strip() != ""))


def commands() -> list[str]:
    from bot.commands import COMMANDS

    return [c.name for c in COMMANDS]


def forged_callback(draw: Any, targets: Targets) -> str:
    classes = callback_classes()
    cls: type[CallbackData] = draw(st.sampled_from(classes))
    values = harvested_values(cls)
    kwargs: dict[str, Any] = {}
    ids = [targets.issue, targets.river_issue, targets.request, targets.b1, targets.captain_role, 0, -1, 2**31]
    for field, info in cls.model_fields.items():
        if info.annotation is str:
            pool = sorted(values.get(field, set())) or [""]
            kwargs[field] = draw(st.one_of(st.sampled_from(pool), st.text(
                alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", max_size=8)))
        elif info.annotation is int:
            kwargs[field] = draw(st.sampled_from(ids))
        elif info.annotation is bool:
            kwargs[field] = draw(st.booleans())
        elif info.is_required():
            kwargs[field] = draw(st.sampled_from(ids))
    try:
        packed = cls(**kwargs).pack()
    except (ValueError, TypeError):
        packed = cls.__prefix__ + ":x"
    return packed if len(packed.encode()) <= 64 else packed.encode()[:64].decode(errors="ignore")


@st.composite
def actions(draw: Any, targets: Targets) -> tuple[str, Any]:
    """One step: (kind, parameters). Users are known people or newcomers with odd names."""
    who = draw(st.one_of(st.sampled_from(KNOWN_PEOPLE), st.just(0)))
    name = draw(names)
    lang = draw(st.sampled_from(["en", "zh-hans", "zh-hant-tw", "ru", None]))
    where = draw(st.sampled_from([None, None, None, B1_TEAM, UNLINKED_GROUP]))
    kind = draw(st.sampled_from([
        "text", "command", "command", "callback", "forged", "forged", "forged", "sticker", "voice", "poll", "contact",
        "contact_other", "forwarded", "edited", "channel", "anonymous", "forum", "photo", "document", "location",
        "album"]))
    if kind == "command":
        arg = draw(st.one_of(st.just(""), texts))
        payload: Any = f"/{draw(st.sampled_from(commands()))} {arg}".strip()
    elif kind == "callback":
        payload = draw(st.one_of(st.text(max_size=64), st.sampled_from(["", ":", "is:", "is:accept:x:",
                                                                        "jr:1:maybe", "x" * 64, "中" * 21])))
    elif kind == "forged":
        payload = forged_callback(draw, targets)
    else:
        payload = draw(texts)
    return kind, (who, name, lang, where, payload)


def build(harness: BotHarness, kind: str, params: Any) -> list[Update]:
    up = harness.up
    who, name, lang, where, payload = params
    uid = who or unique_id()
    user = up.user(uid, name, lang)
    chat = where
    text = payload if isinstance(payload, str) else str(payload)
    if kind in ("text", "command"):
        return [up.text(user, text or ".", chat)]
    if kind in ("callback", "forged"):
        data = text if 1 <= len(text.encode()) <= 64 else "x"
        return [up.callback(user, data, chat=chat)]
    if kind == "sticker":
        return [up.sticker(user, chat=chat)]
    if kind == "voice":
        return [up.voice(user, chat=chat)]
    if kind == "poll":
        return [up.poll(user, question=text[:255] or "?", chat=chat)]
    if kind == "contact":
        return [up.contact(user, "+8613800000000", chat=chat)]
    if kind == "contact_other":
        return [up.contact(user, "+447700900000", contact_user_id=uid + 1, first_name="Other", chat=chat)]
    if kind == "forwarded":
        return [up.forwarded(user, text or ".", chat=chat)]
    if kind == "edited":
        return [up.text(user, "first", chat), up.edited_text(user, text or ".", chat)]
    if kind == "channel":
        return [up.channel_post(CHANNEL, text or ".")]
    if kind == "anonymous":
        return [up.anonymous_admin(B1_TEAM, text or "/help")]
    if kind == "forum":
        return [up.forum_topic_message(user, FORUM, 7, text or "/help")]
    if kind == "photo":
        return [up.photo(user, caption=text[:1024] or None, chat=chat)]
    if kind == "document":
        return [up.document(user, file_name=(text[:50] or "x") + ".exe", chat=chat)]
    if kind == "location":
        return [up.location(user, 31.23, 121.47, chat=chat)]
    return up.album(user, 3, caption=text[:100] or None, chat=chat)


async def assert_still_normal(harness: BotHarness) -> None:
    """A newcomer still gets the greeting and the help text."""
    uid = unique_id()
    ann = harness.up.user(uid, "Ann", "en")
    await harness.feed(harness.up.text(ann, "/start"), harness.up.text(ann, "/help"))
    texts = harness.tg.texts(uid)
    assert any("Hi Ann" in t for t in texts), texts
    assert "What I can do" in texts[-1], texts


@pytest.fixture
def unthrottled(harness: BotHarness) -> Iterator[None]:
    with fake_throttle_time(harness.dp, FakeMonotonic()):
        yield


@pytest.fixture
async def fuzz_world(harness: BotHarness, community: Any, riverside: Any, sessions: Any, clock: Any,
                     unthrottled: None) -> tuple[BotHarness, Targets]:
    targets = await make_targets(sessions, clock, community, riverside)
    return harness, targets


@FUZZ
@given(data=st.data())
async def test_generated_updates_break_nothing(fuzz_world: tuple[BotHarness, Targets], data: Any) -> None:
    harness, targets = fuzz_world
    steps = data.draw(st.lists(actions(targets), min_size=1, max_size=25))
    crashes = capture_crashes()
    start = len(harness.tg.calls)
    try:
        for kind, params in steps:
            for update in build(harness, kind, params):
                await harness.feed(update)
        await harness.deliver()
    finally:
        problems = crashes.release()
    assert not problems, problems
    new_calls = harness.tg.calls[start:]
    refused = [f"{c.method} {c.chat_id}: {c.error}" for c in new_calls if not c.ok
               and "Forbidden" not in (c.error or "") and "not modified" not in (c.error or "")]
    assert not refused, refused
    unanswered = [q for q, answered in harness.tg.callback_queries.items() if not answered]
    assert not unanswered, f"callback queries left spinning: {unanswered[:5]}"
    await assert_still_normal(harness)


# ------------------------------------------------------------------- same question again


JUNK_KINDS = ["sticker", "voice", "poll", "contact_other", "document", "location", "text"]


def junk(harness: BotHarness, user: Any, kind: str, text: str) -> Update:
    up = harness.up
    return {
        "sticker": lambda: up.sticker(user),
        "voice": lambda: up.voice(user),
        "poll": lambda: up.poll(user),
        "contact_other": lambda: up.contact(user, "+447700900000", contact_user_id=user.id + 1),
        "document": lambda: up.document(user),
        "location": lambda: up.location(user, 0.0, 0.0),
        "text": lambda: up.text(user, text or "?"),
    }[kind]()


def _question_of(call: Any) -> tuple[str, list[list[str]]]:
    from tests.telegram import FakeTelegram

    return (call.plain or "").strip(), FakeTelegram.buttons(call)


@pytest.fixture
async def quiet_question(harness: BotHarness, community: Any, unthrottled: None) -> tuple[Any, str, Any]:
    uid = unique_id()
    user = harness.up.user(uid, "Ann", "en")
    await harness.feed(harness.up.text(user, "/settings"))
    menu = harness.tg.last(uid)
    await harness.feed(harness.up.callback_on(menu, user, "Quiet hours"))
    await harness.feed(harness.up.callback_on(harness.tg.current(uid, menu.message_id), user, "Other times"))
    question, buttons = _question_of(harness.tg.edits(uid)[-1])
    assert "quiet hours" in question
    return user, question, buttons


@FUZZ
@given(kind=st.sampled_from(JUNK_KINDS), text=st.sampled_from([*NASTY[:-5], "9", "noon", "22:30"]))
async def test_wrong_input_repeats_the_quiet_hours_question(harness: BotHarness, quiet_question: Any, kind: str,
                                                            text: str) -> None:
    user, question, buttons = quiet_question
    before = len(harness.tg.sent(user.id))
    await harness.feed(junk(harness, user, kind, text))
    replies = harness.tg.sent(user.id)[before:]
    assert len(replies) == 1, [r.text for r in replies]
    reply, reply_buttons = _question_of(replies[0])
    assert reply.endswith(question) and reply != question, reply  # one line saying why, then the question
    assert reply_buttons == buttons


@FUZZ
@given(code=st.one_of(st.sampled_from(["x", "NC", "<b>", "a" * 60, "../../etc"]),
                      st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
                              min_size=1, max_size=64)))
async def test_bad_invite_code_repeats_the_community_question(harness: BotHarness, community: Any,
                                                              unthrottled: None, code: str) -> None:
    uid = unique_id()
    user = harness.up.user(uid, "Ann", "en")
    await harness.feed(harness.up.text(user, f"/start {code}"))
    texts = harness.tg.texts(uid, as_plain=True)
    assert any("invite link is not valid" in t for t in texts), texts
    assert texts[-1] == "Which community do you live in?"
    assert "Nanchi Community" in harness.tg.buttons(harness.tg.last(uid))[0]


@pytest.fixture
async def photo_question(harness: BotHarness, community: Any, unthrottled: None) -> tuple[Any, str, Any] | None:
    from bot.capabilities import CAPABILITIES

    if "reporting" not in CAPABILITIES or importlib.util.find_spec("handlers.reporting") is None:
        return None  # the report flow has not landed yet
    from sqlalchemy import select

    from models import Building, Member, Role

    uid = unique_id()
    user = harness.up.user(uid, "Ann", "en")
    async with harness.sessions() as s:
        b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalars().first()
        assert b1 is not None
        member = Member(telegram_id=uid, first_name="Ann", language_code="en", prefs={}, created_at=harness.clock())
        s.add(member)
        await s.flush()
        s.add(Role(member_id=member.id, role="resident", community_id=b1.community_id, building_id=b1.id,
                   source="approval", created_at=harness.clock()))
        await s.commit()
    await harness.feed(harness.up.text(user, "/report"))
    question, buttons = _question_of(harness.tg.last(uid))
    return user, question, buttons


@FUZZ
@given(kind=st.sampled_from(["sticker", "voice", "poll", "contact_other"]))
async def test_wrong_input_at_the_photo_step_repeats_the_question(harness: BotHarness, photo_question: Any,
                                                                  kind: str) -> None:
    if photo_question is None:
        return
    user, question, buttons = photo_question
    before = len(harness.tg.sent(user.id))
    await harness.feed(junk(harness, user, kind, ""))
    replies = harness.tg.sent(user.id)[before:]
    assert replies, "silence"
    reply, reply_buttons = _question_of(replies[-1])
    assert question.splitlines()[-1] in reply, (reply, question)
    assert reply_buttons == buttons
