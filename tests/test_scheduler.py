"""The durable schedule: APScheduler with a persistent job store, run by the lease holder only.
Misfire policy: an item due during an outage goes out once; a weekly item missed for weeks
goes out once, not once per missed week; a restart never repeats a run."""

from __future__ import annotations

import asyncio
import pickle
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import create_engine, text

from bot.broadcaster import Broadcaster
from bot.pipeline import Deps
from bot.scheduler import Scheduler
from handlers import broadcast as rules
from handlers.context import Context
from storage import broadcasts


def _run_scheduler(deps: Deps, until: Callable[[], bool], seconds: float = 15) -> Scheduler:
    """Start a scheduler (as a service process would), wait for `until`, stop it."""

    async def main() -> Scheduler:
        scheduler = Scheduler(deps, broadcaster=Broadcaster(deps, {}), sync_seconds=1)
        scheduler.start()
        deadline = time.monotonic() + seconds
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # let anything that would fire twice do so
        await scheduler.stop()
        return scheduler

    return asyncio.run(main())


def _create(deps: Deps, **kw: object) -> int:
    fields = {"kind": "notice", "audience": "all", "channel": "telegram", "text": "通知"} | kw
    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=deps.clock())
        return rules.create(ctx, rules.Schedule(**fields), created_by="test").id


def _runs(deps: Deps, broadcast_id: int) -> list:
    with deps.store.unit() as tx:
        return [r.scheduled_for for r in broadcasts.runs(tx, broadcast_id)]


def test_an_item_due_during_an_outage_goes_out_once(deps: Deps, clock) -> None:
    b = _create(deps, run_at=clock.now - timedelta(minutes=30))
    scheduler = _run_scheduler(deps, lambda: bool(_runs(deps, b)))
    assert scheduler.leader
    assert len(_runs(deps, b)) == 1
    _run_scheduler(deps, lambda: False, seconds=2)  # a restart: nothing again
    assert len(_runs(deps, b)) == 1


def test_a_weekly_item_missed_for_weeks_goes_out_once(deps: Deps, clock, db_url: str) -> None:
    b = _create(deps, cron="0 9 * * 1")
    _run_scheduler(deps, lambda: False, seconds=2)  # the job is stored with its next run
    assert _runs(deps, b) == []
    engine = create_engine(db_url)
    missed = clock.now - timedelta(days=15)
    with engine.begin() as conn:  # the service was down for two weeks and more
        ((job_id, blob),) = conn.execute(text("SELECT id, job_state FROM apscheduler_jobs")).all()
        state = pickle.loads(blob)
        state["next_run_time"] = missed.astimezone(deps.config.tz)
        conn.execute(
            text("UPDATE apscheduler_jobs SET next_run_time = :t, job_state = :s WHERE id = :i"),
            {"t": missed.timestamp(), "s": pickle.dumps(state), "i": job_id},
        )
    engine.dispose()
    _run_scheduler(deps, lambda: bool(_runs(deps, b)))
    runs = _runs(deps, b)
    assert len(runs) == 1
    assert runs[0].astimezone(deps.config.tz).weekday() == 0  # the latest Monday 09:00


def test_only_one_process_leads(deps: Deps) -> None:
    first, second = Scheduler(deps), Scheduler(deps)
    assert first.claim() is True
    assert second.claim() is False
    assert first.claim() is True  # renewing


def test_losing_the_lease_stops_delivery_in_this_process(deps: Deps) -> None:
    async def main() -> None:
        scheduler = Scheduler(deps, broadcaster=Broadcaster(deps, {}))
        assert scheduler.claim() is True
        scheduler._start_aps()
        delivery = scheduler._delivery
        assert delivery is not None and not delivery.done()
        assert scheduler.broadcaster is not None and scheduler.broadcaster.active()
        scheduler.leader = False  # the lease went to another process
        assert not scheduler.broadcaster.active()  # stops before its next message
        scheduler._stop_aps()
        await asyncio.sleep(0.05)
        assert delivery.done() and scheduler._delivery is None

    asyncio.run(main())


def test_a_lease_that_cannot_be_renewed_is_not_held(deps: Deps, monkeypatch) -> None:
    async def main() -> Scheduler:
        scheduler = Scheduler(deps, broadcaster=Broadcaster(deps, {}))

        def busy() -> bool:
            raise RuntimeError("database is locked")

        monkeypatch.setattr(scheduler, "claim", busy)
        scheduler.start()
        await asyncio.sleep(0.3)
        lead = scheduler._tasks[0]
        assert not lead.done()  # the lease loop lives on to try again
        await scheduler.stop()
        return scheduler

    scheduler = asyncio.run(main())
    assert scheduler.leader is False and scheduler.aps is None


def test_a_delivery_thread_of_an_earlier_term_stays_stopped(deps: Deps) -> None:
    async def main() -> None:
        scheduler = Scheduler(deps, broadcaster=Broadcaster(deps, {}))
        assert scheduler.claim() is True
        scheduler._start_aps()
        assert scheduler.broadcaster is not None
        first_term = scheduler.broadcaster.active
        scheduler._stop_aps()  # the lease was lost ...
        scheduler._start_aps()  # ... and won back while the old thread was still sending
        assert not first_term()  # the old thread stops at its next message
        assert scheduler.broadcaster.active()
        await scheduler.stop()
        assert not scheduler.broadcaster.active()

    asyncio.run(main())
