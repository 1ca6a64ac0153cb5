"""Grid workers and leaders in chat: their cases, the buttons on a case, commands."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta

from bot.messages import Outgoing, Role
from handlers import routing, workflow
from handlers.context import Context, Request
from knowledge.address import parse_address
from storage import cases, residents, roster
from storage.lifecycle import Action, Status, TransitionError, allowed_actions
from storage.models import Case, Worker

BUTTON = re.compile(r"^case:(accept|return|reassign|note|resolve|help|phone):(\d{1,12})$")
ASSIGN_BUTTON = re.compile(r"^case:to:(\d{1,12}):([A-Za-z0-9_-]{1,32})$")
PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
LEADS = (Role.LEADER, Role.ADMIN)
AWAITING = {"note": "awaiting_note", "resolve": "awaiting_resolve", "return": "awaiting_return"}
ACTION_OF = {
    "accept": Action.ACCEPT,
    "return": Action.RETURN,
    "resolve": Action.RESOLVE,
    "reassign": Action.REASSIGN,
}
LINK_TTL = timedelta(hours=24)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def new_link_code(ctx: Context, worker_id: str) -> str:
    """A one-time code (8 digits, valid a day) that links a chat account to this worker."""
    code = f"{secrets.randbelow(10**8):08d}"
    roster.add_link_code(
        ctx.tx, worker_id=worker_id, code_hash=code_hash(code), now=ctx.now, ttl=LINK_TTL
    )
    return code


def link_account(req: Request, ctx: Context) -> list[Outgoing]:
    """/start CODE or /link CODE from a chat account nobody knows yet."""
    code = req.argument.strip()
    sender = req.incoming.sender_id
    worker = None
    if code and sender.lstrip("-").isdigit():
        worker = roster.use_link_code(
            ctx.tx, code_hash=code_hash(code), telegram_id=int(sender), now=ctx.now
        )
    if worker is None:
        return ctx.reply_key("worker.not_linked")
    return ctx.reply_key("worker.linked", name=worker.name, role=ctx.word("roles", worker.role))


def make_link_code(req: Request, ctx: Context) -> list[Outgoing]:
    """/linkcode WORKER (admins)."""
    if not req.argument.strip():
        return ctx.reply_key("worker.linkcode_usage")
    target = roster.find_worker(ctx.tx, req.argument.strip())
    if target is None:
        return ctx.reply_key("worker.no_such_worker", who=req.argument.strip())
    return ctx.reply_key("worker.link_code", name=target.name, code=new_link_code(ctx, target.id))


def help_staff(req: Request, ctx: Context) -> list[Outgoing]:
    key = "worker.help_leader" if req.role in LEADS else "worker.help"
    return ctx.reply_key(key)


def _due(ctx: Context, case: Case) -> str:
    due = case.resolve_due_at if case.status == Status.IN_PROGRESS else case.accept_due_at
    return ctx.local_time(due) if due else "-"


def _line(ctx: Context, case: Case) -> str:
    return ctx.say(
        "worker.case_line",
        number=case.number,
        category_name=ctx.category_name(case.category),
        status_name=ctx.status_name(case.status),
        address=case.address or "-",
        due=_due(ctx, case),
    )


def my_cases(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.worker is not None
    mine = cases.for_assignee(ctx.tx, worker_id=req.worker.id)
    if not mine:
        return ctx.reply_key("worker.no_cases")
    lines = [ctx.say("worker.my_cases_header", n=len(mine)), *(_line(ctx, c) for c in mine)]
    return [ctx.reply("\n".join(lines))]


def _visible(req: Request, ctx: Context, case: Case | None) -> bool:
    """Owners see their cases; leaders the cases of their grids; admins everything."""
    if case is None or req.worker is None:
        return False
    if req.role is Role.ADMIN or case.assignee_id == req.worker.id:
        return True
    return req.role is Role.LEADER and (
        case.grid_id is None or case.grid_id in roster.grids_led_by(ctx.tx, req.worker.id)
    )


def show_case(req: Request, ctx: Context) -> list[Outgoing]:
    if not req.argument.strip():
        return ctx.reply_key("worker.case_usage")
    case = cases.by_number(ctx.tx, req.argument.strip())
    if not _visible(req, ctx, case):
        return ctx.reply_key("worker.case_not_yours", number=req.argument.strip())
    assert case is not None
    assert req.worker is not None
    # The case view shows the resident's words and address: every look is on the record.
    cases.add_event(
        ctx.tx, case, actor=f"worker:{req.worker.id}", kind="pii_view", now=ctx.now, note="case"
    )
    text = (
        routing.notice_for(ctx, case, leader=True)
        + "\n"
        + ctx.say("worker.case_status", status_name=ctx.status_name(case.status))
    )
    buttons = workflow.worked_buttons(ctx, case) if case.status == Status.IN_PROGRESS else ()
    if case.status == Status.ASSIGNED and req.worker and case.assignee_id == req.worker.id:
        buttons = routing.case_buttons(ctx, case)
    if req.role in LEADS and case.status in (Status.ASSIGNED, Status.IN_PROGRESS):
        buttons = (*buttons, routing.reassign_button(ctx, case))  # a leader of its grid
    return [ctx.reply(text, buttons)]


def queue(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.worker is not None
    grids = None if req.role is Role.ADMIN else roster.grids_led_by(ctx.tx, req.worker.id)
    waiting = cases.unassigned(ctx.tx, grid_ids=grids)
    if not waiting:
        return ctx.reply_key("worker.queue_empty")
    return [ctx.reply(_line(ctx, c), workflow.assign_buttons(ctx, c)) for c in waiting[:10]]


def overdue(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.worker is not None
    grids = None if req.role is Role.ADMIN else roster.grids_led_by(ctx.tx, req.worker.id)
    late = cases.overdue(ctx.tx, grid_ids=grids, now=ctx.now)
    if not late:
        return ctx.reply_key("worker.overdue_none")
    lines = [ctx.say("worker.overdue_header", n=len(late)), *(_line(ctx, c) for c in late)]
    return [ctx.reply("\n".join(lines))]


def assign_command(req: Request, ctx: Context) -> list[Outgoing]:
    """/assign NUMBER WORKER (leaders, admins)."""
    parts = req.argument.split()
    if len(parts) != 2:
        return ctx.reply_key("worker.assign_usage")
    case = cases.by_number(ctx.tx, parts[0])
    if not _visible(req, ctx, case):
        return ctx.reply_key("worker.case_not_yours", number=parts[0])
    assert case is not None
    return _assign_to(req, ctx, case, roster.find_worker(ctx.tx, parts[1]), parts[1])


def press_command(req: Request, ctx: Context) -> list[Outgoing]:
    """/press NUMBER [WHAT] (督办, leaders of the case's grid and admins): the owner is told to
    act, with the leader's words; the press is on the case's timeline."""
    assert req.worker is not None
    number, _, note = req.argument.strip().partition(" ")
    if not number:
        return ctx.reply_key("worker.press_usage")
    case = cases.by_number(ctx.tx, number)
    if not _visible(req, ctx, case):
        return ctx.reply_key("worker.case_not_yours", number=number)
    assert case is not None
    if case.status not in (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS):
        return ctx.reply_key(
            "worker.case_moved_on", number=case.number, status_name=ctx.status_name(case.status)
        )
    note = note.strip()
    cases.add_event(
        ctx.tx, case, actor=f"worker:{req.worker.id}", kind="press", now=ctx.now, note=note
    )
    owner = roster.worker(ctx.tx, case.assignee_id) if case.assignee_id else None
    if owner is None:  # nobody holds it: it is the leader's to assign
        return ctx.reply_key("worker.press_unassigned", number=case.number)
    text = ctx.say(
        "worker.pressed",
        number=case.number,
        name=req.worker.name,
        note=note or ctx.say("worker.press_default"),
        due=_due(ctx, case),
    )
    buttons = (
        workflow.worked_buttons(ctx, case)
        if case.status == Status.IN_PROGRESS
        else routing.case_buttons(ctx, case)
    )
    return [
        *ctx.reply_key("worker.press_sent", number=case.number, owner=owner.name),
        *workflow.to_worker(owner, text, buttons),
    ]


def merge_command(req: Request, ctx: Context) -> list[Outgoing]:
    """/merge DUPLICATE CASE (leaders of both grids, admins): a report of the same thing as an
    open case joins it (DOMAIN.md `merged`); its reporter follows that case from then on."""
    assert req.worker is not None
    parts = req.argument.split()
    if len(parts) != 2 or parts[0] == parts[1]:
        return ctx.reply_key("worker.merge_usage")
    duplicate, target = (cases.by_number(ctx.tx, n) for n in parts)
    for number, case in zip(parts, (duplicate, target), strict=True):
        if not _visible(req, ctx, case):
            return ctx.reply_key("worker.case_not_yours", number=number)
    assert duplicate is not None and target is not None
    if Action.MERGE not in allowed_actions(duplicate.status) or target.status not in (
        Status.NEW,
        Status.ASSIGNED,
        Status.IN_PROGRESS,
    ):
        return ctx.reply_key(
            "worker.merge_refused", duplicate=duplicate.number, target=target.number
        )
    actor = f"worker:{req.worker.id}"
    owner = roster.worker(ctx.tx, duplicate.assignee_id) if duplicate.assignee_id else None
    # Reports merged into the duplicate before follow the case it joins now (no chains).
    cases.repoint_merged(ctx.tx, from_case=duplicate, to_case=target)
    duplicate.merged_into_id = target.id
    workflow.move(ctx, duplicate, Action.MERGE, actor=actor, note=target.number)
    target.report_count += duplicate.report_count
    cases.add_event(ctx.tx, target, actor=actor, kind="joined", now=ctx.now, note=duplicate.number)
    told = ctx.say("resident.case_merged_into", number=duplicate.number, target=target.number)
    out = [
        *ctx.reply_key("worker.merged", duplicate=duplicate.number, target=target.number),
        *workflow.to_resident(ctx, duplicate, told, followers=False),
    ]
    if owner is not None and owner.id != req.worker.id:
        text = ctx.say("worker.merged_away", duplicate=duplicate.number, target=target.number)
        out += workflow.to_worker(owner, text)
    return out


def _assign_to(
    req: Request, ctx: Context, case: Case, target: Worker | None, who: str
) -> list[Outgoing]:
    assert req.worker is not None
    if target is None or target.role != "worker":
        return ctx.reply_key("worker.no_such_worker", who=who)
    if case.status not in (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS):
        return ctx.reply_key(
            "worker.case_moved_on", number=case.number, status_name=ctx.status_name(case.status)
        )
    workflow.assign(ctx, case, target, actor=f"worker:{req.worker.id}")
    notice = workflow.to_worker(
        target, routing.notice_for(ctx, case), routing.case_buttons(ctx, case)
    )
    done = ctx.say("worker.assigned", number=case.number, name=target.name)
    return [ctx.reply(done, ()), *notice]


def file_for_resident(req: Request, ctx: Context) -> list[Outgoing]:
    """/report ADDRESS [NAME] [PHONE] WHAT: a case for a resident without a smartphone (代办)."""
    assert req.worker is not None
    words = req.argument.split()
    address = parse_address(words[0], roster.named_buildings(ctx.tx)) if words else None
    if address is None or len(words) < 2:
        return ctx.reply_key("worker.report_usage")
    rest = words[1:]
    phone = next((m.group(1) for w in rest if (m := PHONE.fullmatch(w))), "")
    rest = [w for w in rest if w != phone]
    name = rest.pop(0) if len(rest) > 1 and len(rest[0]) <= 4 else ""
    text = " ".join(rest)
    resident = residents.find_or_add_offline(ctx.tx, name=name, phone=phone, now=ctx.now)
    category = ctx.kb.classifier.classify(text).category or "other"
    grid_id = roster.grid_of_building(ctx.tx, address.building)
    if not resident.building:
        residents.set_address(
            ctx.tx,
            resident,
            building=address.building,
            unit=address.unit,
            room=address.room,
            grid_id=grid_id,
        )
    limits = ctx.config.limits
    case = cases.open_case(
        ctx.tx,
        resident_id=resident.id,
        category=category,
        text=text,
        now=ctx.now,
        year=ctx.year(),
        actor=f"worker:{req.worker.id}",
        building=address.building,
        address=address.display(),
        grid_id=grid_id,
        filed_by=req.worker.id,
        urgent=category in limits.urgent_categories,
        sensitive=routing.is_sensitive(ctx, category, text),
    )
    notices = routing.route_new_case(ctx, case)
    mine = [o for o in notices if o.recipient_id == req.incoming.sender_id]
    others = [o for o in notices if o.recipient_id != req.incoming.sender_id]
    ack = ctx.reply(
        ctx.say("worker.filed", number=case.number, category_name=ctx.category_name(category))
    )
    own = [ctx.reply(o.text, o.buttons) for o in mine]
    return [ack, *own, *others]


def press_button(req: Request, ctx: Context) -> list[Outgoing]:
    """A button on a case notice; stale or foreign presses answer instead of acting."""
    assert req.worker is not None
    payload = req.argument
    to = ASSIGN_BUTTON.match(payload)
    match = BUTTON.match(payload)
    case_id = int(to.group(1)) if to else int(match.group(2)) if match else None
    case = cases.by_id(ctx.tx, case_id) if case_id is not None else None
    if case is None:
        return ctx.reply_key("worker.unknown_button")
    # The case's owner works it; a leader of its grid (or an admin) passes it on (转派).
    passes_on = req.role in LEADS and _visible(req, ctx, case)
    if to:
        if not passes_on:
            return ctx.reply_key("worker.case_not_yours", number=case.number)
        return _assign_to(req, ctx, case, roster.worker(ctx.tx, to.group(2)), to.group(2))
    assert match is not None
    action = match.group(1)
    if action == "reassign" and not passes_on:
        return ctx.reply_key("worker.case_not_yours", number=case.number)
    if case.assignee_id != req.worker.id and action != "reassign":
        return ctx.reply_key("worker.case_not_yours", number=case.number)
    wanted = ACTION_OF.get(action)
    needs = Action.RESOLVE if action in ("note", "help") else wanted
    if needs is not None and needs not in allowed_actions(case.status) and action != "help":
        return ctx.reply_key(
            "worker.case_moved_on", number=case.number, status_name=ctx.status_name(case.status)
        )
    return BUTTONS[action](req, ctx, case)


def _accept(req: Request, ctx: Context, case: Case) -> list[Outgoing]:
    assert req.worker is not None
    told = workflow.accept(ctx, case, req.worker)
    text = routing.notice_for(ctx, case) + "\n" + ctx.say("worker.accepted")
    return [
        Outgoing(
            req.incoming.channel,
            req.incoming.sender_id,
            text,
            workflow.worked_buttons(ctx, case),
            reply=True,
            edit_of=req.incoming.message_ref,
        ),
        *told,
    ]


def _ask(state: str, key: str) -> Callable[[Request, Context, Case], list[Outgoing]]:
    def ask(req: Request, ctx: Context, case: Case) -> list[Outgoing]:
        ctx.set_state(state, {"case_id": case.id})
        return ctx.reply_key(key, number=case.number)

    return ask


def _reassign(req: Request, ctx: Context, case: Case) -> list[Outgoing]:
    return [
        ctx.reply(
            ctx.say("worker.choose_worker", number=case.number), workflow.assign_buttons(ctx, case)
        )
    ]


def _help(req: Request, ctx: Context, case: Case) -> list[Outgoing]:
    assert req.worker is not None
    cases.add_event(ctx.tx, case, actor=f"worker:{req.worker.id}", kind="help", now=ctx.now)
    text = ctx.say("worker.help_requested", number=case.number, name=req.worker.name)
    out = [
        o
        for leader in workflow.leaders_of(ctx, case.grid_id)
        for o in workflow.to_worker(leader, text)
    ]
    return [*ctx.reply_key("worker.help_sent", number=case.number), *out]


def _phone(req: Request, ctx: Context, case: Case) -> list[Outgoing]:
    """The full phone (registered, and any the resident wrote in the case, which notices
    mask), to the case owner only; every view is logged on the case."""
    assert req.worker is not None
    if case.anonymous and req.role is not Role.ADMIN:
        return ctx.reply_key("worker.anonymous_case", number=case.number)
    resident = residents.get_resident(ctx.tx, case.resident_id) if case.resident_id else None
    registered = resident.phone if resident is not None and resident.phone else ""
    written = [p for p in routing.phones_in(case.text) if p != registered]
    if not registered and not written:
        return ctx.reply_key("worker.no_phone", number=case.number)
    cases.add_event(
        ctx.tx, case, actor=f"worker:{req.worker.id}", kind="pii_view", now=ctx.now, note="phone"
    )
    lines = []
    if registered:
        name = resident.name if resident is not None and resident.name else "-"
        lines.append(ctx.say("worker.phone", number=case.number, name=name, phone=registered))
    if written:
        phones = ctx.word("words", "list_separator").join(written)
        lines.append(ctx.say("worker.phone_in_text", number=case.number, phones=phones))
    return [ctx.reply("\n".join(lines))]


BUTTONS = {
    "accept": _accept,
    "return": _ask(AWAITING["return"], "worker.ask_return_reason"),
    "note": _ask(AWAITING["note"], "worker.ask_note"),
    "resolve": _ask(AWAITING["resolve"], "worker.ask_resolve_note"),
    "reassign": _reassign,
    "help": _help,
    "phone": _phone,
}


def continue_reply(req: Request, ctx: Context) -> list[Outgoing]:
    """The text a worker sends after 退回 / 添加进展 / 办结: the reason or the note."""
    assert req.worker is not None
    case = cases.by_id(ctx.tx, int(req.state_data.get("case_id", 0)))
    ctx.drop_state()
    note = req.text.strip() or req.incoming.text.strip()
    if case is None or case.assignee_id != req.worker.id:
        return ctx.reply_key("worker.unknown_button")
    if not note and req.incoming.media_id:
        note = ctx.say("worker.photo_note")
    try:
        if req.state == AWAITING["return"]:
            out = workflow.give_back(ctx, case, req.worker, note)
            return [*ctx.reply_key("worker.returned", number=case.number), *out]
        if req.state == AWAITING["note"]:
            out = workflow.add_note(ctx, case, req.worker, note)
            return [*ctx.reply_key("worker.noted", number=case.number), *out]
        out = workflow.resolve(ctx, case, req.worker, note)
    except TransitionError:
        return ctx.reply_key(
            "worker.case_moved_on", number=case.number, status_name=ctx.status_name(case.status)
        )
    if req.incoming.media_id:
        cases.add_attachment(
            ctx.tx,
            case,
            kind="image",
            media_id=req.incoming.media_id,
            now=ctx.now,
            actor=f"worker:{req.worker.id}",
        )
    return [*ctx.reply_key("worker.resolved", number=case.number), *out]


def unknown_command(req: Request, ctx: Context) -> list[Outgoing]:
    return ctx.reply_key("worker.unknown_command")
