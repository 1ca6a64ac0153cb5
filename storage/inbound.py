"""Inbound messages (recorded before they are answered) and conversation state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from storage.models import ConversationState, InboundMessage
from storage.store import Tx


def find(tx: Tx, *, channel: str, external_id: str) -> InboundMessage | None:
    return tx.session.scalar(
        select(InboundMessage).where(
            InboundMessage.channel == channel, InboundMessage.external_id == external_id
        )
    )


def record(
    tx: Tx,
    *,
    channel: str,
    external_id: str,
    sender_id: str,
    kind: str,
    text: str,
    body: dict[str, Any],
    received_at: datetime,
) -> InboundMessage:
    """Insert the message; IntegrityError when (channel, external_id) was already recorded."""
    message = InboundMessage(
        channel=channel,
        external_id=external_id,
        sender_id=sender_id,
        kind=kind,
        text=text,
        body=body,
        received_at=received_at,
        status="received",
    )
    tx.session.add(message)
    tx.session.flush()
    return message


def lock(tx: Tx, message_id: int) -> InboundMessage | None:
    """Re-read the message inside this unit of work, locked against a concurrent retry."""
    query = select(InboundMessage).where(InboundMessage.id == message_id)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    return tx.session.scalar(query)


def mark_answered(
    tx: Tx, message: InboundMessage, *, intent: str, reply_text: str, now: datetime
) -> None:
    message.status = "answered"
    message.intent = intent
    message.reply_text = reply_text
    message.answered_at = now
    message.error = ""


def mark_failed(tx: Tx, message_id: int, *, error: str, reply_text: str, now: datetime) -> None:
    message = tx.session.get(InboundMessage, message_id)
    if message is not None:
        message.status = "failed"
        message.error = error[:2000]
        message.reply_text = reply_text
        message.answered_at = now


def get_state(tx: Tx, *, channel: str, sender_id: str) -> ConversationState | None:
    return tx.session.get(ConversationState, (channel, sender_id))


def set_state(
    tx: Tx, *, channel: str, sender_id: str, state: str, data: dict[str, Any], now: datetime
) -> None:
    row = get_state(tx, channel=channel, sender_id=sender_id)
    if row is None:
        tx.session.add(
            ConversationState(
                channel=channel, sender_id=sender_id, state=state, data=data, updated_at=now
            )
        )
    else:
        row.state, row.data, row.updated_at = state, dict(data), now


def clear_state(tx: Tx, *, channel: str, sender_id: str) -> None:
    tx.session.execute(
        delete(ConversationState).where(
            ConversationState.channel == channel, ConversationState.sender_id == sender_id
        )
    )


def count(tx: Tx) -> int:
    from sqlalchemy import func

    return int(tx.session.scalar(select(func.count()).select_from(InboundMessage)) or 0)
