"""Routing: a new case goes to its grid's on-duty worker, else to the leaders' queue."""

from __future__ import annotations

import re

from bot.messages import Button, Channel, Outgoing
from handlers import limits, workflow
from handlers.context import Context
from storage import roster
from storage.models import Case, Worker


def accept_limit_text(ctx: Context, case: Case) -> str:
    limits = ctx.config.limits
    if case.category in limits.urgent_categories:
        return ctx.say("words.deadline_minutes", n=limits.urgent_accept_minutes)
    hours = limits.accept_hours_by_category.get(case.category, limits.accept_hours)
    return ctx.say("words.deadline_hours", n=f"{hours:g}")


def on_duty(ctx: Context, grid_id: str) -> Worker | None:
    """The grid's own worker, or its backup when the owner is on leave."""
    for relation in ("own", "backup"):
        for worker in roster.grid_workers(ctx.tx, grid_id, relation):
            if not worker.on_leave:
                return worker
    return None


def is_sensitive(ctx: Context, category: str, text: str) -> bool:
    """A sensitive case (DOMAIN.md): its category always is, or its words say so."""
    return category in ctx.config.limits.sensitive_categories or ctx.kb.mentions_sensitive(text)


def leaders(ctx: Context, grid_id: str | None) -> list[Worker]:
    return workflow.leaders_of(ctx, grid_id)


# A mobile number, or a landline with its area code, written anywhere in a resident's words.
PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")


def mask_phone(phone: str) -> str:
    """138****1234: chat notices never carry a full phone number."""
    digits = phone.strip()
    if len(digits) >= 7:
        return digits[:3] + "****" + digits[-4:]
    return "****" if digits else ""


def mask_phones(text: str) -> str:
    """A resident's words for a chat notice: the phone numbers in them masked (the case's
    显示电话 button shows them to its owner, and logs that it did)."""
    return PHONE_IN_TEXT.sub(lambda found: mask_phone(found.group()), text)


def phones_in(text: str) -> list[str]:
    return list(dict.fromkeys(PHONE_IN_TEXT.findall(text)))


def case_buttons(ctx: Context, case: Case) -> tuple[Button, ...]:
    """A new case's owner accepts it or returns it (DOMAIN.md); passing it on is the leader's."""
    return (
        Button(ctx.word("buttons", "accept"), f"case:accept:{case.id}"),
        Button(ctx.word("buttons", "return"), f"case:return:{case.id}"),
    )


def reassign_button(ctx: Context, case: Case) -> Button:
    return Button(ctx.word("buttons", "reassign"), f"case:reassign:{case.id}")


def notice_for(ctx: Context, case: Case, *, leader: bool = False) -> str:
    """The chat notice of a new case: number, category, place, words; personal data masked."""
    key = "worker.new_case_leader" if leader else "worker.new_case"
    text = (
        mask_phones(case.text)
        if not case.sensitive or leader
        else ctx.say("worker.sensitive_text")
    )
    return ctx.say(
        key,
        number=case.number,
        category_name=ctx.category_name(case.category),
        address=case.address or ctx.word("words", "no_address"),
        text=text,
        urgent=ctx.say("worker.urgent_mark") if case.urgent else "",
        deadline=accept_limit_text(ctx, case),
    )


def photos_for(
    ctx: Context, case: Case, worker: Worker | None, *, urls: list[str]
) -> list[Outgoing]:
    """The resident's photos, to the worker who holds the case (never to a group)."""
    if worker is None or worker.telegram_id is None:
        return []
    caption = ctx.say("worker.photo_caption", number=case.number)
    return [
        Outgoing(Channel.TELEGRAM, str(worker.telegram_id), caption, image_url=url)
        for url in urls
        if url.startswith(("http://", "https://"))
    ]


def route_new_case(ctx: Context, case: Case) -> list[Outgoing]:
    """Assign to the on-duty worker of the case's grid; tell the leaders when they must act."""
    out: list[Outgoing] = []
    worker = on_duty(ctx, case.grid_id) if case.grid_id else None
    if worker is not None:
        workflow.assign(ctx, case, worker, actor="system")
        out += workflow.to_worker(worker, notice_for(ctx, case), case_buttons(ctx, case))
        out += photos_for(ctx, case, worker, urls=[a.url for a in case.attachments])
    else:
        limits.schedule(case, ctx.config.limits, ctx.config.tz)
    if worker is None or case.sensitive or case.category in ctx.config.limits.leader_also:
        buttons = workflow.assign_buttons(ctx, case) if worker is None else ()
        for leader in leaders(ctx, case.grid_id):
            out += workflow.to_worker(leader, notice_for(ctx, case, leader=True), buttons)
    routing = ctx.config.routing
    if case.category in routing.police_categories and routing.police_chat_id:
        out.append(
            Outgoing(
                Channel.TELEGRAM, str(routing.police_chat_id), notice_for(ctx, case, leader=True)
            )
        )
    if routing.group_chat_id and not case.sensitive:  # sensitive cases never reach a group
        out.append(
            Outgoing(
                Channel.TELEGRAM,
                str(routing.group_chat_id),
                ctx.say(
                    "worker.group_notice",
                    number=case.number,
                    category_name=ctx.category_name(case.category),
                    building=case.building or ctx.word("words", "no_address"),
                ),
            )
        )
    return out
