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


# What the service holds about a resident, and erasing it (DOMAIN.md; 个人信息保护法 第四十五条、
# 第四十七条). Asked for in words the pipeline recognises before the keyword classifier.
MY_DATA_WORDS = frozenset({"我的信息", "我的资料", "我的个人信息", "查看我的信息", "个人信息"})
ERASE_WORDS = frozenset({"删除我的信息", "删除我的资料", "删除个人信息", "删除我的个人信息"})
ERASE_CONFIRM_WORDS = frozenset({"确认删除"})
AWAITING_ERASE = "awaiting_erase"
ERASE_CONFIRM_MINUTES = 10


def my_data(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.resident is not None
    held = residents.held_about(ctx.tx, req.resident)
    person = held.resident
    none = ctx.word("words", "not_given")
    grid = roster.grid(ctx.tx, person.grid_id) if person.grid_id else None
    default = ctx.config.broadcasts.default_opt_in  # what a resident who never chose gets
    subscribed = [
        k
        for k in ("law", "notice")
        if (
            default
            if getattr(person, f"subscribe_{k}") is None
            else getattr(person, f"subscribe_{k}")
        )
    ]
    return ctx.reply_key(
        "resident.my_data",
        name=person.name or none,
        phone=person.phone or none,
        address=person.address or none,
        grid_name=grid.name if grid else none,
        subscriptions=(
            _kind_names(ctx, subscribed) if subscribed else ctx.word("words", "not_subscribed")
        ),
        tags=ctx.word("words", "list_separator").join(held.tags) or ctx.word("words", "none"),
        messages=held.messages,
        cases=held.cases,
        since=ctx.local_time(person.created_at),
    )


def erase_request(req: Request, ctx: Context) -> list[Outgoing]:
    assert req.resident is not None
    held = residents.held_about(ctx.tx, req.resident)
    if held.open_cases:
        numbers = ctx.word("words", "list_separator").join(held.open_cases)
        return ctx.reply_key("resident.erase_open_cases", numbers=numbers)
    # Asking to erase one's data ends a report being filled in.
    ctx.set_state(AWAITING_ERASE, {}, over_draft=True)
    return ctx.reply_key("resident.erase_ask", minutes=ERASE_CONFIRM_MINUTES)


def erase_confirm(req: Request, ctx: Context) -> list[Outgoing]:
    """确认删除, within minutes of the request and with no case open since."""
    assert req.resident is not None
    ctx.drop_state()
    if not req.state_within(ctx.now, ERASE_CONFIRM_MINUTES):
        return ctx.reply_key("resident.erase_expired")
    held = residents.held_about(ctx.tx, req.resident)
    if held.open_cases:
        numbers = ctx.word("words", "list_separator").join(held.open_cases)
        return ctx.reply_key("resident.erase_open_cases", numbers=numbers)
    residents.erase(ctx.tx, req.resident)
    return ctx.reply_key("resident.erased")
