"""The background job worker: started with the bot like the outbox sender, it claims queued jobs (table
background_jobs, rules in bot/services/background.py) and runs them off the update path, one at a time
per process, so a ledger export with thousands of photos never holds anybody else's update back.

What the person sees goes through the outbox: the progress message (the one the handler answered with)
is edited in place at most every JOB_PROGRESS_SECONDS, the files arrive as documents, and a failure (an
error, the time cap JOB_TIME_LIMIT, the size cap JOB_MAX_MB) is said in the same message. A job that was
running when the process died is resumed when its lease runs out (exports start over; they are
idempotent), or failed with a message after MAX_ATTEMPTS.

Files of a job are written under JOB_FILES_DIR and deleted once sent; with several workers on several
machines that directory must be shared (the outbox row may be sent by another worker).
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock, system_clock
from bot.config import Settings
from bot.i18n import _, ngettext, use_locale
from bot.services.background import (
    JOB_KINDS,
    LEASE,
    MAX_ATTEMPTS,
    JobFailed,
    JobOutcome,
    JobRun,
    claim,
    finish,
    put_back,
    renew,
)
from bot.services.outbox import Outbox
from models import BackgroundJob, JobStatus

log = logging.getLogger(__name__)


class JobWorker:
    def __init__(self, bot: Any, sessions: async_sessionmaker[AsyncSession], settings: Settings, *,
                 clock: Clock = system_clock, instance: str | None = None, poll_interval: float = 1.0,
                 progress_interval: float | None = None, on_enqueue: Callable[[], None] | None = None,
                 folder: Path | None = None) -> None:
        self.bot = bot
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.instance = instance or uuid.uuid4().hex[:12]
        self.poll_interval = poll_interval
        self.progress_interval = settings.job_progress_seconds if progress_interval is None else progress_interval
        self.on_enqueue = on_enqueue
        self.folder = folder or Path(settings.job_files_dir)
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._current: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ lifecycle

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                ran = await self.run_once()
            except Exception:
                log.exception("background job worker: claiming failed; retrying")
                ran = False
            if not ran:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass

    async def stop(self, grace: float = 5.0) -> None:
        """Let the running job finish within `grace`, else interrupt it: it is queued again and resumed at
        the next start."""
        self._stop.set()
        self._wake.set()
        task = self._current
        if task is not None and not task.done():
            _done, late = await asyncio.wait({task}, timeout=grace)
            for t in late:
                t.cancel()
            if late:
                await asyncio.wait(late)

    async def run_once(self) -> bool:
        """Claim one job and run it to the end. False when there was nothing to do."""
        async with self.sessions() as session:
            job = await claim(session, self.instance, self.clock())
        if job is None:
            return False
        self._current = asyncio.ensure_future(self._run(job))
        try:
            await asyncio.shield(self._current)
        except asyncio.CancelledError:
            if not self._current.done():
                self._current.cancel()
                with suppress(BaseException):
                    await self._current
            raise
        return True

    # ------------------------------------------------------------------ one job

    async def _run(self, job: BackgroundJob) -> None:
        kind = JOB_KINDS.get(job.kind)
        with use_locale(job.locale):
            if job.attempts > MAX_ATTEMPTS:
                log.warning("job %s (%s) was interrupted %d times; given up", job.id, job.kind, job.attempts - 1)
                await self._fail(job, _("Sorry, this was interrupted by a restart and could not be finished. "
                                        "Please ask again."), "interrupted")
                return
            if kind is None:
                await self._fail(job, _("Sorry, something went wrong on my side. Please try again in a moment."),
                                 f"unknown kind {job.kind}")
                return
            folder = self.folder / f"job-{job.id}"
            await asyncio.to_thread(shutil.rmtree, folder, True)  # a resumed job starts over
            # Exports carry residents' names: the job's files are for the bot's user only.
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
            last = [0.0]

            async def report(text: str) -> None:
                now = time.monotonic()
                if now - last[0] < self.progress_interval:
                    return
                last[0] = now
                await self._progress(job, text)

            run = JobRun(job.id, job.kind, job.member_id, job.chat_id, job.locale, dict(job.params), self.sessions,
                         self.clock, folder, self.settings.job_max_mb * 1024 * 1024, report,
                         tools={"download": self._download}, settings=self.settings)
            limit = self.settings.job_time_limit
            # The lease is renewed while the job runs, also when a step is silent for long (one slow photo,
            # a big digest), so that no other worker takes a live job for a dead one.
            heartbeat = asyncio.create_task(self._keep_lease(job))
            try:
                async with asyncio.timeout(limit):
                    outcome = await kind(run)
            except TimeoutError:
                log.warning("job %s (%s) ran over the time cap of %ss", job.id, job.kind, limit)
                minutes = max(1, round(limit / 60))
                await self._fail(job, ngettext(
                    "Sorry, this took longer than {minutes} minute, so I stopped. Please choose a shorter "
                    "period or fewer photos.",
                    "Sorry, this took longer than {minutes} minutes, so I stopped. Please choose a shorter "
                    "period or fewer photos.", minutes).format(minutes=minutes), "time cap", folder)
                return
            except JobFailed as exc:
                await self._fail(job, str(exc), str(exc), folder)
                return
            except asyncio.CancelledError:
                async with self.sessions() as session:
                    await put_back(session, job.id, self.instance)
                    await session.commit()
                raise
            except Exception:
                log.exception("job %s (%s) failed", job.id, job.kind)
                await self._fail(job, _("Sorry, something went wrong on my side. Please try again in a moment."),
                                 "error", folder)
                return
            finally:
                heartbeat.cancel()
            await self._deliver(job, outcome)

    async def _keep_lease(self, job: BackgroundJob) -> None:
        while True:
            await asyncio.sleep(LEASE.total_seconds() / 3)
            try:
                async with self.sessions() as session:
                    await renew(session, job.id, self.instance, self.clock())
                    await session.commit()
            except Exception:  # the database away for a moment: the next beat tries again
                log.warning("could not renew the lease of job %s", job.id, exc_info=True)

    async def _progress(self, job: BackgroundJob, text: str) -> None:
        async with self.sessions() as session:
            await renew(session, job.id, self.instance, self.clock(), {"text": text})
            if job.message_id is not None:
                await Outbox(session, self.clock).enqueue_edit(
                    key=f"job:{job.id}:progress", kind="job_progress", chat_id=job.chat_id,
                    message_id=job.message_id, text=text)
            await session.commit()
        self._woke()

    async def _deliver(self, job: BackgroundJob, outcome: JobOutcome) -> None:
        async with self.sessions() as session:
            outbox = Outbox(session, self.clock)
            if outcome.summary or job.message_id is not None:
                await self._say(outbox, job, outcome.summary or "✅")
            for n, m in enumerate(outcome.messages):
                key = f"job:{job.id}:result:{n}"
                buttons = m.buttons or None
                if m.document is not None:
                    await outbox.enqueue(key=key, kind="job_file", chat_id=job.chat_id, member_id=job.member_id,
                                         document={"path": str(m.document.resolve()), "filename": m.document.name},
                                         text=m.text, buttons=buttons)
                elif m.photo is not None:
                    await outbox.enqueue(key=key, kind="job_result", chat_id=job.chat_id, member_id=job.member_id,
                                         photo={"b64": base64.b64encode(m.photo).decode(), "filename": "chart.png"},
                                         text=m.text, buttons=buttons)
                else:
                    await outbox.enqueue(key=key, kind="job_result", chat_id=job.chat_id, member_id=job.member_id,
                                         text=m.text, buttons=buttons)
            await finish(session, job.id, self.clock(), status=JobStatus.DONE, result=outcome.result)
            await session.commit()
        self._woke()

    async def _fail(self, job: BackgroundJob, text: str, error: str, folder: Path | None = None) -> None:
        if folder is not None:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        async with self.sessions() as session:
            await self._say(Outbox(session, self.clock), job, text)
            await finish(session, job.id, self.clock(), status=JobStatus.FAILED, error=error)
            await session.commit()
        self._woke()

    async def _say(self, outbox: Outbox, job: BackgroundJob, text: str) -> None:
        """The job's last word: in its progress message when there is one, else a message of its own."""
        if job.message_id is not None:
            await outbox.enqueue_edit(key=f"job:{job.id}:progress", kind="job_progress", chat_id=job.chat_id,
                                      message_id=job.message_id, text=text)
        else:
            await outbox.enqueue(key=f"job:{job.id}:end", kind="job_result", chat_id=job.chat_id,
                                 member_id=job.member_id, text=text)

    def _woke(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    async def _download(self, file_id: str) -> bytes:
        buffer = io.BytesIO()
        await self.bot.download(file_id, destination=buffer)
        return buffer.getvalue()
