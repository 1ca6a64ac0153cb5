"""APScheduler wiring: exactly one process, the holder of a database lease, schedules.

- Sweeps (reminders, escalations, silent closing) keep their state in the database, so they
  run from memory every minute; a missed run is made up by the next one.
- Broadcasts are jobs in a persistent SQLAlchemyJobStore (table apscheduler_jobs) that only the
  leader opens: a job store is never shared by two schedulers. Misfire policy: `coalesce=True`
  (a weekly item missed for days is sent once, not once per missed week) and a grace time of
  12 hours for one-off items and 7 days for recurring ones (an item due during an outage goes
  out once when the service is back; a one-off notice more than 12 hours stale is dropped).
  A firing is idempotent (one run per scheduled time), so a repeated firing resumes the run.
- The broadcasts table is the source of truth: the leader syncs jobs from it every few seconds,
  so `broadcast add` from the command line needs no access to the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot import jobs
from bot.broadcaster import Broadcaster
from bot.pipeline import Deps
from handlers import broadcast as broadcast_rules
from storage import broadcasts, settings

log = logging.getLogger("bot.scheduler")
LEADER = "scheduler_leader"
LEASE = timedelta(seconds=90)
STORE = "broadcasts"
ONE_OFF_GRACE = 12 * 3600
RECURRING_GRACE = 7 * 24 * 3600
_broadcaster: Broadcaster | None = None  # the leader's, for the module-level job function


def fire_broadcast(broadcast_id: int) -> None:
    """The persistent job's function (module level, so the job store can name it)."""
    if _broadcaster is None:
        log.warning("broadcast %s fired without a broadcaster", broadcast_id)
        return
    run_id = _broadcaster.fire(broadcast_id)
    log.info("broadcast %s fired: run %s", broadcast_id, run_id)


class Scheduler:
    def __init__(self, deps: Deps, *, broadcaster: Broadcaster | None = None,
                 sweep_seconds: int = 60, sync_seconds: int = 5,
                 wake: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.deps = deps
        self.broadcaster = broadcaster
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.leader = False
        self.wake = wake or (lambda: None)
        self.sweep_seconds = sweep_seconds
        self.sync_seconds = sync_seconds
        self.aps: AsyncIOScheduler | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._delivery: asyncio.Task[None] | None = None  # the leader's only
        self._term = 0  # one more each time this process starts leading
        self._stop = asyncio.Event()

    # -- leadership ----------------------------------------------------------------------------
    def claim(self) -> bool:
        """Take or renew the leader lease."""
        with self.deps.store.unit() as tx:
            self.leader = settings.take_lease(
                tx, LEADER, holder=self.holder, now=self.deps.clock(), ttl=LEASE
            )
        return self.leader

    async def _lead(self) -> None:
        while not self._stop.is_set():
            try:
                held = await asyncio.to_thread(self.claim)
            except Exception:  # e.g. the database busy: not knowing is not holding
                log.exception("scheduler lease: could not renew it")
                self.leader = held = False
            if held and self.aps is None:
                log.info("this process now runs the scheduler")
                self._start_aps()
            elif not held and self.aps is not None:
                log.warning("scheduler lease lost: stopping the scheduler here")
                self._stop_aps()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=30)

    # -- the APScheduler of the leader ----------------------------------------------------------
    def _start_aps(self) -> None:
        global _broadcaster
        aps = AsyncIOScheduler(
            timezone=self.deps.config.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        aps.add_jobstore(SQLAlchemyJobStore(url=self.deps.store.url), alias=STORE)
        aps.add_job(
            self._as_leader,
            "interval",
            args=[jobs.sweep],
            seconds=self.sweep_seconds,
            id="sweep",
            replace_existing=True,
            next_run_time=self.deps.clock(),
        )
        aps.add_job(
            self._as_leader,
            "cron",
            args=[jobs.weekly_report],
            day_of_week="mon",
            hour=8,
            minute=30,
            id="weekly-report",
            replace_existing=True,
        )
        aps.add_job(
            self._as_leader,
            "cron",
            args=[jobs.quota_warning],
            hour=8,
            minute=0,
            id="quota-warning",
            replace_existing=True,
        )
        if self.broadcaster is not None:
            _broadcaster = self.broadcaster
            # A delivery thread of an earlier term (the lease was lost, then won back while it
            # was still sending) stops at its next message: only this term's may send.
            self._term += 1
            term = self._term
            self.broadcaster.active = lambda: (
                self.leader and self._term == term and not self._stop.is_set()
            )
            self.broadcaster.recover()
            aps.add_job(
                self._sync,
                "interval",
                seconds=self.sync_seconds,
                id="broadcast-sync",
                replace_existing=True,
                next_run_time=self.deps.clock(),
            )
            if self._delivery is None or self._delivery.done():
                self._delivery = asyncio.create_task(self._deliver())
        aps.start()
        self.aps = aps

    def _stop_aps(self) -> None:
        """Lost the lease: no scheduler and no delivery here (the new leader delivers)."""
        if self.aps is not None and self.aps.running:
            self.aps.shutdown(wait=False)
        self.aps = None
        self._term += 1  # a delivery thread still sending stops at its next message
        if self._delivery is not None:
            self._delivery.cancel()
            self._delivery = None

    async def _as_leader(self, job: Callable[[Deps], Any]) -> None:
        try:
            if await asyncio.to_thread(job, self.deps):
                self.wake()
        except Exception:
            log.exception("scheduled job %s failed", getattr(job, "__name__", job))

    async def _sync(self) -> None:
        try:
            await asyncio.to_thread(self.sync)
        except Exception:
            log.exception("broadcast sync failed")

    def sync(self) -> None:
        """Make the persistent jobs match the broadcasts table."""
        aps = self.aps
        if aps is None:
            return
        tz = self.deps.config.tz
        now = self.deps.clock()
        with self.deps.store.unit() as tx:
            wanted = {}
            for b in broadcasts.listing(tx, include_finished=False):
                if b.run_at is not None and (now - b.run_at).total_seconds() > ONE_OFF_GRACE:
                    b.status = "missed"  # too stale to send: say so instead of trying forever
                    log.warning("broadcast %s missed its time %s", b.id, b.run_at)
                    continue
                wanted[f"broadcast:{b.id}"] = b
        present = {job.id for job in aps.get_jobs(jobstore=STORE)}
        for job_id in present - wanted.keys():
            with contextlib.suppress(JobLookupError):
                aps.remove_job(job_id, jobstore=STORE)
        for job_id, b in wanted.items():
            if job_id in present:
                continue
            trigger: Any = (
                DateTrigger(run_date=b.run_at, timezone=tz)
                if b.run_at is not None
                else broadcast_rules.cron_trigger(b.cron, tz)
            )
            grace = ONE_OFF_GRACE if b.run_at is not None else RECURRING_GRACE
            aps.add_job(
                fire_broadcast,
                trigger,
                args=[b.id],
                id=job_id,
                jobstore=STORE,
                misfire_grace_time=grace,
                coalesce=True,
            )

    async def _deliver(self) -> None:
        assert self.broadcaster is not None
        while not self._stop.is_set():
            try:
                sent = await asyncio.to_thread(self.broadcaster.deliver_once)
            except Exception:
                log.exception("broadcast delivery failed")
                sent = 0
            if sent:
                self.wake()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=1.0)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._lead()))

    async def stop(self) -> None:
        self._stop.set()  # the delivery thread stops at its next message: wait for it
        if self._delivery is not None:
            await asyncio.gather(self._delivery, return_exceptions=True)
        self._stop_aps()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.leader:
            with self.deps.store.unit() as tx:
                settings.release_lease(tx, LEADER, holder=self.holder)
