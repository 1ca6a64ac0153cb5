"""Residents and the channel identities they write from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import joinedload

from storage.lifecycle import OPEN
from storage.models import (
    Case,
    CaseAttachment,
    CaseEvent,
    Identity,
    InboundMessage,
    OutboxMessage,
    Resident,
    ResidentTag,
)
from storage.outbox import FAILED, SENT
from storage.store import Tx


def find_identity(tx: Tx, *, channel: str, external_id: str) -> Identity | None:
    """The identity with its resident, in one query (every message asks for both)."""
    return tx.session.scalar(
        select(Identity)
        .options(joinedload(Identity.resident))
        .where(Identity.channel == channel, Identity.external_id == external_id)
    )


def ensure_resident(tx: Tx, *, channel: str, external_id: str, now: datetime) -> Resident:
    """The resident behind a channel id, created on first contact."""
    identity = find_identity(tx, channel=channel, external_id=external_id)
    if identity is not None and identity.resident is not None:
        return identity.resident
    resident = Resident(created_at=now)
    tx.session.add(resident)
    tx.session.flush()
    if identity is None:
        tx.session.add(
            Identity(
                channel=channel, external_id=external_id, resident_id=resident.id, created_at=now
            )
        )
    else:
        identity.resident_id = resident.id
    tx.session.flush()
    return resident


def get_resident(tx: Tx, resident_id: int) -> Resident | None:
    return tx.session.get(Resident, resident_id)


def set_address(
    tx: Tx, resident: Resident, *, building: str, unit: str, room: str, grid_id: str | None
) -> None:
    resident.building = building
    resident.unit = unit
    resident.room = room
    resident.grid_id = grid_id
    tx.session.flush()


def set_follow(tx: Tx, *, channel: str, external_id: str, following: bool) -> None:
    """Record a subscribe/unsubscribe of the Official Account itself."""
    identity = find_identity(tx, channel=channel, external_id=external_id)
    if identity is not None:
        identity.subscribed = following


def set_subscription(tx: Tx, resident: Resident, *, kind: str, on: bool) -> None:
    """Opt in or out of a broadcast kind: law | notice."""
    if kind == "law":
        resident.subscribe_law = on
    elif kind == "notice":
        resident.subscribe_notice = on
    else:
        raise ValueError(f"unknown subscription kind {kind!r}")


def channel_ids(tx: Tx, resident_id: int) -> list[Identity]:
    return list(tx.session.scalars(select(Identity).where(Identity.resident_id == resident_id)))


def find_or_add_offline(tx: Tx, *, name: str, phone: str, now: datetime) -> Resident:
    """A resident without a smartphone, filed for by a worker: found again by phone."""
    if phone:
        found = tx.session.scalar(select(Resident).where(Resident.phone == phone).limit(1))
        if found is not None:
            if name and not found.name:
                found.name = name
            return found
    resident = Resident(name=name, phone=phone, created_at=now)
    tx.session.add(resident)
    tx.session.flush()
    return resident


@dataclass(frozen=True)
class Held:
    """What the service holds about a resident, as they may ask to see it."""

    resident: Resident
    tags: list[str]
    messages: int
    cases: int
    open_cases: list[str]  # numbers of cases not yet resolved, closed or withdrawn


def held_about(tx: Tx, resident: Resident) -> Held:
    identities = channel_ids(tx, resident.id)
    tags = list(tx.session.scalars(select(ResidentTag.tag).where(_tag_of(resident))))
    messages = sum(
        int(tx.session.scalar(select(func.count()).where(*_inbound_of(i))) or 0)
        for i in identities
    )
    cases = int(
        tx.session.scalar(select(func.count()).where(Case.resident_id == resident.id)) or 0
    )
    open_values = [s.value for s in OPEN]
    open_cases = list(
        tx.session.scalars(
            select(Case.number)
            .where(Case.resident_id == resident.id, Case.status.in_(open_values))
            .order_by(Case.id)
        )
    )
    return Held(resident, sorted(tags), messages, cases, open_cases)


def erase(tx: Tx, resident: Resident) -> None:
    """A resident's own request (个人信息保护法 第四十七条): their name, phone, address, tags and
    subscriptions, the words of their messages and of the answers sent to them, and their words,
    place and photos in their cases are deleted. What remains is unlinked from any person: that a
    case of a category was opened in a grid and how it was handled (the weekly figures), and
    that a channel id wrote (so a retried message is still not answered twice). Open cases are
    withdrawn or finished first: the caller refuses while there are any."""
    resident.name = resident.phone = resident.building = resident.unit = resident.room = ""
    resident.grid_id = None
    # Off, not "never chose": the default may be to receive broadcasts.
    resident.subscribe_law = resident.subscribe_notice = False
    tx.session.execute(delete(ResidentTag).where(_tag_of(resident)))
    actor = f"resident:{resident.id}"
    for identity in channel_ids(tx, resident.id):
        messages = select(InboundMessage.id).where(*_inbound_of(identity)).scalar_subquery()
        # What was sent about their messages (answers, and workers' notices of their reports):
        # the words go; that something was sent stays. What is still waiting is not sent.
        wordless = {
            "text": "",
            "payload": {},
            "status": case(
                (OutboxMessage.status.in_((SENT, FAILED)), OutboxMessage.status), else_=FAILED
            ),
        }
        tx.session.execute(
            update(OutboxMessage).where(OutboxMessage.inbound_id.in_(messages)).values(wordless)
        )
        tx.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.channel == identity.channel,
                OutboxMessage.recipient_id == identity.external_id,
            )
            .values(wordless)
        )
        tx.session.execute(
            update(InboundMessage)
            .where(*_inbound_of(identity))
            .values(text="", body={}, reply_text="", error="")
        )
    mine = Case.resident_id == resident.id
    case_ids = select(Case.id).where(mine).scalar_subquery()
    # Photos and places the resident sent (a worker's 办结 photo is the handling's record).
    sent_at = select(CaseEvent.at).where(
        CaseEvent.case_id == CaseAttachment.case_id,
        CaseEvent.kind == "attachment",
        CaseEvent.actor == actor,
    )
    tx.session.execute(
        delete(CaseAttachment).where(
            CaseAttachment.case_id.in_(case_ids), CaseAttachment.created_at.in_(sent_at)
        )
    )
    tx.session.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id.in_(case_ids), CaseEvent.actor == actor)
        .values(note="")
    )
    tx.session.execute(
        update(CaseEvent)
        .where(CaseEvent.case_id.in_(case_ids), CaseEvent.kind == "report")
        .values(note="")  # a second report joined to the case: the resident's words
    )
    tx.session.execute(
        update(Case)
        .where(mine)
        .values(text="", address="", building="", latitude=None, longitude=None, resident_id=None)
    )
    tx.session.expire_all()


def _tag_of(resident: Resident) -> Any:
    return ResidentTag.resident_id == resident.id


def _inbound_of(identity: Identity) -> tuple[Any, ...]:
    return (
        InboundMessage.channel == identity.channel,
        InboundMessage.sender_id == identity.external_id,
    )
