"""Small shared values with an expiry, and leases so one process at a time does a job."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from storage.models import Setting
from storage.store import IntegrityError, Tx


def get(tx: Tx, name: str, *, now: datetime) -> str | None:
    """The value, or None when missing or expired."""
    row = tx.session.get(Setting, name)
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row.value


def expires_at(tx: Tx, name: str) -> datetime | None:
    row = tx.session.get(Setting, name)
    return row.expires_at if row else None


def put(tx: Tx, name: str, value: str, *, expires_at: datetime | None) -> None:
    row = tx.session.get(Setting, name)
    if row is None:
        tx.session.add(Setting(name=name, value=value, expires_at=expires_at))
    else:
        row.value, row.expires_at = value, expires_at
    tx.session.flush()


def take_lease(tx: Tx, name: str, *, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Hold `name` until now+ttl unless someone else holds it; True when we hold it."""
    query = select(Setting).where(Setting.name == name)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    row = tx.session.scalar(query)
    if row is not None and row.value != holder and row.expires_at and row.expires_at > now:
        return False
    if row is None:
        try:
            with tx.session.begin_nested():
                tx.session.add(Setting(name=name, value=holder, expires_at=now + ttl))
        except IntegrityError:
            return False
        return True
    row.value, row.expires_at = holder, now + ttl
    return True


def release_lease(tx: Tx, name: str, *, holder: str) -> None:
    row = tx.session.get(Setting, name)
    if row is not None and row.value == holder:
        row.expires_at = None
        row.value = ""
