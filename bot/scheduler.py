"""APScheduler wiring: exactly one process (the lease holder) runs the sweeps and reports.

Sweeps keep their state in the database (alarm bits, statuses), so they run in memory and may
run any number of times; a missed run is made up by the next one (coalesce). The leader lease
lives in the database, so several service processes can run and only one schedules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import jobs
from bot.pipeline import Deps
from storage import settings

log = logging.getLogger("bot.scheduler")
LEADER = "scheduler_leader"
LEASE = timedelta(seconds=90)


class Scheduler:
    def __init__(
        self, deps: Deps, *, sweep_seconds: int = 60, wake: Callable[[], None] | None = None
    ) -> None:
        self.deps = deps
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self.leader = False
        self.wake = wake or (lambda: None)
        self.sweep_seconds = sweep_seconds
        self.aps = AsyncIOScheduler(
            timezone=deps.config.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )

    def claim(self) -> bool:
        """Take or renew the leader lease; only the leader runs jobs."""
        with self.deps.store.unit() as tx:
            self.leader = settings.take_lease(
                tx, LEADER, holder=self.holder, now=self.deps.clock(), ttl=LEASE
            )
        return self.leader

    async def _heartbeat(self) -> None:
        was = self.leader
        await asyncio.to_thread(self.claim)
        if self.leader != was:
            log.info("scheduler leader: %s", "this process" if self.leader else "another process")

    async def _as_leader(self, job: Callable[[Deps], Any]) -> None:
        if not self.leader:
            return
        try:
            if await asyncio.to_thread(job, self.deps):
                self.wake()
        except Exception:
            log.exception("scheduled job %s failed", getattr(job, "__name__", job))

    def start(self) -> None:
        self.claim()
        self.aps.add_job(
            self._heartbeat, "interval", seconds=30, id="leader-heartbeat", replace_existing=True
        )
        self.aps.add_job(
            self._as_leader,
            "interval",
            args=[jobs.sweep],
            seconds=self.sweep_seconds,
            id="sweep",
            replace_existing=True,
            next_run_time=self.deps.clock(),
        )
        self.aps.add_job(
            self._as_leader,
            "cron",
            args=[jobs.weekly_report],
            day_of_week="mon",
            hour=8,
            minute=30,
            id="weekly-report",
            replace_existing=True,
        )
        self.aps.start()

    def shutdown(self) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=False)
        if self.leader:
            with self.deps.store.unit() as tx:
                settings.release_lease(tx, LEADER, holder=self.holder)
