"""Long work never stalls other people: an export runs as a background job, one per person, with its
progress edited in place, its file sent through the outbox, size and time caps, and restarts survived."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.worker import JobWorker
from models import BackgroundJob, JobStatus
from tests.conftest import JOBS_FOLDER, BotHarness, unique_id
from tests.e2e.stories import english_with_ann
from tests.e2e.test_ledger import STAFF, document, screen
from tests.e2e.test_triage import file_issue, groups, person, press_private, set_locale


def worker(harness: BotHarness, **settings: Any) -> JobWorker:
    chosen = harness.dp["settings"].model_copy(update=settings)
    return JobWorker(harness.bot, harness.sessions, chosen, clock=harness.clock, progress_interval=0,
                     folder=JOBS_FOLDER)


def slow_downloads(harness: BotHarness, monkeypatch: pytest.MonkeyPatch, seconds: float,
                   size: int = 0) -> None:
    """Every photo takes `seconds` to download from Telegram (a real ledger has thousands)."""
    real = harness.tg.stream_content

    async def stream(url: str, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        await asyncio.sleep(seconds)
        if size:
            yield b"x" * size
            return
        async for chunk in real(url, *args, **kwargs):
            yield chunk

    monkeypatch.setattr(harness.tg, "stream_content", stream)


async def progress_message(harness: BotHarness, chat: int) -> str:
    """The job's progress message as it reads now (the last job's)."""
    async with harness.sessions() as s:
        message_id = (await s.execute(select(BackgroundJob.message_id).order_by(BackgroundJob.id.desc()))).scalar()
    return harness.tg.current(chat, message_id or 0).text or ""


async def ask_export(harness: BotHarness, user: Any, fmt: str = "with photos") -> None:
    await harness.feed(harness.up.text(user, "/export"))
    await press_private(harness, user, "This month")
    await press_private(harness, user, fmt)


async def test_an_export_with_photos_runs_in_the_background(harness: BotHarness, community: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ann = await english_with_ann(harness)
    await file_issue(harness, ann, photos=3)
    await file_issue(harness, ann, category="litter", photos=2)
    staff = await person(harness, STAFF, "Office Wu")
    bob = await person(harness, unique_id(), "Bob", resident_of="b1")
    slow_downloads(harness, monkeypatch, 0.3)

    await ask_export(harness, staff)
    # The handler answered at once: nothing was downloaded while it ran (no getFile before the worker ran;
    # a wall-clock bound here would only measure how busy the machine is).
    assert not harness.tg.calls_of("getFile")
    assert "Preparing the ledger" in screen(harness, staff.id)

    running = asyncio.create_task(worker(harness).run_once())
    for _ in range(100):
        if harness.tg.calls_of("getFile"):
            break
        await asyncio.sleep(0.02)
    assert harness.tg.calls_of("getFile") and not running.done()
    # Somebody else is answered while the photos are being downloaded.
    await harness.feed(harness.up.text(bob, "/help"))
    assert "What I can do for you" in harness.tg.texts(bob.id)[-1]
    assert not running.done()
    await harness.deliver()  # the progress edit made so far
    assert "2 of 2 rows" in screen(harness, staff.id)
    for _ in range(100):  # the first photo is in
        async with harness.sessions() as s:
            said = (await s.execute(select(BackgroundJob.progress))).scalar_one().get("text", "")
        if "photos" in said:
            break
        await asyncio.sleep(0.05)
    assert not running.done()
    await harness.deliver()
    assert "photos 1/5" in screen(harness, staff.id) or "photos 2/5" in screen(harness, staff.id)

    assert await running
    await harness.deliver()
    progress = [c.params.get("text") or "" for c in harness.tg.edits(staff.id)]
    assert any("2 of 2 rows" in t for t in progress) and any("photos" in t for t in progress)
    done = await progress_message(harness, staff.id)
    assert "✅ Ledger of Nanchi Community" in done and "2 issues" in done
    name, data, caption = document(harness, staff.id)
    assert name.endswith(".zip") and "5 photos" in caption
    assert len([n for n in zipfile.ZipFile(io.BytesIO(data)).namelist() if n.endswith(".jpg")]) == 5
    async with harness.sessions() as s:
        job = (await s.execute(select(BackgroundJob))).scalar_one()
    assert job.status == JobStatus.DONE and job.active_for is None and job.result["photos"] == 5
    assert not (JOBS_FOLDER / f"job-{job.id}").exists()  # deleted once sent


async def test_one_job_per_person_at_a_time(harness: BotHarness, community: Any) -> None:
    ann = await english_with_ann(harness)
    await file_issue(harness, ann, photos=1)
    staff = await person(harness, STAFF, "Office Wu")
    await ask_export(harness, staff)
    await ask_export(harness, staff, "CSV")
    assert "still working on your previous request" in screen(harness, staff.id)
    assert await harness.work() == 1
    await harness.deliver()
    assert len(harness.tg.sent(staff.id, "sendDocument")) == 1
    # Once it is done, the next one is welcome.
    await ask_export(harness, staff, "CSV")
    assert await harness.work() == 1
    await harness.deliver()
    name, _data, _caption = document(harness, staff.id)
    assert name.endswith(".csv")


async def test_size_and_time_caps_say_so(harness: BotHarness, community: Any,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ann = await english_with_ann(harness)
    await file_issue(harness, ann, photos=3)
    staff = await person(harness, STAFF, "Office Wu")

    slow_downloads(harness, monkeypatch, 0, size=600_000)
    await ask_export(harness, staff)
    assert await worker(harness, job_max_mb=1).run_once()
    await harness.deliver()
    assert "bigger than 1 MB" in await progress_message(harness, staff.id)
    assert not harness.tg.sent(staff.id, "sendDocument")

    slow_downloads(harness, monkeypatch, 0.5)
    await ask_export(harness, staff)
    assert await worker(harness, job_time_limit=0.3).run_once()
    await harness.deliver()
    assert "took longer than 1 minute," in await progress_message(harness, staff.id)
    assert not harness.tg.sent(staff.id, "sendDocument")
    async with harness.sessions() as s:
        jobs = (await s.execute(select(BackgroundJob).order_by(BackgroundJob.id))).scalars().all()
    assert [j.status for j in jobs] == [JobStatus.FAILED, JobStatus.FAILED]
    assert all(j.active_for is None for j in jobs)  # the person may ask again


async def test_a_job_interrupted_by_a_crash_is_resumed_or_failed_with_a_message(
        harness: BotHarness, community: Any) -> None:
    ann = await english_with_ann(harness)
    await file_issue(harness, ann, photos=1)
    staff = await person(harness, STAFF, "Office Wu")
    await ask_export(harness, staff, "CSV")
    # The process died while running it: the job is "running" under a dead worker's lease.
    async with harness.sessions() as s:
        await s.execute(update(BackgroundJob).values(status=JobStatus.RUNNING, claimed_by="dead", attempts=1,
                                                     lease_until=harness.clock() + timedelta(seconds=30)))
        await s.commit()
    assert await harness.work() == 0  # the lease still holds: the dead worker might be alive after all
    harness.clock.advance(minutes=2)
    assert await harness.work() == 1  # resumed by the next worker
    await harness.deliver()
    assert document(harness, staff.id)[0].endswith(".csv")

    # Interrupted again and again: given up, and the person is told.
    await ask_export(harness, staff, "CSV")
    async with harness.sessions() as s:
        await s.execute(update(BackgroundJob).where(BackgroundJob.status == JobStatus.QUEUED).values(
            status=JobStatus.RUNNING, claimed_by="dead", attempts=2, lease_until=harness.clock()))
        await s.commit()
    harness.clock.advance(minutes=2)
    assert await harness.work() == 1
    await harness.deliver()
    assert "interrupted by a restart" in await progress_message(harness, staff.id)
    assert len(harness.tg.sent(staff.id, "sendDocument")) == 1


async def test_a_resident_may_not_queue_an_export(harness: BotHarness, community: Any) -> None:
    """Forged format button from someone without the right: refused before anything is queued."""
    ann = await english_with_ann(harness)
    await harness.feed(harness.up.callback(ann, "lg:c1:tm:zip", chat=ann.id))
    assert harness.tg.alerts()[-1].params.get("show_alert")
    async with harness.sessions() as s:
        assert (await s.execute(select(BackgroundJob))).first() is None


@pytest.mark.parametrize(("lang", "words"), [
    ("en", {"photos": "with photos", "csv": "CSV", "month": "This month", "busy": "still working",
            "done": "The file follows"}),
    ("zh", {"photos": "表格和照片", "csv": "CSV", "month": "本月", "busy": "还在处理中", "done": "文件随后发送"}),
])
async def test_transcript(harness: BotHarness, community: Any, monkeypatch: pytest.MonkeyPatch, lang: str,
                          words: dict[str, str]) -> None:
    """The export with photos as the office sees it, in both languages (tests/transcripts/background_*.md)."""
    ann = await english_with_ann(harness)
    await file_issue(harness, ann, photos=3)
    staff = await person(harness, STAFF, "Office Wu", "zh-hans" if lang == "zh" else "en")
    bob = await person(harness, unique_id(), "Bob", resident_of="b1")
    slow_downloads(harness, monkeypatch, 0.6)
    harness.record({STAFF: "Wu (office staff)", bob.id: "Bob (resident)"})
    await harness.feed(harness.up.text(staff, "/export"))
    await press_private(harness, staff, words["month"])
    await press_private(harness, staff, words["photos"])
    running = asyncio.create_task(worker(harness).run_once())
    for _ in range(100):  # the rows are written; the first photo is on its way
        async with harness.sessions() as s:
            said = (await s.execute(select(BackgroundJob.progress))).scalar_one()
        if said.get("text"):
            break
        await asyncio.sleep(0.02)
    harness.note("the job worker starts on the export")
    await harness.feed(harness.up.text(staff, "/export"))
    await press_private(harness, staff, words["month"])
    await press_private(harness, staff, words["csv"])
    assert words["busy"] in screen(harness, staff.id)
    await harness.feed(harness.up.text(bob, "/help"))
    for _ in range(100):
        async with harness.sessions() as s:
            said = (await s.execute(select(BackgroundJob.progress).order_by(BackgroundJob.id))).scalars().first()
        if said and "/3" in said.get("text", ""):
            break
        await asyncio.sleep(0.05)
    await harness.deliver()
    harness.note("the photos are being downloaded; the progress message is edited in place")
    assert await running
    await harness.deliver()
    harness.note("the export is done; the file comes through the outbox")
    assert words["done"] in await progress_message(harness, staff.id)
    assert harness.tg.sent(staff.id, "sendDocument")
    harness.save_transcript(f"background_{lang}", "An export with photos runs in the background" if lang == "en"
                            else "含照片的台账导出在后台进行")


async def test_the_patrol_calendar_is_made_in_the_background(harness: BotHarness, community: Any) -> None:
    """📅 Calendar (.ics): the press is answered at once, the file comes through the outbox."""
    await set_locale(harness, "en")
    groups(harness)
    li = await person(harness, 4001, "Li")  # a volunteer of the sample community
    await harness.feed(harness.up.text(li, "/patrols"))
    await harness.feed(harness.up.callback_on(harness.tg.last(li.id), li, "📅 Calendar (.ics)"))
    assert "Making your calendar file" in (harness.tg.alerts()[-1].params.get("text") or "")
    assert not harness.tg.sent(li.id, "sendDocument")
    assert await harness.work() == 1
    await harness.deliver()
    name, data, caption = document(harness, li.id)
    assert name == "patrols.ics" and data.startswith(b"BEGIN:VCALENDAR") and "Your patrol shifts" in caption
