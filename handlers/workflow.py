"""Moving a case on: the transition, its deadlines, and who is told (resident, worker, leader)."""

from __future__ import annotations

from bot.messages import Button, Channel, Outgoing
from handlers import limits
from handlers.context import Context
from storage import cases, inbound, residents, roster
from storage.lifecycle import Action
from storage.models import Case, Worker

AWAITING_RATING = "awaiting_rating"


def to_resident(
    ctx: Context, case: Case, text: str, *, owner: bool = True, followers: bool = True
) -> list[Outgoing]:
    """A notice to the resident on every channel they wrote from (none for anonymous 代办),
    and to the residents whose reports of the same thing were merged into the case."""
    people = [case.resident_id] if case.resident_id is not None and owner else []
    if followers:
        people += cases.followers(ctx.tx, case)
    out = []
    for resident_id in people:
        for identity in residents.channel_ids(ctx.tx, resident_id):
            if identity.channel in (Channel.WECHAT.value, Channel.CONSOLE.value):
                out.append(
                    Outgoing(
                        Channel(identity.channel),
                        identity.external_id,
                        text,
                        template="case_update",
                    )
                )
    return out


def to_worker(
    worker: Worker | None, text: str, buttons: tuple[Button, ...] = ()
) -> list[Outgoing]:
    if worker is None or worker.telegram_id is None:
        return []
    return [Outgoing(Channel.TELEGRAM, str(worker.telegram_id), text, buttons)]


def worked_buttons(ctx: Context, case: Case) -> tuple[Button, ...]:
    """What the owner can do with an accepted case."""
    return (
        Button(ctx.word("buttons", "note"), f"case:note:{case.id}"),
        Button(ctx.word("buttons", "resolve"), f"case:resolve:{case.id}"),
        Button(ctx.word("buttons", "help"), f"case:help:{case.id}"),
        Button(ctx.word("buttons", "phone"), f"case:phone:{case.id}"),
    )


def move(ctx: Context, case: Case, action: Action, *, actor: str, note: str = "") -> None:
    """The transition plus its deadlines: phases restart on (re)assignment and reopening."""
    cases.transition(ctx.tx, case, action, actor=actor, now=ctx.now, note=note)
    if action in (Action.ASSIGN, Action.REASSIGN, Action.RETURN):
        limits.restart(case, "accept")
    if action in (Action.ACCEPT, Action.REOPEN):
        limits.restart(case, "resolve")
    if action is Action.ACCEPT and case.accept_due_at is not None:
        case.accepted_late = ctx.now > case.accept_due_at
    if action is Action.RESOLVE and case.resolve_due_at is not None:
        case.resolved_late = ctx.now > case.resolve_due_at
    limits.schedule(case, ctx.config.limits, ctx.config.tz)


def assign(ctx: Context, case: Case, worker: Worker, *, actor: str) -> None:
    case.assignee_id = worker.id
    action = Action.ASSIGN if case.status == "new" else Action.REASSIGN
    move(ctx, case, action, actor=actor, note=worker.name)


def accept(ctx: Context, case: Case, worker: Worker) -> list[Outgoing]:
    move(ctx, case, Action.ACCEPT, actor=f"worker:{worker.id}")
    text = ctx.say("resident.case_accepted", number=case.number, worker=worker.name)
    return to_resident(ctx, case, text)


def add_note(ctx: Context, case: Case, worker: Worker, note: str) -> list[Outgoing]:
    cases.add_event(ctx.tx, case, actor=f"worker:{worker.id}", kind="note", now=ctx.now, note=note)
    return to_resident(ctx, case, ctx.say("resident.case_progress", number=case.number, note=note))


def resolve(ctx: Context, case: Case, worker: Worker, note: str) -> list[Outgoing]:
    move(ctx, case, Action.RESOLVE, actor=f"worker:{worker.id}", note=note)
    # Its reporter rates it; those whose reports were merged into it are told it is done.
    told = ctx.say("resident.merged_case_resolved", number=case.number, note=note)
    followers = to_resident(ctx, case, told, owner=False)
    out = to_resident(
        ctx, case, ctx.say("resident.rate_ask", number=case.number, note=note), followers=False
    )
    for message in out:
        inbound.set_state(
            ctx.tx,
            channel=message.channel.value,
            sender_id=message.recipient_id,
            state=AWAITING_RATING,
            data={"case_id": case.id},
            now=ctx.now,
        )
    return out + followers


def give_back(ctx: Context, case: Case, worker: Worker, reason: str) -> list[Outgoing]:
    """退回: back to the leaders' queue with the reason."""
    move(ctx, case, Action.RETURN, actor=f"worker:{worker.id}", note=reason)
    text = ctx.say("worker.case_returned", number=case.number, worker=worker.name, reason=reason)
    out: list[Outgoing] = []
    for leader in leaders_of(ctx, case.grid_id):
        out += to_worker(leader, text, assign_buttons(ctx, case))
    return out


def leaders_of(ctx: Context, grid_id: str | None) -> list[Worker]:
    if grid_id:
        found = roster.grid_workers(ctx.tx, grid_id, "lead")
        if found:
            return found
    return roster.workers_with_role(ctx.tx, "leader")


ASSIGN_BUTTONS = 8


def assign_buttons(ctx: Context, case: Case) -> tuple[Button, ...]:
    """One button per candidate worker on duty (the grid's own first, then the others)."""
    candidates = roster.assignable(ctx.tx, case.grid_id, limit=ASSIGN_BUTTONS)
    return tuple(Button(w.name, f"case:to:{case.id}:{w.id}") for w in candidates)
