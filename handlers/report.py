"""Reports become cases: category, words, photos, location, address; never a duplicate."""

from __future__ import annotations

from typing import Any

from bot.messages import Kind, Outgoing
from handlers import routing
from handlers.context import Context, Request
from knowledge.address import Address, parse_address
from storage import cases, roster
from storage import residents as resident_store
from storage.models import Case

AWAITING_ADDRESS = "awaiting_address"
AWAITING_DESCRIPTION = "awaiting_description"
DRAFT_STATES = frozenset({AWAITING_ADDRESS, AWAITING_DESCRIPTION})
MAX_ADDRESS_ASKS = 3


def _summary(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _address_in(ctx: Context, text: str) -> Address | None:
    return parse_address(text, roster.named_buildings(ctx.tx))


def report_issue(req: Request, ctx: Context) -> list[Outgoing]:
    """A problem or complaint: join a recent open case of the same kind, else open one."""
    assert req.resident is not None
    if ctx.kb.classifier.says_nothing_yet(req.text):  # "我要投诉": what, and where?
        waiting = req.state_data if req.state == AWAITING_DESCRIPTION else {"attachments": []}
        ctx.set_state(AWAITING_DESCRIPTION, dict(waiting), over_draft=True)
        return ctx.reply_key("resident.ask_description")
    category = (req.classification.category if req.classification else None) or "other"
    recent = cases.recent_open(
        ctx.tx,
        resident_id=req.resident.id,
        since=ctx.ago(ctx.config.cases.merge_window_minutes),
        category=category,
    )
    if recent is not None:
        cases.add_report(ctx.tx, recent, text=req.text, actor=_actor(req), now=ctx.now)
        if req.state in DRAFT_STATES:
            ctx.drop_state()  # the words were the draft's: it is done
        return ctx.reply_key("resident.case_merged", number=recent.number)
    draft: dict[str, Any] = {
        "category": category,
        "text": req.text,
        "attachments": [],
        "anonymous": ctx.kb.asks_anonymity(req.text),
    }
    if req.state == AWAITING_DESCRIPTION:
        draft["attachments"] = list(req.state_data.get("attachments", []))
        draft["location"] = req.state_data.get("location")
    return _file_or_ask(req, ctx, draft)


def _file_or_ask(req: Request, ctx: Context, draft: dict[str, Any]) -> list[Outgoing]:
    assert req.resident is not None
    address = _address_in(ctx, draft["text"])
    # An anonymous report does not take the resident's own address: it would say who wrote.
    if address is None and req.resident.building and not draft.get("anonymous"):
        address = Address(req.resident.building, req.resident.unit, req.resident.room)
    if address is None and not draft.get("location"):
        if draft["category"] in ctx.config.limits.urgent_categories:
            return _open(req, ctx, draft, None)  # urgent: never wait for an address
        ctx.set_state(AWAITING_ADDRESS, {**draft, "asks": 1})
        return ctx.reply_key(
            "resident.ask_address",
            category_name=ctx.category_name(draft["category"]),
            summary=_summary(draft["text"]),
        )
    return _open(req, ctx, draft, address)


def _open(
    req: Request, ctx: Context, draft: dict[str, Any], address: Address | None
) -> list[Outgoing]:
    assert req.resident is not None
    location = draft.get("location") or {}
    grid_id = roster.grid_of_building(ctx.tx, address.building) if address else None
    if grid_id is None and address is None and req.resident.grid_id:
        grid_id = req.resident.grid_id
    where = address.display() if address else location.get("label", "")
    case = cases.open_case(
        ctx.tx,
        resident_id=req.resident.id,
        category=draft["category"],
        text=draft["text"],
        now=ctx.now,
        year=ctx.year(),
        actor=_actor(req),
        building=address.building if address else "",
        address=where,
        grid_id=grid_id,
        urgent=draft["category"] in ctx.config.limits.urgent_categories,
        sensitive=routing.is_sensitive(ctx, draft["category"], draft["text"]),
        anonymous=bool(draft.get("anonymous")),
        latitude=location.get("latitude"),
        longitude=location.get("longitude"),
    )
    for item in draft.get("attachments", []):
        cases.add_attachment(
            ctx.tx,
            case,
            kind=item["kind"],
            media_id=item.get("media_id", ""),
            url=item.get("url", ""),
            now=ctx.now,
            actor=_actor(req),
        )
    ctx.drop_state()
    outgoing = routing.route_new_case(ctx, case)
    return [_acknowledge(ctx, case), *outgoing]


def _acknowledge(ctx: Context, case: Case) -> Outgoing:
    if case.urgent:
        next_step = ctx.say(
            "resident.next_step_urgent", accept_limit=routing.accept_limit_text(ctx, case)
        )
    elif case.grid_id:
        grid = roster.grid(ctx.tx, case.grid_id)
        next_step = ctx.say(
            "resident.next_step_grid",
            grid_name=grid.name if grid else case.grid_id,
            accept_limit=routing.accept_limit_text(ctx, case),
        )
    else:
        next_step = ctx.say("resident.next_step_leader")
    text = ctx.say(
        "resident.case_opened",
        number=case.number,
        category_name=ctx.category_name(case.category),
        address=case.address or ctx.word("words", "no_address"),
        next_step=next_step,
    )
    if case.anonymous:
        text += "\n" + ctx.say("resident.anonymous_note")
    return ctx.reply(text)


def continue_address(req: Request, ctx: Context) -> list[Outgoing]:
    """The resident answers our question about where the problem is."""
    assert req.resident is not None
    draft = dict(req.state_data)
    if req.incoming.kind is Kind.LOCATION and req.incoming.location is not None:
        loc = req.incoming.location
        draft["location"] = {
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "label": loc.label,
        }
        return _open(req, ctx, draft, None)
    address = _address_in(ctx, req.text)
    if address is not None:
        if not req.resident.building:
            grid_id = roster.grid_of_building(ctx.tx, address.building)
            resident_store.set_address(
                ctx.tx,
                req.resident,
                building=address.building,
                unit=address.unit,
                room=address.room,
                grid_id=grid_id,
            )
        return _open(req, ctx, draft, address)
    asks = int(draft.get("asks", 1))
    if asks >= MAX_ADDRESS_ASKS:  # do not lose the report: file it for the leader to place
        draft["text"] = ctx.say("words.added_words", text=draft["text"], added=req.text)
        return _open(req, ctx, draft, None)
    ctx.set_state(AWAITING_ADDRESS, {**draft, "asks": asks + 1})
    return ctx.reply_key("resident.ask_address_again")


def attach_media(req: Request, ctx: Context) -> list[Outgoing]:
    """A photo or a location: it belongs to the report being filed or the one just filed."""
    assert req.resident is not None
    incoming = req.incoming
    item: dict[str, Any]
    if incoming.kind is Kind.LOCATION and incoming.location is not None:
        loc = incoming.location
        item = {
            "kind": "location",
            "url": "",
            "media_id": "",
            "location": {"latitude": loc.latitude, "longitude": loc.longitude, "label": loc.label},
        }
    else:
        item = {
            "kind": incoming.kind.value,
            "media_id": incoming.media_id,
            "url": incoming.media_url,
        }
    if req.state in DRAFT_STATES:
        draft = dict(req.state_data)
        draft["attachments"] = [*draft.get("attachments", []), item]
        if item["kind"] == "location":
            draft["location"] = item["location"]
        ctx.set_state(req.state, draft)
        return ctx.reply_key(
            "resident.ask_address_again"
            if req.state == AWAITING_ADDRESS
            else "resident.photo_ask_description"
        )
    recent = cases.recent_open(
        ctx.tx, resident_id=req.resident.id, since=ctx.ago(ctx.config.cases.attach_window_minutes)
    )
    if recent is not None:
        if item["kind"] == "location":
            loc = item["location"]
            recent.latitude, recent.longitude = loc["latitude"], loc["longitude"]
            recent.address = recent.address or loc["label"]
            cases.add_attachment(
                ctx.tx, recent, kind="location", note=loc["label"], now=ctx.now, actor=_actor(req)
            )
            return ctx.reply_key("resident.location_attached", number=recent.number)
        cases.add_attachment(
            ctx.tx,
            recent,
            kind=item["kind"],
            media_id=item["media_id"],
            url=item["url"],
            now=ctx.now,
            actor=_actor(req),
        )
        owner = roster.worker(ctx.tx, recent.assignee_id) if recent.assignee_id else None
        photo = routing.photos_for(ctx, recent, owner, urls=[item["url"]])
        return [*ctx.reply_key("resident.photo_attached", number=recent.number), *photo]
    draft = {"attachments": [item]}
    if item["kind"] == "location":
        draft["location"] = item["location"]
    ctx.set_state(AWAITING_DESCRIPTION, draft)
    return ctx.reply_key("resident.photo_ask_description")


def _actor(req: Request) -> str:
    return f"resident:{req.resident.id}" if req.resident else "system"
