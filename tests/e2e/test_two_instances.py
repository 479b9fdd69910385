"""Two bot processes in webhook mode on one PostgreSQL database and one Redis, behind "one URL" (the test
posts updates alternately to each worker, as nginx would), sharing one Bot API server:

* 200 people do /start and join Building 1 through both workers; the same update posted to both
  workers (a webhook retry landing elsewhere) is processed once;
* a 1,000-recipient batch is sent by both outbox senders together: every recipient gets it exactly once;
* the scheduler's lease gives one run of the daily job: the office gets its line once;
* a request without the secret token is refused.

Collected only when TEST_POSTGRES_URL and TEST_REDIS_URL are set (the suite header says when they are
not); it makes and drops its own database so it never collides with other test runs.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.db import create_engine, session_factory
from models import Building, Community, JoinRequest, Member, OutboxItem, OutboxStatus
from tests.conftest import ROOT
from tests.e2e.test_faults import (
    _zone_for_morning,
    bot_env,
    cleanup,
    control,
    insert_batch,
    run_cli,
    sent_texts,
    start_bot,
    start_stub,
    wait_until,
)
from tests.telegram import FakeTelegram, Updates

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
SECRET = "two-workers-secret"
OFFICE = -1001000000001
PEOPLE = 200


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
                await s.commit()
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

                up = Updates(FakeTelegram(), first_update_id=1_000)
                users = [up.user(900_000_000 + i, f"P{i}", "en") for i in range(PEOPLE)]
                gate = asyncio.Semaphore(40)

                async def join(i: int) -> None:
                    user = users[i]
                    flow = [up.text(user, "/start"),
                            up.callback(user, f"join:c:{community_id}"),
                            up.callback(user, f"join:a:{b1.area_id}"),
                            up.callback(user, f"join:b:{b1.id}")]
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

            # 1,000 recipients, two senders.
            recipients = range(910_000_000, 910_001_000)
            await insert_batch(db, "two", recipients, "Lift maintenance on Monday")

            def everyone() -> bool:
                return len({m["chat_id"] for m in sent_texts(api) if "Lift maintenance" in (m["text"] or "")}) \
                    >= len(recipients)

            await asyncio.to_thread(wait_until, everyone, 240, "1,000 recipients", tuple(workers))
            got = Counter(m["chat_id"] for m in sent_texts(api) if "Lift maintenance" in (m["text"] or ""))
            assert set(got) == set(recipients) and set(got.values()) == {1}, got.most_common(3)
            async with sessions() as s:
                senders = dict((await s.execute(select(OutboxItem.claimed_by, func.count()).where(
                    OutboxItem.batch == "two").group_by(OutboxItem.claimed_by))).all())
            print(f"\n1,000-recipient batch: sent by {len(senders)} worker(s): {sorted(senders.values())}")

            # Both tick every 2 s; the lease lets one run the daily job: one office line.
            await asyncio.to_thread(wait_until, lambda: any(m["chat_id"] == OFFICE for m in sent_texts(api)), 60,
                                    "the office line", tuple(workers))
            await asyncio.sleep(5)
            assert len([m for m in sent_texts(api) if m["chat_id"] == OFFICE]) == 1
            stats = control(api, "stats")
            print(f"two workers: {stats['sends']} sends, {stats['requests']} Bot API requests")
            for w in workers:
                w.stop()
            await engine.dispose()
            for w in workers:
                out = w.output()
                at = out.find("Traceback")
                assert at < 0, out[max(0, at - 300): at + 4000]
    finally:
        await _admin(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Built only when both services are configured: no skipped test to explain, and the suite header
# (tests/conftest.py) says when PostgreSQL/Redis were not tested.
if POSTGRES_URL and REDIS_URL:

    async def test_two_workers_share_the_work(tmp_path: Path) -> None:
        await two_workers_scenario(tmp_path)
