"""The sweeps the scheduler runs: reminders and escalations at time limits, closing in silence."""

from __future__ import annotations

from datetime import timedelta

from bot.messages import Outgoing
from handlers import limits, workflow
from handlers.context import Context
from handlers.limits import Alarm
from storage import cases, roster
from storage.lifecycle import Action
from storage.models import Case, Worker


def _text(ctx: Context, case: Case, alarm: Alarm) -> str:
    accept = alarm in limits.ACCEPT_ALARMS
    due = case.accept_due_at if accept else case.resolve_due_at
    owner = roster.worker(ctx.tx, case.assignee_id) if case.assignee_id else None
    fields = {
        "number": case.number,
        "category_name": ctx.category_name(case.category),
        "phase_name": ctx.say("worker.phase_accept" if accept else "worker.phase_resolve"),
        "due": ctx.local_time(due) if due else "-",
        "owner": owner.name if owner else ctx.say("worker.nobody"),
    }
    if alarm in (Alarm.ACCEPT_REMIND, Alarm.RESOLVE_REMIND):
        return ctx.say("worker.remind", **fields)
    if alarm in (Alarm.ACCEPT_LEADER, Alarm.RESOLVE_LEADER):
        return ctx.say("worker.escalate_leader", **fields)
    return ctx.say("worker.escalate_admin", **fields)


class _Recipients:
    """Who hears of an alarm. Within one run, a grid's leaders are looked up once per grid and
    the admins once: a run of `batch` cases sends at most (alarms fired) x (admins) admin
    notices, and the admins are the committee's staff, a few dozen at most."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.leaders: dict[str | None, list[Worker]] = {}
        self.admins: list[Worker] | None = None

    def __call__(self, case: Case, alarm: Alarm) -> list[Worker]:
        ctx = self.ctx
        if alarm in (Alarm.ACCEPT_REMIND, Alarm.RESOLVE_REMIND):
            owner = roster.worker(ctx.tx, case.assignee_id) if case.assignee_id else None
            return [owner] if owner else []
        if alarm in (Alarm.ACCEPT_LEADER, Alarm.RESOLVE_LEADER):
            if case.grid_id not in self.leaders:
                self.leaders[case.grid_id] = workflow.leaders_of(ctx, case.grid_id)
            return self.leaders[case.grid_id]
        if self.admins is None:
            self.admins = roster.workers_with_role(ctx.tx, "admin")
        return self.admins


def sweep_alarms(ctx: Context, *, batch: int = 200) -> list[Outgoing]:
    """Fire every due alarm once: the bit is set in the same transaction as the notices
    (bot.jobs.run queues them before it commits), so a restart neither repeats nor loses one."""
    out: list[Outgoing] = []
    config = ctx.config
    recipients = _Recipients(ctx)
    due = cases.alarms_due(ctx.tx, now=ctx.now, limit=batch)
    # The loop only reads the roster, never cases or events: no autoflush per lookup. The
    # cases' new alarm state and the events go in together at the next flush (the notices'
    # insert or the commit), batched, in this same transaction.
    with ctx.tx.session.no_autoflush:
        for case in due:
            for alarm in limits.due_alarms(case, config.limits, config.tz, ctx.now):
                case.alarms |= int(alarm)
                text = _text(ctx, case, alarm)
                remind = alarm in (Alarm.ACCEPT_REMIND, Alarm.RESOLVE_REMIND)
                cases.add_event(
                    ctx.tx,
                    case,
                    actor="system",
                    kind="remind" if remind else "escalate",
                    now=ctx.now,
                    note=alarm.name or "",
                )
                for person in recipients(case, alarm):
                    out += workflow.to_worker(person, text)
            limits.schedule(case, config.limits, config.tz)
    return out


def close_silent(ctx: Context, *, batch: int = 200) -> list[Outgoing]:
    """Resolved cases nobody rated within the configured days are closed."""
    days = ctx.config.cases.auto_close_days
    out: list[Outgoing] = []
    for case in cases.resolved_before(ctx.tx, before=ctx.now - timedelta(days=days), limit=batch):
        workflow.move(ctx, case, Action.CLOSE, actor="system", note=f"{days}d")
        out += workflow.to_resident(
            ctx, case, ctx.say("resident.case_closed_silently", number=case.number, days=days)
        )
    return out
