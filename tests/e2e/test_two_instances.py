"""Two bot processes in webhook mode on one PostgreSQL database and one Redis, behind "one URL" (the test
posts updates alternately to each worker, as nginx would), sharing one Bot API server:

* 200 people do /start and ask to join Building 1 through both workers; the same update posted to both
  workers (a webhook retry landing elsewhere) is processed once; the captain approves (a few with the
  button in the team chat, the rest through the service);
* the 200 file a report each, step by step, their taps alternating between the workers and some posted to
  both: every report is stored once and every reporter is confirmed once;
* the captain's /announce to Building 1 (1,000 residents and the residents' chat) is sent by both outbox
  senders together: every recipient gets it exactly once;
* the scheduler's lease gives one run of the morning jobs: the office gets the daily digest and the
  failure line once each;
* a request without the secret token is refused.

Collected only when TEST_POSTGRES_URL and TEST_REDIS_URL are set (the suite header says when they are
not); it makes and drops its own database so it never collides with other test runs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.clock import system_clock
from bot.db import create_engine, session_factory
from bot.services.members import MembersService
from bot.services.onboarding import OnboardingService
from bot.services.operations import SUMMARY_KIND
from models import Announcement, Building, Community, JoinRequest, Member, OutboxItem, OutboxStatus
from tests.conftest import ROOT
from tests.e2e.test_faults import (
    B1_TEAM,
    Reporter,
    ReportFlow,
    _zone_for_morning,
    bot_env,
    check_reports,
    cleanup,
    control,
    inline_data,
    make_residents,
    reports_by_person,
    run_cli,
    sent_texts,
    start_bot,
    start_stub,
    wait_until,
)
from tests.telegram import FakeTelegram, Updates

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
SECRET = "two-workers-secret-at-least-32-chars"
OFFICE = -1001000000001
B1_RESIDENTS = -1001000000031
CAPTAIN = 3001
PEOPLE = 200
OTHERS = range(910_000_000, 910_000_800)  # residents of Building 1 since before: 200 + 800 = 1,000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(user=parsed.username, password=parsed.password, host=parsed.host,
                                 port=parsed.port, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _post(http: aiohttp.ClientSession, port: int, update: Any, secret: str = SECRET) -> int:
    body = update if isinstance(update, dict) else update.model_dump(mode="json", by_alias=True, exclude_none=True)
    async with http.post(f"http://127.0.0.1:{port}/webhook", json=body,
                         headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as response:
        return response.status


async def two_workers_scenario(tmp_path: Path) -> None:
    assert POSTGRES_URL and REDIS_URL
    name = f"bot_two_{uuid.uuid4().hex[:10]}"
    await _admin(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    db = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    stub, api = start_stub(tmp_path)
    try:
        with cleanup(stub) as procs:
            # The real lease: a short one lets a busy worker's in-flight rows be taken over (and sent twice).
            base = bot_env(db, api, REDIS_URL=REDIS_URL, WEBHOOK_SECRET=SECRET, WEBHOOK_HOST="127.0.0.1",
                           OUTBOX_LEASE_SECONDS="120")
            structure = (ROOT / "tests" / "data" / "structure.yaml").read_text(encoding="utf-8")
            structure = structure.replace("timezone: Asia/Shanghai", f"timezone: {_zone_for_morning()}")
            (tmp_path / "s.yaml").write_text(structure, encoding="utf-8")
            # The deploy step: migrate (and import) once, before the workers start.
            await asyncio.to_thread(run_cli, base, "import", str(tmp_path / "s.yaml"))
            engine = create_engine(db)
            sessions = session_factory(engine)
            async with sessions() as s:
                community_id = (await s.execute(select(Community.id))).scalar_one()
                b1 = (await s.execute(select(Building).where(Building.key == "b1"))).scalar_one()
                yesterday = datetime.now(UTC) - timedelta(days=1)
                s.add_all([OutboxItem(dedup_key=f"old:{i}", kind="test", chat_id=800 + i, community_id=community_id,
                                      payload={"method": "message", "text": "x"}, status=OutboxStatus.FAILED,
                                      last_error="Bad Request: chat not found", not_before=yesterday,
                                      created_at=yesterday) for i in range(2)])
                # The community has been there since before this morning's digest time (08:00; it is about
                # noon there now): today's daily digest is due when the workers start.
                community = await s.get(Community, community_id)
                assert community is not None
                community.created_at = datetime.now(UTC) - timedelta(hours=6)
                await s.commit()
            up = Updates(FakeTelegram(), first_update_id=1_000)
            await make_residents(db, [up.user(uid, f"N{uid % 1000}", "en") for uid in OTHERS])
            ports = [_free_port(), _free_port()]
            workers = []
            for port in ports:
                env = dict(base, WEBHOOK_URL=f"http://127.0.0.1:{port}/webhook", WEBHOOK_PORT=str(port))
                workers.append(start_bot(tmp_path, env))
            procs.extend(workers)

            async with aiohttp.ClientSession() as http:

                async def healthy() -> bool:
                    for port in ports:
                        try:
                            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                                if r.status != 200:
                                    return False
                        except aiohttp.ClientError:
                            return False
                    return True

                for _ in range(900):
                    if await healthy():
                        break
                    assert all(w.alive() for w in workers), [w.output()[-2000:] for w in workers]
                    await asyncio.sleep(0.2)
                else:
                    raise AssertionError("workers did not become healthy")

                assert await _post(http, ports[0], {"update_id": 1}, secret="wrong") == 401

                users = [up.user(900_000_000 + i, f"P{i}", "en") for i in range(PEOPLE)]
                gate = asyncio.Semaphore(40)

                async def join(i: int) -> None:
                    user = users[i]
                    flow = [up.text(user, "/start"),
                            up.callback(user, f"join:c:{community_id}"),
                            up.callback(user, f"join:a:{b1.area_id}"),
                            up.callback(user, f"join:b:{b1.id}"),
                            # Building 1 has 48 flats: the joining question asks which one (typed here).
                            up.text(user, str(1 + i % 48))]
                    async with gate:
                        for step, update in enumerate(flow):
                            port = ports[(i + step) % 2]
                            assert await _post(http, port, update) == 200
                            if step == 0 and i % 4 == 0:  # a retry of the same update at the other worker
                                assert await _post(http, ports[(i + 1) % 2], update) == 200
                            await asyncio.sleep(0.05)  # a person's next tap comes a moment later

                await asyncio.gather(*(join(i) for i in range(PEOPLE)))

                async def requests() -> int:
                    async with sessions() as s:
                        return int((await s.execute(select(func.count(func.distinct(JoinRequest.member_id))).join(
                            Member, Member.id == JoinRequest.member_id).where(
                            Member.telegram_id >= 900_000_000))).scalar_one())

                for _ in range(600):
                    if await requests() >= PEOPLE:
                        break
                    await asyncio.sleep(0.2)
                async with sessions() as s:
                    rows = (await s.execute(select(Member.telegram_id, func.count()).join(
                        JoinRequest, JoinRequest.member_id == Member.id).where(
                        Member.telegram_id >= 900_000_000).group_by(Member.telegram_id))).all()
                assert len(rows) == PEOPLE and all(n == 1 for _tid, n in rows), rows[:5]
                questions = Counter(m["chat_id"] for m in sent_texts(api)
                                    if m["chat_id"] >= 900_000_000 and "Which community" in (m["text"] or ""))
                assert len(questions) == PEOPLE and set(questions.values()) == {1}, questions.most_common(3)

                # The captain approves: a few with the button in the team chat (through both workers; the
                # requests reach a group at Telegram's 20 a minute), the rest through the service.
                captain = up.user(CAPTAIN, "Cap", "en")

                def join_cards() -> list[dict[str, Any]]:
                    return [m for m in sent_texts(api) if m["chat_id"] == B1_TEAM and any(
                        d.startswith("jr:") and d.endswith(":1") for d in inline_data(m))]

                await asyncio.to_thread(wait_until, lambda: len(join_cards()) >= 4, 60, "join requests", tuple(workers))
                by_button = set()
                for i, card in enumerate(join_cards()[:4]):
                    data = next(d for d in inline_data(card) if d.endswith(":1"))
                    by_button.add(int(data.split(":")[1]))
                    shown = {"message_id": card["message_id"], "date": int(card["time"]), "text": card["text"],
                             "chat": {"id": B1_TEAM, "type": "supergroup", "title": "Building 1 team"}}
                    assert await _post(http, ports[i % 2], up.callback(captain, data, message=shown)) == 200
                    await asyncio.sleep(0.1)
                async with sessions() as s:
                    members = MembersService(s, system_clock)
                    actor = await members.actor((await s.execute(select(Member).where(
                        Member.telegram_id == CAPTAIN))).scalar_one())
                    onboarding = OnboardingService(s, system_clock, members)
                    for request_id in (await s.execute(select(JoinRequest.id).where(
                            JoinRequest.id.not_in(by_button)).order_by(JoinRequest.id))).scalars():
                        await onboarding.decide(actor, request_id, True)
                    await s.commit()

                async def approved() -> bool:
                    async with sessions() as s:
                        return not (await s.execute(select(func.count()).select_from(JoinRequest).where(
                            JoinRequest.status != "approved"))).scalar_one()

                for _ in range(100):
                    if await approved():
                        break
                    await asyncio.sleep(0.2)
                assert await approved()

                # 200 reports, each person's taps alternating between the workers; every fifth tap is also
                # posted to the other worker at the same moment (a retry landing elsewhere).
                taps: Counter[int] = Counter()
                doubled = 0

                async def tap(r: Reporter, update: Any) -> None:
                    nonlocal doubled
                    taps[r.index] += 1
                    port = ports[(r.index + taps[r.index]) % 2]
                    if (r.index + taps[r.index]) % 5:
                        assert await _post(http, port, update) == 200
                    else:
                        doubled += 1
                        other = ports[(r.index + taps[r.index] + 1) % 2]
                        assert await asyncio.gather(_post(http, port, update), _post(http, other, update)) == \
                            [200, 200]

                flow = ReportFlow(api, http, Updates(up.tg, first_update_id=100_000), users, tap)
                started = time.monotonic()
                await flow.run(lambda: flow.finished, 150, tuple(workers), stagger=0.05)
                await asyncio.sleep(1)
                await flow.poll()
                check_reports(flow, await reports_by_person(db, [u.id for u in users]))
                assert flow.confirmed == PEOPLE
                print(f"\n200 reports through two workers in {time.monotonic() - started:.0f} s: "
                      f"{len(flow.posted)} updates, {doubled} posted to both")

                # The captain announces to Building 1: 1,000 residents and the residents' chat.
                async def say(update: Any, worker: int, expect: str | None = None) -> dict[str, Any] | None:
                    """Post the captain's update; wait for the answer containing `expect`, or (None) for the
                    question to be edited in place."""
                    since, edits = len(sent_texts(api)), control(api, "stats")["methods"].get("editMessageText", 0)
                    assert await _post(http, ports[worker % 2], update) == 200
                    for _ in range(300):
                        if expect is None:
                            if control(api, "stats")["methods"].get("editMessageText", 0) > edits:
                                return None
                        else:
                            for m in sent_texts(api)[since:]:
                                if m["chat_id"] == CAPTAIN and expect in (m["text"] or ""):
                                    return m
                        await asyncio.sleep(0.1)
                    raise AssertionError(f"no {expect or 'edit'!r} for the captain")

                def press(m: dict[str, Any], data: str) -> Any:
                    shown = {"message_id": m["message_id"], "date": int(m["time"]), "text": m["text"],
                             "chat": {"id": CAPTAIN, "type": "private", "first_name": "Cap"}}
                    return up.callback(captain, data, message=shown)

                await say(up.text(captain, "/announce"), 0, "Send the announcement")
                question = await say(up.text(captain, "Lift maintenance on Monday, 9:00-12:00."), 1, "Is it urgent?")
                assert question is not None
                await say(press(question, "an:urg:0"), 0)
                summary = await say(press(question, "an:when:now"), 1, "exactly how it will look")
                assert summary is not None and "1000 people, 1 residents' chat." in summary["text"], summary
                await say(press(summary, "an:send:"), 0)

            # Both outbox senders deliver it: everyone once.
            recipients = {u.id for u in users} | set(OTHERS) | {B1_RESIDENTS}

            def announced() -> Counter[int]:
                return Counter(m["chat_id"] for m in sent_texts(api)
                               if m["chat_id"] != CAPTAIN and "Lift maintenance" in (m["text"] or ""))

            await asyncio.to_thread(wait_until, lambda: set(announced()) >= recipients, 180, "1,000 recipients",
                                    tuple(workers))
            await asyncio.sleep(2)
            got = announced()
            assert set(got) == recipients and set(got.values()) == {1}, got.most_common(3)
            async with sessions() as s:
                batch = (await s.execute(select(Announcement))).scalar_one().batch
                senders = dict((await s.execute(select(OutboxItem.claimed_by, func.count()).where(
                    OutboxItem.batch == batch).group_by(OutboxItem.claimed_by))).all())
                statuses = Counter(dict((await s.execute(select(OutboxItem.status, func.count()).where(
                    OutboxItem.batch == batch).group_by(OutboxItem.status))).all()))
            assert statuses == Counter({OutboxStatus.SENT: len(recipients)}), statuses
            print(f"announcement to {len(recipients)} recipients: sent by {len(senders)} worker(s): "
                  f"{sorted(senders.values())}")

            # Today's daily digest (and any weekly/monthly one due) reached the office once, like the
            # failure line: both workers tick every 2 s, the lease lets one run the jobs.
            async def office_rows() -> list[Any]:
                async with sessions() as s:
                    return list((await s.execute(select(OutboxItem.kind, OutboxItem.status, OutboxItem.payload).where(
                        OutboxItem.chat_id == OFFICE, OutboxItem.kind.in_(
                            (SUMMARY_KIND, "digest_daily", "digest_weekly", "digest_monthly"))))).all())

            for _ in range(300):
                items = await office_rows()
                if {k for k, _s, _p in items} >= {SUMMARY_KIND, "digest_daily"} and all(
                        status == OutboxStatus.SENT for _k, status, _p in items):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(5)  # more ticks of both workers
            office_items = await office_rows()
            kinds = Counter(kind for kind, _status, _payload in office_items)
            assert kinds[SUMMARY_KIND] == 1 and kinds["digest_daily"] >= 1, kinds
            assert all(status == OutboxStatus.SENT for _kind, status, _payload in office_items), office_items
            expected = Counter(payload.get("text") or payload.get("caption") for _k, _s, payload in office_items)
            office = Counter(m["text"] for m in sent_texts(api) if m["chat_id"] == OFFICE)
            for text, n in expected.items():
                assert office[text] == n, (text, n, office[text], dict(kinds))
            print(f"office: {dict(kinds)} message(s), each sent once")
            stats = control(api, "stats")
            print(f"two workers: {stats['sends']} sends, {stats['requests']} Bot API requests")
            for w in workers:
                w.stop()
            await engine.dispose()
            for w in workers:
                out = w.output()
                at = out.find("Traceback")
                # The log line before it, the project's frames and the error (its SQL can be very long).
                where = [line for line in out[at:].splitlines() if line.startswith(f'  File "{ROOT}')
                         or line.startswith(("sqlalchemy.", "asyncpg.", "DETAIL:"))]
                assert at < 0, out[max(0, at - 300): at] + "\n".join(line[:300] for line in where[:30])
    finally:
        await _admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Built only when both services are configured: no skipped test to explain, and the suite header
# (tests/conftest.py) says when PostgreSQL/Redis were not tested.
if POSTGRES_URL and REDIS_URL:

    async def test_two_workers_share_the_work(tmp_path: Path) -> None:
        await two_workers_scenario(tmp_path)
