"""Routing: a new case goes to its grid's on-duty worker, else to the leaders' queue."""

from __future__ import annotations

from bot.messages import Button, Channel, Outgoing
from handlers.context import Context
from storage import cases, roster
from storage.lifecycle import Action
from storage.models import Case, Worker


def accept_limit_text(ctx: Context, case: Case) -> str:
    limits = ctx.config.limits
    if case.category in limits.urgent_categories:
        return ctx.say("words.deadline_minutes", n=limits.urgent_accept_minutes)
    return ctx.say("words.deadline_hours", n=f"{limits.accept_hours:g}")


def on_duty(ctx: Context, grid_id: str) -> Worker | None:
    """The grid's own worker, or its backup when the owner is on leave."""
    for relation in ("own", "backup"):
        for worker in roster.grid_workers(ctx.tx, grid_id, relation):
            if not worker.on_leave:
                return worker
    return None


def leaders(ctx: Context, grid_id: str | None) -> list[Worker]:
    if grid_id:
        found = roster.grid_workers(ctx.tx, grid_id, "lead")
        if found:
            return found
    return roster.workers_with_role(ctx.tx, "leader")


def mask_phone(phone: str) -> str:
    """138****1234: chat notices never carry a full phone number."""
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return "****" if digits else ""


def case_buttons(case: Case) -> tuple[Button, ...]:
    return (
        Button("接单", f"case:accept:{case.id}"),
        Button("退回", f"case:return:{case.id}"),
        Button("转派", f"case:reassign:{case.id}"),
    )


def notice_for(ctx: Context, case: Case, *, leader: bool = False) -> str:
    """The chat notice of a new case: number, category, place, words; personal data masked."""
    key = "worker.new_case_leader" if leader else "worker.new_case"
    text = case.text if not case.sensitive or leader else ctx.say("worker.sensitive_text")
    return ctx.say(
        key,
        number=case.number,
        category_name=ctx.category_name(case.category),
        address=case.address or ctx.word("words", "no_address"),
        text=text,
        urgent=ctx.say("worker.urgent_mark") if case.urgent else "",
        deadline=accept_limit_text(ctx, case),
    )


def _to_telegram(worker: Worker, text: str, buttons: tuple[Button, ...] = ()) -> list[Outgoing]:
    if worker.telegram_id is None:
        return []
    return [Outgoing(Channel.TELEGRAM, str(worker.telegram_id), text, buttons)]


def route_new_case(ctx: Context, case: Case) -> list[Outgoing]:
    """Assign to the on-duty worker of the case's grid; tell the leaders when they must act."""
    out: list[Outgoing] = []
    worker = on_duty(ctx, case.grid_id) if case.grid_id else None
    if worker is not None:
        case.assignee_id = worker.id
        cases.transition(
            ctx.tx, case, Action.ASSIGN, actor="system", now=ctx.now, note=worker.name
        )
        out += _to_telegram(worker, notice_for(ctx, case), case_buttons(case))
    if worker is None or case.category in ctx.config.limits.leader_also:
        for leader in leaders(ctx, case.grid_id):
            out += _to_telegram(leader, notice_for(ctx, case, leader=True))
    return out
