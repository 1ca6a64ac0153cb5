"""One message, one unit of work: dedupe, record, identify, understand, route, commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import outbox as delivery
from bot.config import Config
from bot.messages import Channel, Incoming, Kind, Outgoing, Role
from handlers import route
from handlers.cases import parse_rating
from handlers.context import Context, Request
from handlers.faq import FAQ_OFFER, LAST_FAQ, NO_WORDS, YES_WORDS
from handlers.report import AWAITING_ADDRESS, AWAITING_DESCRIPTION, DRAFT_STATES
from handlers.resident import (
    AWAITING_ERASE,
    ERASE_CONFIRM_WORDS,
    ERASE_WORDS,
    MY_DATA_WORDS,
)
from handlers.workflow import AWAITING_RATING
from knowledge.base import KnowledgeBase, Live
from knowledge.classify import Classification
from knowledge.text import is_meaningful, normalize
from knowledge.understand import understand
from storage import inbound, outbox, residents, roster
from storage.store import IntegrityError, Store, Tx

log = logging.getLogger("bot.pipeline")

DETAIL_WORDS = frozenset({"详细", "详情", "具体", "详细说明", "更多", "详细点"})
STALE_IN_FLIGHT = timedelta(seconds=60)
CONSOLE_WORKER = "console-worker-"  # a terminal sender id that names a worker of the roster
KEEP_IN_DRAFT = frozenset({"faq", "progress", "human", "greeting", "thanks", "detail"})


@dataclass
class Deps:
    store: Store
    knowledge: Live
    config: Config
    clock: Callable[[], datetime]


@dataclass
class Handled:
    """What the channel needs: the replies to the sender and their outbox rows."""

    replies: list[Outgoing] = field(default_factory=list)
    reply_ids: list[int] = field(default_factory=list)
    duplicate: bool = False
    in_flight: bool = False  # a retry while the first attempt is still being answered
    delivered: bool = False  # the replies were claimed for the passive reply and marked sent

    @property
    def text(self) -> str:
        return "\n\n".join(o.text for o in self.replies if o.text)


def _body(incoming: Incoming) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in ("media_id", "media_url", "event", "event_key", "payload"):
        value = getattr(incoming, name)
        if value:
            body[name] = value
    if incoming.location is not None:
        loc = incoming.location
        body["location"] = {
            "latitude": loc.latitude,
            "longitude": loc.longitude,
            "label": loc.label,
        }
    return body


def _stored(deps: Deps, message_id: int, channel: Channel, sender: str) -> Handled:
    with deps.store.unit() as tx:
        rows = outbox.replies_for(tx, message_id)
        replies = [Outgoing(channel, sender, row.text, reply=True) for row in rows]
        return Handled(replies, [row.id for row in rows], duplicate=True)


Claim = Callable[[str], bool]


def handle(
    incoming: Incoming, deps: Deps, *, passive: bool = True, claim: Claim | None = None
) -> Handled:
    """Answer one message. Retries of a recorded message get the recorded answer.

    `claim(text)`, asked with the replies' text just before the answer is committed, says
    whether the caller will deliver them itself (the channel's passive reply, still in time):
    then they are recorded as sent in the same transaction as the answer."""
    started = time.perf_counter()
    now = deps.clock()
    message_id = _record(incoming, deps, now)
    if isinstance(message_id, Handled):
        _log(incoming, "-", "-", "duplicate", started)
        return message_id
    try:
        result, role, intent = _process(
            incoming, deps, message_id, now, passive=passive, claim=claim
        )
    except Exception as exc:
        log.exception("failed channel=%s id=%s", incoming.channel, incoming.external_id)
        result = _apologize(incoming, deps, message_id, now, exc, passive=passive)
        _log(incoming, "-", "-", "error", started)
        return result
    _log(incoming, role, intent, "duplicate" if result.duplicate else "ok", started)
    return result


def _record(incoming: Incoming, deps: Deps, now: datetime) -> int | Handled:
    """Record the message before anything else; tell a retry apart from a new message."""
    channel, external_id = incoming.channel.value, incoming.external_id

    def insert(tx: Tx) -> int:
        return inbound.record(
            tx,
            channel=channel,
            external_id=external_id,
            sender_id=incoming.sender_id,
            kind=incoming.kind.value,
            text=incoming.text,
            body=_body(incoming),
            received_at=now,
        ).id

    # Almost every message is new: insert it straight away. The unique (channel, external_id)
    # turns a retry's insert into an IntegrityError, which rolls back this unit (it wrote
    # nothing else), and the loop below tells a retry apart.
    try:
        with deps.store.unit() as tx:
            return insert(tx)
    except IntegrityError:
        log.debug("message %s seen before: a retry", external_id)
    for _ in range(2):
        with deps.store.unit() as tx:
            seen = inbound.find(tx, channel=channel, external_id=external_id)
            if seen is None:
                try:
                    with tx.session.begin_nested():
                        recorded = insert(tx)
                    return recorded
                except IntegrityError:
                    continue  # a concurrent retry recorded it first: look again
            if seen.status == "answered":
                seen_id = seen.id
            elif seen.status == "failed" or now - seen.received_at > STALE_IN_FLIGHT:
                return seen.id  # answer it again: the first attempt failed or died
            else:
                return Handled(duplicate=True, in_flight=True)
        return _stored(deps, seen_id, incoming.channel, incoming.sender_id)
    return Handled(duplicate=True, in_flight=True)


def _identify(ctx: Context, incoming: Incoming) -> tuple[Role, Any, Any]:
    if incoming.channel is Channel.TELEGRAM and incoming.sender_id.lstrip("-").isdigit():
        worker = roster.worker_by_telegram(ctx.tx, int(incoming.sender_id))
        if worker is not None and worker.active:
            return Role(worker.role), None, worker
        return Role.UNKNOWN, None, None
    if incoming.channel is Channel.CONSOLE and incoming.sender_id.startswith(CONSOLE_WORKER):
        # `python -m bot chat --as worker:ID`: the terminal speaks as that worker
        worker = roster.worker(ctx.tx, incoming.sender_id.removeprefix(CONSOLE_WORKER))
        if worker is not None and worker.active:
            return Role(worker.role), None, worker
        return Role.UNKNOWN, None, None
    resident = residents.ensure_resident(
        ctx.tx, channel=incoming.channel.value, external_id=incoming.sender_id, now=ctx.now
    )
    resident.last_inbound_at = ctx.now
    return Role.RESIDENT, resident, None


WORKER_STATES = frozenset({"awaiting_note", "awaiting_resolve", "awaiting_return"})


def decide_staff(incoming: Incoming, state: str) -> tuple[str, str]:
    """(intent, argument) for workers, leaders, admins and not-yet-linked chat users."""
    if incoming.payload.startswith("bc:"):
        return "broadcast_button", incoming.payload
    if incoming.payload:
        return "button", incoming.payload
    text = incoming.text.strip()
    if text.startswith("/"):
        command, _, rest = text[1:].partition(" ")
        return f"cmd:{command.split('@')[0].lower()}", rest.strip()
    if state in WORKER_STATES:
        return "worker_reply", text
    return "cmd:help", ""


def decide(
    incoming: Incoming, kb: KnowledgeBase, config: Config, state: str
) -> tuple[str, str, Classification | None]:
    """(intent, text, classification): payload first, then conversation state, then keywords."""
    if incoming.kind is Kind.EVENT:
        event = incoming.event.lower()
        if event == "subscribe":
            return "welcome", "", None
        if event == "unsubscribe":
            return "unfollow", "", None
        if event == "click" and incoming.event_key.startswith("intent:"):
            return incoming.event_key.split(":", 1)[1], "", None
        return "ignore", "", None
    if incoming.payload.startswith("intent:"):
        return incoming.payload.split(":", 1)[1], incoming.text, None
    if incoming.kind in (Kind.IMAGE, Kind.LOCATION):
        if incoming.kind is Kind.LOCATION and state == AWAITING_ADDRESS:
            return "address_reply", "", None
        return "media", "", None
    if incoming.kind is Kind.LINK:
        return "link", incoming.text, None
    if incoming.kind is Kind.UNSUPPORTED:
        return "unsupported", "", None
    if incoming.kind is Kind.VOICE and not incoming.text.strip():
        return "voice_unrecognized", "", None
    text = normalize(incoming.text)
    if not is_meaningful(text):
        return "empty", text, None
    if len(text) > config.cases.max_text_chars:
        return "too_long", text, None
    bare = text.rstrip("。.!！?？ ")
    if bare in DETAIL_WORDS and state == LAST_FAQ:
        return "detail", text, None
    if state == FAQ_OFFER and bare in YES_WORDS:
        return "faq_offer_taken", text, None
    if state == FAQ_OFFER and bare in NO_WORDS:
        return "faq_offer_declined", text, None
    if bare in MY_DATA_WORDS:
        return "my_data", text, None
    if bare in ERASE_WORDS:
        return "erase_request", text, None
    if bare in ERASE_CONFIRM_WORDS and state == AWAITING_ERASE:
        return "erase_confirm", text, None
    found = understand(kb, text)
    intent = found.intent
    if state == AWAITING_ADDRESS and intent != "cancel":
        keep = intent in KEEP_IN_DRAFT and found.margin >= 0.5
        if intent == "faq":  # "不在哪栋楼" answers the address question; it asks nothing
            keep = keep and kb.faq.best_match(text).faq_id is not None
        intent = intent if keep else "address_reply"
    elif state == AWAITING_DESCRIPTION and intent not in (
        "cancel",
        "progress",
        "human",
        "greeting",
    ):
        intent = "report"
    elif state == AWAITING_RATING and parse_rating(text)[0]:
        intent = "rate"
    return intent, text, found


def _process(
    incoming: Incoming,
    deps: Deps,
    message_id: int,
    now: datetime,
    *,
    passive: bool,
    claim: Claim | None = None,
) -> tuple[Handled, str, str]:
    kb = deps.knowledge.current
    with deps.store.unit() as tx:
        message = inbound.lock(tx, message_id)
        if message is None or message.status == "answered":
            return _stored(deps, message_id, incoming.channel, incoming.sender_id), "-", "-"
        ctx = Context(tx=tx, kb=kb, config=deps.config, now=now)
        role, resident, worker = _identify(ctx, incoming)
        channel, sender = incoming.channel.value, incoming.sender_id
        row = inbound.get_state(tx, channel=channel, sender_id=sender)
        state, state_data = (row.state, dict(row.data)) if row else ("", {})
        state_at = row.updated_at if row else None
        argument = ""
        if role is Role.RESIDENT:
            intent, text, found = decide(incoming, kb, deps.config, state)
        else:
            intent, argument = decide_staff(incoming, state)
            text, found = argument if intent == "worker_reply" else incoming.text, None
        request = Request(
            incoming=incoming,
            role=role,
            text=text,
            intent=intent,
            classification=found,
            resident=resident,
            worker=worker,
            state=state,
            state_data=state_data,
            state_at=state_at,
            argument=argument,
        )
        ctx.request = request
        if intent == "ignore":
            out: list[Outgoing] = []
        elif intent == "too_long":
            out = ctx.reply_key("resident.too_long", limit=deps.config.cases.max_text_chars)
        else:
            out = route(role, intent)(request, ctx)
        _apply_state(ctx, state, channel, sender)
        # Held notices ride on the reply; so do all of a terminal user's (nothing drains them).
        undrained = incoming.channel is Channel.CONSOLE
        statuses = (outbox.HELD, outbox.PENDING) if undrained else (outbox.HELD,)
        held = outbox.take_held(
            tx, channel=channel, recipient_id=sender, now=now, statuses=statuses
        )
        replies = [o for o in out if o.reply]
        if held and replies:
            earlier = "\n\n".join(h.text for h in held)
            replies[0] = Outgoing(
                replies[0].channel,
                sender,
                f"{earlier}\n\n{replies[0].text}",
                replies[0].buttons,
                reply=True,
            )
        handled = Handled(replies)
        handled.delivered = bool(replies) and passive and claim is not None and claim(handled.text)
        status = outbox.PASSIVE if passive else outbox.PENDING
        handled.reply_ids = [
            delivery.queue(
                tx,
                item,
                status=outbox.SENT if handled.delivered else status,
                now=now,
                inbound_id=message_id,
                is_reply=True,
                sent_at=now if handled.delivered else None,
            )
            for item in replies
        ]
        for item in out:
            if not item.reply:
                delivery.queue(tx, item, status=outbox.PENDING, now=now, inbound_id=message_id)
        reply_text = "\n\n".join(r.text for r in replies)
        inbound.mark_answered(tx, message, intent=intent, reply_text=reply_text, now=now)
    return handled, role.value, intent


def _apply_state(ctx: Context, before: str, channel: str, sender: str) -> None:
    """Store what the handler decided; a report being filled in survives a side question."""
    if ctx.clear_state:
        inbound.clear_state(ctx.tx, channel=channel, sender_id=sender)
    elif ctx.new_state is not None:
        state, data = ctx.new_state
        if before in DRAFT_STATES and state not in DRAFT_STATES and not ctx.over_draft:
            return
        inbound.set_state(
            ctx.tx, channel=channel, sender_id=sender, state=state, data=data, now=ctx.now
        )


def _apologize(
    incoming: Incoming,
    deps: Deps,
    message_id: int,
    now: datetime,
    exc: Exception,
    *,
    passive: bool,
) -> Handled:
    """Nothing half-written: the failed unit rolled back; record the failure and apologize."""
    kb = deps.knowledge.current
    community = deps.config.community
    text = kb.replies.get(
        "resident.error",
        office_phone=community.office_phone,
        community_name=community.name,
        office_address=community.office_address,
        office_hours=community.office_hours,
    )
    reply = Outgoing(incoming.channel, incoming.sender_id, text, reply=True)
    try:
        with deps.store.unit() as tx:
            inbound.mark_failed(tx, message_id, error=repr(exc), reply_text=text, now=now)
        return Handled([reply], [])
    except Exception:
        log.exception("could not record the failure of message %s", message_id)
        return Handled([reply], [])


def _log(incoming: Incoming, role: str, intent: str, outcome: str, started: float) -> None:
    ms = (time.perf_counter() - started) * 1000
    log.info(
        "inbound channel=%s id=%s kind=%s role=%s intent=%s outcome=%s ms=%.1f",
        incoming.channel.value,
        incoming.external_id,
        incoming.kind.value,
        role,
        intent,
        outcome,
        ms,
    )
