"""Admins in chat: /broadcast with a preview and a confirm step."""

from __future__ import annotations

from bot.messages import Button, Outgoing
from handlers import broadcast as rules
from handlers.context import Context, Request
from knowledge.law import load_items

AWAITING_CONFIRM = "awaiting_broadcast_confirm"


def broadcast_command(req: Request, ctx: Context) -> list[Outgoing]:
    """/broadcast KIND AUDIENCE TEXT -> a preview with 确认 / 取消."""
    parts = req.argument.split(maxsplit=2)
    if len(parts) < 3:
        return ctx.reply_key("broadcast.usage")
    kind, audience, text = parts
    schedule = _schedule(kind, audience, text, ctx)
    try:
        schedule = rules.validate(ctx, schedule, load_items())
    except rules.BroadcastError as exc:
        return ctx.reply_key("broadcast.refused", reason=rules.refusal(ctx, exc))
    ctx.set_state(AWAITING_CONFIRM, {"kind": kind, "audience": schedule.audience, "text": text})
    preview = ctx.say(
        "broadcast.preview", audience=schedule.audience, text=rules.render(ctx, schedule)
    )
    return [
        ctx.reply(
            preview,
            (
                Button(ctx.word("buttons", "send"), "bc:ok"),
                Button(ctx.word("buttons", "cancel"), "bc:no"),
            ),
        )
    ]


def _schedule(kind: str, audience: str, text: str, ctx: Context) -> rules.Schedule:
    """A push from chat, now; a law push names its law-education item instead of a text."""
    if kind == "law":
        return rules.Schedule(
            kind=kind, audience=audience, channel="wechat-cs", item_id=text.strip(), run_at=ctx.now
        )
    return rules.Schedule(
        kind=kind, audience=audience, channel="wechat-cs", text=text, run_at=ctx.now
    )


def confirm_broadcast(req: Request, ctx: Context) -> list[Outgoing]:
    """The admin pressed 确认 or 取消 under the preview."""
    assert req.worker is not None
    draft = req.state_data if req.state == AWAITING_CONFIRM else {}
    ctx.drop_state()
    if req.argument != "bc:ok" or not draft:
        return ctx.reply_key("broadcast.cancelled")
    schedule = _schedule(draft["kind"], draft["audience"], draft["text"], ctx)
    try:
        created = rules.create(ctx, schedule, created_by=f"worker:{req.worker.id}")
    except rules.BroadcastError as exc:
        return ctx.reply_key("broadcast.refused", reason=rules.refusal(ctx, exc))
    return ctx.reply_key("broadcast.confirmed", id=created.id)
