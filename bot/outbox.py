"""Delivery: passive replies ride on the HTTP answer; everything else is drained with retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.messages import Button, Channel, Outgoing
from storage import outbox
from storage.models import OutboxMessage
from storage.store import Store, Tx

log = logging.getLogger("bot.outbox")
LEASE = timedelta(seconds=60)
STALE_PASSIVE = timedelta(seconds=30)


class Hold(Exception):
    """The recipient cannot be reached now (e.g. outside WeChat's 48-hour window): keep it."""


class Sender(Protocol):
    def send(self, message: Outgoing) -> None:
        """Deliver or raise: Hold to keep it for later, any other exception to retry."""


def payload_of(item: Outgoing) -> dict[str, Any]:
    """What an outbox row keeps of an Outgoing beyond its text."""
    payload: dict[str, Any] = {}
    if item.buttons:
        payload["buttons"] = [[b.label, b.payload] for b in item.buttons]
    for name in ("image_media_id", "image_url", "edit_of", "template"):
        value = getattr(item, name)
        if value:
            payload[name] = value
    return payload


def queue(
    tx: Tx,
    item: Outgoing,
    *,
    status: str,
    now: datetime,
    inbound_id: int | None = None,
    is_reply: bool = False,
    sent_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> int:
    """One outbound message. A held one with `expires_at` is dropped if its recipient writes
    only after that (an urgent push about tonight is no news next week)."""
    payload = payload_of(item)
    if expires_at is not None:
        payload["expires_at"] = expires_at.isoformat()
    row = outbox.enqueue(
        tx,
        channel=item.channel.value,
        recipient_id=item.recipient_id,
        text=item.text,
        payload=payload,
        status=status,
        now=now,
        inbound_id=inbound_id,
        is_reply=is_reply,
        sent_at=sent_at,
    )
    return row.id


def queue_many(tx: Tx, items: list[Outgoing], *, status: str, now: datetime) -> int:
    """A job's notices in one batched insert (no ids: use `queue` when the id is needed)."""
    rows = [
        {
            "channel": item.channel.value,
            "recipient_id": item.recipient_id,
            "text": item.text,
            "payload": payload_of(item),
        }
        for item in items
    ]
    return outbox.enqueue_many(tx, rows, status=status, now=now)


def passive_delivered(store: Store, ids: list[int], now: datetime) -> None:
    if ids:
        with store.unit() as tx:
            outbox.mark_passive_sent(tx, ids, now=now)


def passive_missed(store: Store, ids: list[int], now: datetime) -> None:
    if ids:
        with store.unit() as tx:
            outbox.release_passive(tx, ids, now=now)


def _outgoing(row: OutboxMessage) -> Outgoing:
    buttons = tuple(Button(label, payload) for label, payload in row.payload.get("buttons", []))
    return Outgoing(
        Channel(row.channel),
        row.recipient_id,
        row.text,
        buttons,
        reply=row.is_reply,
        image_media_id=row.payload.get("image_media_id", ""),
        image_url=row.payload.get("image_url", ""),
        edit_of=row.payload.get("edit_of", ""),
        template=row.payload.get("template", ""),
    )


@dataclass
class Drainer:
    """Claims due rows, sends each through its channel's Sender, records the outcome."""

    store: Store
    senders: Mapping[Channel, Sender]
    clock: Callable[[], datetime]
    batch: int = 50
    max_attempts: int = 8
    _wake: asyncio.Event | None = None

    def wake(self) -> None:
        """Something was just queued: drain now instead of at the next tick (event loop only)."""
        if self._wake is not None:
            self._wake.set()

    def drain_once(self) -> int:
        """Send what is due now; returns how many rows were attempted."""
        now = self.clock()
        channels = tuple(c.value for c in self.senders)
        with self.store.unit() as tx:
            outbox.release_stale_passive(tx, older_than=now - STALE_PASSIVE, now=now)
            rows = outbox.claim_due(tx, now=now, limit=self.batch, lease=LEASE, channels=channels)
            claimed = [(row.id, _outgoing(row)) for row in rows]
        for row_id, message in claimed:
            self._deliver(row_id, message)
        return len(claimed)

    def _deliver(self, row_id: int, message: Outgoing) -> None:
        try:
            self.senders[message.channel].send(message)
        except Hold as exc:
            with self.store.unit() as tx:
                outbox.hold(tx, row_id, reason=str(exc))
            log.info("outbox held id=%s channel=%s", row_id, message.channel.value)
        except Exception as exc:
            with self.store.unit() as tx:
                status = outbox.mark_retry(
                    tx, row_id, error=repr(exc), now=self.clock(), max_attempts=self.max_attempts
                )
            log.warning(
                "outbox send failed id=%s channel=%s status=%s error=%r",
                row_id,
                message.channel.value,
                status,
                exc,
            )
        else:
            with self.store.unit() as tx:
                outbox.mark_sent(tx, row_id, now=self.clock())

    async def run(self, stop: asyncio.Event, interval: float = 0.5) -> None:
        """Drain until stopped; sending happens in a thread (the senders are synchronous)."""
        self._wake = asyncio.Event()
        while not stop.is_set():
            self._wake.clear()
            try:
                count = await asyncio.to_thread(self.drain_once)
            except Exception:
                log.exception("outbox drain failed")
                count = 0
            if count == 0 and not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=interval)
