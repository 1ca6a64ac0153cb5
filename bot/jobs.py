"""Scheduled work as plain functions: one unit of work each, notices queued in the outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot import outbox as delivery
from bot.messages import Outgoing
from bot.pipeline import Deps
from handlers import escalation
from handlers.context import Context
from storage import outbox

log = logging.getLogger("bot.jobs")
Job = Callable[[Context], list[Outgoing]]


def run(deps: Deps, job: Job) -> int:
    """Run `job` in one transaction and queue what it says; returns how many notices."""
    now = deps.clock()
    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=now)
        out = job(ctx)
        delivery.queue_many(tx, out, status=outbox.PENDING, now=now)
    return len(out)


def sweep(deps: Deps) -> int:
    """Reminders, escalations and silent closing: safe to run any time, any number of times."""
    count = run(deps, escalation.sweep_alarms) + run(deps, escalation.close_silent)
    if count:
        log.info("sweep queued %d notices", count)
    return count


def weekly_report(deps: Deps) -> int:
    """Last week's figures to every admin in Telegram, once per week whatever the restarts.

    The figures are computed in a read-only transaction, which on SQLite holds no write lock:
    messages arriving meanwhile are recorded at once instead of waiting seconds for a district's
    report. Only the week's marker and the notices are written, in a short unit that checks the
    marker again (two processes may both compute the report; one sends it)."""
    from handlers import rates, workflow
    from storage import roster, settings

    now = deps.clock()
    kb = deps.knowledge.current
    week, _, _ = rates.week_bounds(None, deps.config.tz, now)
    marker = f"weekly_report:{week}"
    with deps.store.reading() as tx:
        if settings.get(tx, marker, now=now) is not None:
            return 0
        ctx = Context(tx=tx, kb=kb, config=deps.config, now=now)
        report = rates.weekly(
            tx, deps.config, week=week, now=now, category_names=category_names(ctx)
        )
        text = rates.summary_text(ctx, report)

    def job(ctx: Context) -> list[Outgoing]:
        if settings.get(ctx.tx, marker, now=ctx.now) is not None:
            return []
        settings.put(ctx.tx, marker, ctx.now.isoformat(), expires_at=None)
        return [
            o
            for admin in roster.workers_with_role(ctx.tx, "admin")
            for o in workflow.to_worker(admin, text)
        ]

    return run(deps, job)


def category_names(ctx: Context) -> dict[str, str]:
    prefix = "category."
    return {k[len(prefix) :]: v for k, v in ctx.kb.replies.texts.items() if k.startswith(prefix)}


def quota_warning(deps: Deps) -> int:
    """Every morning: tell the admins ahead of time when planned mass sends exceed the quota."""
    from handlers import broadcast as rules
    from handlers import workflow
    from storage import roster

    def job(ctx: Context) -> list[Outgoing]:
        problems = rules.quota_problems(ctx, horizon_days=7)
        if not problems:
            return []
        lines = "\n".join(rules.refusal(ctx, problem) for problem in problems)
        text = ctx.say("broadcast.quota_warning", problems=lines)
        return [
            o
            for admin in roster.workers_with_role(ctx.tx, "admin")
            for o in workflow.to_worker(admin, text)
        ]

    return run(deps, job)
