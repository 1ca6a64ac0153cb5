"""Small talk, help, address registration and subscriptions."""

from __future__ import annotations

from bot.messages import Outgoing
from handlers.context import Context, Request
from knowledge.address import parse_address
from storage import residents, roster


def welcome(req: Request, ctx: Context) -> list[Outgoing]:
    residents.set_follow(
        ctx.tx, channel=req.incoming.channel, external_id=req.incoming.sender_id, following=True
    )
    return ctx.reply_key("resident.welcome")


def unfollow(req: Request, ctx: Context) -> list[Outgoing]:
    """WeChat expects no reply to an unsubscribe; we only remember it."""
    residents.set_follow(
        ctx.tx, channel=req.incoming.channel, external_id=req.incoming.sender_id, following=False
    )
    return []


def fixed(key: str):  # type: ignore[no-untyped-def]
    """A handler that answers with one reply sentence."""

    def handler(req: Request, ctx: Context) -> list[Outgoing]:
        return ctx.reply_key(key)

    handler.__name__ = key.rsplit(".", maxsplit=1)[-1]
    return handler


def register_address(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.resident is not None
    address = parse_address(req.text, roster.named_buildings(ctx.tx))
    if address is None:
        return ctx.reply_key("resident.register_how")
    grid_id = roster.grid_of_building(ctx.tx, address.building)
    residents.set_address(
        ctx.tx,
        req.resident,
        building=address.building,
        unit=address.unit,
        room=address.room,
        grid_id=grid_id,
    )
    if grid_id is None:
        return ctx.reply_key("resident.register_unknown_building", address=address.display())
    grid = roster.grid(ctx.tx, grid_id)
    return ctx.reply_key(
        "resident.register_ok", address=address.display(), grid_name=grid.name if grid else grid_id
    )


def _kinds(text: str) -> list[str]:
    if "普法" in text or "法律" in text:
        return ["law"]
    if "通知" in text or "公告" in text:
        return ["notice"]
    return ["law", "notice"]


def _kind_names(ctx: Context, kinds: list[str]) -> str:
    return ctx.word("words", "kind_separator").join(ctx.word("words", f"kind_{k}") for k in kinds)


def subscribe(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.resident is not None
    kinds = _kinds(req.text) if req.text else ["law"]
    for kind in kinds:
        residents.set_subscription(ctx.tx, req.resident, kind=kind, on=True)
    return ctx.reply_key("resident.subscribed", kinds=_kind_names(ctx, kinds))


def unsubscribe(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.resident is not None
    kinds = _kinds(req.text)
    for kind in kinds:
        residents.set_subscription(ctx.tx, req.resident, kind=kind, on=False)
    return ctx.reply_key("resident.unsubscribed", kinds=_kind_names(ctx, kinds))
