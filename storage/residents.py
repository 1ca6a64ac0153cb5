"""Residents and the channel identities they write from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from storage.models import Identity, Resident
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
