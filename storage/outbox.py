"""The outbox: every outbound message, its delivery state, and the queue that drains it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from storage.models import OutboxMessage
from storage.store import Tx

PASSIVE = "passive"  # waiting to ride on the HTTP reply to the sender
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
HELD = "held"  # outside the customer-service window: delivered at the recipient's next message
FAILED = "failed"


def enqueue(
    tx: Tx,
    *,
    channel: str,
    recipient_id: str,
    text: str,
    payload: dict[str, Any],
    status: str,
    now: datetime,
    inbound_id: int | None = None,
    is_reply: bool = False,
    sent_at: datetime | None = None,
) -> OutboxMessage:
    row = OutboxMessage(
        channel=channel,
        recipient_id=recipient_id,
        text=text,
        payload=payload,
        status=status,
        due_at=now,
        created_at=now,
        inbound_id=inbound_id,
        is_reply=is_reply,
        sent_at=sent_at,
    )
    tx.session.add(row)
    tx.session.flush()
    return row


def enqueue_many(tx: Tx, rows: list[dict[str, Any]], *, status: str, now: datetime) -> int:
    """Many messages at once (a job's notices): one batched INSERT, no ids handed back.
    Each row has channel, recipient_id, text and payload."""
    if rows:
        tx.session.execute(
            insert(OutboxMessage),
            [
                {
                    "inbound_id": None,
                    "is_reply": False,
                    "attempts": 0,
                    "last_error": "",
                    **row,
                    "status": status,
                    "due_at": now,
                    "created_at": now,
                }
                for row in rows
            ],
        )
    return len(rows)


def replies_for(tx: Tx, inbound_id: int) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(
        OutboxMessage.inbound_id == inbound_id, OutboxMessage.is_reply.is_(True)
    )
    return list(tx.session.scalars(query.order_by(OutboxMessage.id)))


def mark_passive_sent(tx: Tx, ids: list[int], *, now: datetime) -> None:
    tx.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == PASSIVE)
        .values(status=SENT, sent_at=now)
    )


def release_passive(tx: Tx, ids: list[int], *, now: datetime) -> None:
    """The HTTP reply went out without them: deliver through the channel's API instead."""
    tx.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.status == PASSIVE)
        .values(status=PENDING, due_at=now)
    )


def release_stale_passive(tx: Tx, *, older_than: datetime, now: datetime) -> int:
    """Passive replies whose request died with its process: send them through the API."""
    result = tx.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == PASSIVE, OutboxMessage.created_at < older_than)
        .values(status=PENDING, due_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def claim_due(
    tx: Tx, *, now: datetime, limit: int, lease: timedelta, channels: tuple[str, ...]
) -> list[OutboxMessage]:
    """Due messages, marked `sending` with a lease so a crashed sender's rows come back."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status.in_((PENDING, SENDING)),
            OutboxMessage.due_at <= now,
            OutboxMessage.channel.in_(channels),
        )
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    if tx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(tx.session.scalars(query))
    for row in rows:
        row.status = SENDING
        row.attempts += 1
        row.due_at = now + lease
    return rows


def mark_sent(tx: Tx, row_id: int, *, now: datetime) -> None:
    row = tx.session.get(OutboxMessage, row_id)
    if row is not None:
        row.status, row.sent_at, row.last_error = SENT, now, ""


def mark_retry(tx: Tx, row_id: int, *, error: str, now: datetime, max_attempts: int) -> str:
    """Back off exponentially; give up (failed) after max_attempts. Returns the new status."""
    row = tx.session.get(OutboxMessage, row_id)
    if row is None:
        return FAILED
    row.last_error = error[:1000]
    if row.attempts >= max_attempts:
        row.status = FAILED
    else:
        row.status = PENDING
        row.due_at = now + timedelta(seconds=min(2**row.attempts, 600))
    return row.status


def hold(tx: Tx, row_id: int, *, reason: str) -> None:
    row = tx.session.get(OutboxMessage, row_id)
    if row is not None:
        row.status, row.last_error = HELD, reason


def take_held(
    tx: Tx, *, channel: str, recipient_id: str, now: datetime, statuses: tuple[str, ...] = (HELD,)
) -> list[OutboxMessage]:
    """Held notices for a recipient who just wrote: they ride on this reply. Those whose
    `expires_at` (payload) has passed are marked failed instead and not given. A channel
    nothing drains (the terminal) takes its pending ones too (`statuses`)."""
    rows = list(
        tx.session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.recipient_id == recipient_id,
                OutboxMessage.status.in_(statuses),
            )
            .order_by(OutboxMessage.id)
        )
    )
    given = []
    for row in rows:
        expires = row.payload.get("expires_at")
        if expires and datetime.fromisoformat(expires) < now:
            row.status, row.last_error = FAILED, "expired while held"
            continue
        row.status, row.sent_at = SENT, now
        given.append(row)
    return given


def counts(tx: Tx) -> dict[str, int]:
    rows = tx.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {status: int(n) for status, n in rows}
