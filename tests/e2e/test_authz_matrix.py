"""Authorization matrix: every command and every callback action × every role.

The commands come from bot.commands.COMMANDS and the callback actions from every aiogram CallbackData
class in bot/keyboards/ (action names harvested from the handlers' filters and the keyboards' builders),
so a capability that lands later is covered without touching this file. For each press or command:

* never silence: a callback query is answered, a command gets a message or an alert;
* a refusal (an alert or message saying so) changes nothing in the database (snapshot before/after);
* actions the role must not have (commands above its level; triage, join decisions and role removal at
  Building 1, which none of the outsiders own) are refused.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiogram.filters.callback_data import CallbackData
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.access import Level
from models import Base, Building, Community, Issue, JoinRequest, Member, Role
from tests.conftest import ADMIN_ID, ROOT, BotHarness, unique_id

B1_TEAM = -1001000000011

# ------------------------------------------------------------------------------ shared helpers


class FakeMonotonic:
    """Replaces time in the throttling middleware: each call is a second later, so a test that sends
    hundreds of updates from one person is never throttled (throttling has its own test)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


@contextlib.contextmanager
def fake_throttle_time(dp: Any, clock: Any) -> Iterator[None]:
    """Run the throttling middleware of the shared dispatcher on a fake clock, and put its per-user
    buckets back afterwards: stamps from the fake clock would otherwise lie in the future of the real
    one and keep throttling those people in later tests."""
    import bot.middlewares.throttling as throttling

    middleware = next(m for m in dp.update.outer_middleware if isinstance(m, throttling.ThrottlingMiddleware))
    saved = dict(middleware.buckets)
    middleware.buckets.clear()  # stamps from another clock would lie in this one's future (or past)
    real = throttling.time
    throttling.time = clock  # type: ignore[assignment]
    try:
        yield
    finally:
        throttling.time = real  # type: ignore[assignment]
        middleware.buckets.clear()
        middleware.buckets.update(saved)


@pytest.fixture
def no_throttle(harness: BotHarness) -> Iterator[None]:
    with fake_throttle_time(harness.dp, FakeMonotonic()):
        yield


def callback_classes() -> list[type[CallbackData]]:
    """Every CallbackData class of the bot (importing every keyboard module first)."""
    import bot.keyboards as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"bot.keyboards.{info.name}")
    found: list[type[CallbackData]] = []
    todo = list(CallbackData.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("bot.") and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda c: c.__prefix__)


def _sources() -> str:
    files = list((ROOT / "handlers").glob("*.py")) + list((ROOT / "bot" / "keyboards").glob("*.py"))
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(files))


def harvested_values(cls: type[CallbackData]) -> dict[str, set[str]]:
    """String values each field of a CallbackData class takes somewhere in the code: filters
    (`Cls.filter(F.action == "x")`, `F.arg.in_({...})`), builders (`Cls(action="x")`), the issue
    helper `cb("x", id, "arg")`, and constants named in `.in_(NAME)`."""
    src = _sources()
    name = cls.__name__
    values: dict[str, set[str]] = {f: set() for f, info in cls.model_fields.items() if info.annotation is str}
    for m in re.finditer(rf"\b{name}\.filter\(", src):
        chunk = src[m.end(): m.end() + 300].split("\n")[0]
        for field, value in re.findall(r"F\.(\w+)\s*==\s*\"([^\"]*)\"", chunk):
            values.setdefault(field, set()).add(value)
        for field, group in re.findall(r"F\.(\w+)\.in_\(\{([^}]*)\}\)", chunk):
            values.setdefault(field, set()).update(re.findall(r"\"([^\"]*)\"", group))
        for field, const in re.findall(r"F\.(\w+)\.in_\(([A-Z_]+)\)", chunk):
            decl = re.search(rf"^{const}\s*=\s*[\(\{{\[]([^\)\}}\]]*)", src, re.M)
            if decl:
                values.setdefault(field, set()).update(re.findall(r"\"([^\"]*)\"", decl.group(1)))
    for m in re.finditer(rf"\b{name}\(([^()]*)\)", src):
        for field, value in re.findall(r"(\w+)=\"([^\"]*)\"", m.group(1)):
            if field in values:
                values[field].add(value)
    if cls.__prefix__ == "is":
        for action, arg in re.findall(r"\bcb\(\"(\w+)\",\s*[\w.]+(?:,\s*\"(\w*)\")?", src):
            values["action"].add(action)
            if arg:
                values["arg"].add(arg)
        doc = (cls.__doc__ or "").split(";")[0]
        values["action"].update(w for w in re.findall(r"\b([a-z_]+)\b", doc) if w != "action")
    return {k: v for k, v in values.items() if k in cls.model_fields}


@dataclass
class Targets:
    """Objects at Building 1 of Nanchi (owned by none of the outsider roles) and in Riverside."""

    community_id: int
    b1: int
    b2: int
    issue: int
    river_issue: int
    request: int
    captain_role: int


async def make_targets(sessions: async_sessionmaker[AsyncSession], clock: Any, community: Any,
                       riverside: Any) -> Targets:
    async with sessions() as s:
        b1 = (await s.execute(select(Building).where(Building.community_id == community.id,
                                                     Building.key == "b1"))).scalar_one()
        b2 = (await s.execute(select(Building).where(Building.community_id == community.id,
                                                     Building.key == "b2"))).scalar_one()
        block_a = (await s.execute(select(Building).where(Building.community_id == riverside.id))).scalar_one()
        now = clock()
        asker = Member(telegram_id=unique_id(), first_name="Asker", prefs={}, created_at=now)
        s.add(asker)
        await s.flush()
        request = JoinRequest(member_id=asker.id, building_id=b1.id, status="pending", created_at=now)
        s.add(request)
        issue = Issue(community_id=community.id, number=900, reference="NC0900", area_id=b1.area_id,
                      building_id=b1.id, category="litter", description="Bags by entrance 2", reporter_id=asker.id,
                      deadline_at=now + timedelta(days=1), created_at=now, updated_at=now)
        river = Issue(community_id=riverside.id, number=900, reference="RS0900", area_id=block_a.area_id,
                      building_id=block_a.id, category="litter", description="Riverside litter", created_at=now,
                      updated_at=now)
        s.add_all([issue, river])
        await s.flush()
        captain = (await s.execute(select(Role).join(Member, Member.id == Role.member_id).where(
            Member.telegram_id == 3001, Role.role == "captain"))).scalar_one()
        await s.commit()
        return Targets(community.id, b1.id, b2.id, issue.id, river.id, request.id, captain.id)


def int_value(cls: type[CallbackData], field: str, t: Targets) -> int:
    """The id a forged press should carry: the object at Building 1 the class most likely acts on."""
    prefix = cls.__prefix__
    if prefix in ("is", "q", "my") or "issue" in field:
        return t.issue
    if prefix == "jr" or "request" in field:
        return t.request
    if prefix == "mem":
        return t.captain_role
    return t.b1


def forged(cls: type[CallbackData], t: Targets, values: dict[str, set[str]]) -> Iterator[str]:
    """One packed callback per harvested value of the class's first string field (its action)."""
    fields = cls.model_fields
    str_fields = [f for f, i in fields.items() if i.annotation is str]
    action_field = str_fields[0] if str_fields else None
    actions = sorted(values.get(action_field, set())) if action_field else []
    for action in actions or [None]:
        kwargs: dict[str, Any] = {}
        for f, info in fields.items():
            if f == action_field and action is not None:
                kwargs[f] = action
            elif info.annotation is str:
                options = sorted(values.get(f, set()))
                kwargs[f] = f"b{t.b1}" if f == "p" else (options[0] if options else "")
            elif info.annotation is int:
                kwargs[f] = int_value(cls, f, t)
            elif info.annotation is bool:
                kwargs[f] = True
            elif not info.is_required():
                continue
            else:
                kwargs[f] = int_value(cls, f, t)
        try:
            packed = cls(**kwargs).pack()
        except (ValueError, TypeError):
            continue
        if len(packed.encode()) <= 64:
            yield packed


SKIP_TABLES = {"processed_updates", "fsm_states", "job_leases"}
MEMBER_COLUMNS = ("id", "telegram_id", "phone", "locale", "quiet_start", "quiet_end", "prefs", "data_deleted_at")


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that records decisions (people's volatile Telegram details aside)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with sessions() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in SKIP_TABLES:
                continue
            cols = [c for c in table.columns if table.name != "members" or c.name in MEMBER_COLUMNS]
            rows = (await s.execute(select(*cols).order_by(*table.primary_key.columns))).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def diff(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


class WriteLog:
    """Which tables committed transactions wrote to (rows inserted, updated or deleted), from the engine's
    events: exact and far cheaper than reading every table before and after each of hundreds of presses.
    Writes rolled back (a refusal raised after a flush) do not count; bookkeeping tables do not either."""

    STATEMENT = re.compile(r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.I)

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.sync_engine = engine.sync_engine
        self.pending: dict[int, set[str]] = {}
        self.committed: set[str] = set()
        self._listeners = [("after_cursor_execute", self._execute), ("commit", self._commit),
                           ("rollback", self._rollback)]
        for name, fn in self._listeners:
            event.listen(self.sync_engine, name, fn)

    def close(self) -> None:
        from sqlalchemy import event

        for name, fn in self._listeners:
            event.remove(self.sync_engine, name, fn)

    def _execute(self, conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        match = self.STATEMENT.match(statement)
        if match is None or cursor.rowcount == 0:
            return
        table = match.group(1).lower()
        if table not in SKIP_TABLES and table != "members":
            self.pending.setdefault(id(conn.connection.dbapi_connection), set()).add(table)

    def _commit(self, conn: Any) -> None:
        self.committed |= self.pending.pop(id(conn.connection.dbapi_connection), set())

    def _rollback(self, conn: Any) -> None:
        self.pending.pop(id(conn.connection.dbapi_connection), None)

    def take(self) -> list[str]:
        out = sorted(self.committed)
        self.committed.clear()
        return out


REFUSAL = re.compile(
    r"only |can't|cannot|not allowed|no longer|isn't yours|not yours|not in |don't have|do not have|"
    r"not a member|already|not found|can't find|permission|only the|is for |first join|join your building|"
    r"仅|只有|不能|无权|找不到|失效|已处理|先加入", re.I)


@dataclass
class Outcome:
    answered: bool
    texts: list[str]

    @property
    def refused(self) -> bool:
        return any(REFUSAL.search(t) for t in self.texts)


async def press(harness: BotHarness, user: Any, data: str, chat: int | None = None) -> Outcome:
    start = len(harness.tg.calls)
    update = harness.up.callback(user, data, chat=chat)
    query_id = update.callback_query.id  # type: ignore[union-attr]
    await harness.feed(update)
    calls = harness.tg.calls[start:]
    texts = [str(c.params.get("text") or "") for c in calls if c.ok and c.method == "answerCallbackQuery"]
    texts += [c.text or "" for c in calls if c.delivered or (c.ok and c.method.startswith("edit"))]
    return Outcome(harness.tg.callback_queries.get(query_id, False), [t for t in texts if t])


async def command(harness: BotHarness, user: Any, text_: str, chat: int | None = None) -> Outcome:
    start = len(harness.tg.calls)
    await harness.feed(harness.up.text(user, text_, chat))
    calls = harness.tg.calls[start:]
    texts = [c.text or "" for c in calls if c.delivered or (c.ok and c.method.startswith("edit"))]
    return Outcome(bool(texts), texts)


def refusal_errors(harness: BotHarness) -> list[str]:
    """Calls Telegram refused that are not ordinary business (a person who never opened the bot)."""
    return [f"{c.method} {c.chat_id}: {c.error}" for c in harness.tg.errors()
            if "Forbidden" not in (c.error or "") and "not modified" not in (c.error or "")]


class CrashLog(logging.Handler):
    """Collects the unexpected exceptions handlers/errors.py caught (it logs them at ERROR): the user got
    a polite "something went wrong", but the test should still fail on them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.logger = logging.getLogger("handlers.errors")

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def release(self) -> list[str]:
        self.logger.removeHandler(self)
        out = []
        for r in self.records:
            exc = r.exc_info[1] if r.exc_info else None
            where = ""
            if exc is not None and exc.__traceback__ is not None:
                tb = exc.__traceback__
                while tb.tb_next is not None:
                    tb = tb.tb_next
                where = f" at {tb.tb_frame.f_code.co_filename.replace(str(ROOT) + '/', '')}:{tb.tb_lineno}"
            out.append(f"handler crashed: {r.getMessage()}: {type(exc).__name__}: {exc}{where}")
        return out


def capture_crashes() -> CrashLog:
    log = CrashLog()
    log.logger.addHandler(log)
    return log


# ------------------------------------------------------------------------------------ the matrix

ROLES = ["none", "resident_other_building", "volunteer", "captain_other_building", "area_head_other_area",
         "staff_other_community", "admin"]
TRIAGE_ACTIONS = {"accept", "assign", "asg", "deadline", "dl", "reject", "rej", "resolve", "rsv", "triage", "tri",
                  "note", "ask"}


async def role_user(harness: BotHarness, role: str, targets: Targets, riverside: Any) -> tuple[Any, Level]:
    up = harness.up
    ids = {"volunteer": 4001, "captain_other_building": 3002, "area_head_other_area": 2003,
           "staff_other_community": 2102, "admin": ADMIN_ID}
    if role in ids:
        levels = {"volunteer": Level.VOLUNTEER, "captain_other_building": Level.CAPTAIN,
                  "area_head_other_area": Level.AREA_HEAD, "staff_other_community": Level.STAFF,
                  "admin": Level.ADMIN}
        return up.user(ids[role], role.split("_")[0].title(), "en"), levels[role]
    uid = unique_id()
    user = up.user(uid, "Outsider", "en")
    if role == "resident_other_building":
        async with harness.sessions() as s:
            member = Member(telegram_id=uid, first_name="Outsider", language_code="en", prefs={},
                            created_at=harness.clock())
            s.add(member)
            await s.flush()
            s.add(Role(member_id=member.id, role="resident", community_id=targets.community_id,
                       building_id=targets.b2, source="approval", created_at=harness.clock()))
            await s.commit()
        return user, Level.RESIDENT
    return user, Level.NONE


def must_refuse(cls: type[CallbackData], data: str, role: str) -> bool:
    if role == "admin":
        return False
    unpacked = cls.unpack(data)
    action = getattr(unpacked, "action", None) or getattr(unpacked, "a", None)
    if cls.__prefix__ == "is" and action in TRIAGE_ACTIONS:
        return True
    if cls.__prefix__ == "jr":
        return True
    return cls.__prefix__ == "mem" and action in {"rm", "rmask", "rmgo"}


class Sweep:
    """What trying every command and every forged press found: the problems, how many checks, which
    tables changed."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0
        self.seen_changes: set[str] = set()


async def sweep_commands(harness: BotHarness, user: Any, writes: WriteLog, found: Sweep, *, level: Level,
                         refused_may_write: bool) -> None:
    """Every command, in private and in the team chat where it works: one above the person's level changes
    nothing, nor does one the bot refused (unless `refused_may_write`), and none is met with silence."""
    from bot.commands import COMMANDS

    for info in list(COMMANDS):
        chats: list[int | None] = ([None] if info.private else []) + ([B1_TEAM] if info.group else [])
        for chat in chats:
            writes.take()
            outcome = await command(harness, user, f"/{info.name}", chat)
            changed = writes.take()
            found.checked += 1
            where = "private" if chat is None else "team chat"
            if not outcome.texts:
                found.problems.append(f"/{info.name} ({where}): silence")
            if info.level > level and changed:
                found.problems.append(f"/{info.name} ({where}) needs {info.level.name}: answered "
                                      f"{outcome.texts[-1:]} yet changed {changed}")
            elif outcome.refused and changed and not refused_may_write:
                found.problems.append(f"/{info.name} ({where}) refused ({outcome.texts[-1:]}) yet changed {changed}")
            # Leave any conversation the command started before the next one.
            await harness.feed(harness.up.text(user, "/cancel"))


async def sweep_presses(harness: BotHarness, user: Any, writes: WriteLog, found: Sweep, targets: Targets, *,
                        who: str, refused_may_write: bool, skip: Callable[[type[CallbackData], str], bool] =
                        lambda cls, data: False) -> None:
    """Every forged press of every button (but those `skip` names): each is answered, one `who` must be
    refused changes nothing, nor does one the bot refused (unless `refused_may_write`)."""
    for cls in callback_classes():
        values = harvested_values(cls)
        for data in forged(cls, targets, values):
            if skip(cls, data):
                continue
            chats = [None, B1_TEAM] if cls.__prefix__ in ("is", "jr") else [None]
            for chat in chats:
                writes.take()
                outcome = await press(harness, user, data, chat)
                changed = writes.take()
                found.seen_changes.update(changed)
                found.checked += 1
                label = f"{cls.__name__} {data!r} in {'private' if chat is None else 'team chat'}"
                if not outcome.answered:
                    found.problems.append(f"{label}: callback never answered")
                if must_refuse(cls, data, who) and changed:
                    found.problems.append(f"{label}: forbidden; answered {outcome.texts[-1:]} yet changed {changed}")
                elif outcome.refused and changed and not refused_may_write:
                    found.problems.append(f"{label}: refused ({outcome.texts[-1:]}) yet changed {changed}")


@pytest.mark.parametrize("role", ROLES)
async def test_authz_matrix(role: str, harness: BotHarness, community: Any, riverside: Any, engine: Any,
                            sessions: async_sessionmaker[AsyncSession], clock: Any, no_throttle: None) -> None:
    targets = await make_targets(sessions, clock, community, riverside)
    user, level = await role_user(harness, role, targets, riverside)
    crashes = capture_crashes()
    writes = WriteLog(engine)
    # The person has opened the bot in private, as everyone pressing buttons there has.
    await harness.feed(harness.up.text(user, "/start"))
    found = Sweep()
    await sweep_commands(harness, user, writes, found, level=level, refused_may_write=role == "admin")
    await sweep_presses(harness, user, writes, found, targets, who=role, refused_may_write=role == "admin")
    problems, checked, seen_changes = found.problems, found.checked, found.seen_changes
    errors = refusal_errors(harness)
    writes.close()
    problems += crashes.release()
    assert not problems, f"{len(problems)} of {checked} checks failed:\n" + "\n".join(problems[:40])
    assert not errors, errors[:10]
    assert checked > 40
    if role == "admin":  # the admin may do everything: the detector must have seen real changes
        assert "join_requests" in seen_changes, seen_changes


async def test_registries_are_enumerated() -> None:
    """The matrix sees the issue card's actions and the join decision, from the code itself."""
    classes = {c.__prefix__: c for c in callback_classes()}
    assert {"is", "jr", "join", "set", "menu"} <= set(classes)
    actions = harvested_values(classes["is"])["action"]
    assert {"accept", "resolve", "reject"} <= actions
    assert "lang" in harvested_values(classes["set"])["action"]


async def test_change_detectors_see_committed_writes_only(engine: Any, community: Any,
                                                          sessions: async_sessionmaker[AsyncSession]) -> None:
    before = await snapshot(sessions)
    writes = WriteLog(engine)
    try:
        async with sessions() as s:
            await s.execute(text("UPDATE roles SET source = source"))
            await s.rollback()
        assert writes.take() == []
        async with sessions() as s:
            await s.execute(text("UPDATE buildings SET households = 1"))
            await s.execute(text("UPDATE processed_updates SET at = at"))
            await s.commit()
        assert writes.take() == ["buildings"]
    finally:
        writes.close()
    assert diff(before, await snapshot(sessions)) == ["buildings"]
    assert Path(__file__).name == "test_authz_matrix.py"
    assert Community.__tablename__ in before
