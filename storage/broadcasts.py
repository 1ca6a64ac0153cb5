"""Broadcasts, their runs, and the per-recipient delivery ledger."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import case as sql_case
from sqlalchemy import func, or_, select, update

from storage.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastRun,
    Identity,
    Resident,
    ResidentTag,
    Worker,
    WorkerGrid,
)
from storage.store import IntegrityError, Tx

KINDS = ("law", "notice", "urgent")
CHANNELS = ("wechat-cs", "wechat-mass", "telegram")


def add(tx: Tx, **fields: object) -> Broadcast:
    broadcast = Broadcast(**fields)
    tx.session.add(broadcast)
    tx.session.flush()
    return broadcast


def get(tx: Tx, broadcast_id: int) -> Broadcast | None:
    return tx.session.get(Broadcast, broadcast_id)


def listing(tx: Tx, *, include_finished: bool = True) -> list[Broadcast]:
    query = select(Broadcast).order_by(Broadcast.id)
    if not include_finished:
        query = query.where(Broadcast.status == "active")
    return list(tx.session.scalars(query))


def runs(tx: Tx, broadcast_id: int) -> list[BroadcastRun]:
    query = select(BroadcastRun).where(BroadcastRun.broadcast_id == broadcast_id)
    return list(tx.session.scalars(query.order_by(BroadcastRun.scheduled_for)))


def start_run(
    tx: Tx,
    broadcast: Broadcast,
    *,
    scheduled_for: datetime,
    not_before: datetime,
    text: str,
    now: datetime,
) -> tuple[BroadcastRun, bool]:
    """The run for this firing; (run, created). A second firing of the same time finds it."""
    query = select(BroadcastRun).where(
        BroadcastRun.broadcast_id == broadcast.id, BroadcastRun.scheduled_for == scheduled_for
    )
    found = tx.session.scalar(query)
    if found is not None:
        return found, False
    run = BroadcastRun(
        broadcast_id=broadcast.id,
        scheduled_for=scheduled_for,
        not_before=not_before,
        text=text,
        channel=broadcast.channel,
        created_at=now,
    )
    try:
        with tx.session.begin_nested():
            tx.session.add(run)
    except IntegrityError:
        return tx.session.scalars(query).one(), False
    return run, True


def add_recipients(
    tx: Tx, run: BroadcastRun, rows: Iterable[tuple[str, str, str, str]], *, now: datetime
) -> int:
    """Write the ledger for a run: (channel, recipient, status, reason) rows; once per run."""
    count = 0
    for channel, recipient, status, reason in rows:
        tx.session.add(
            BroadcastDelivery(
                run_id=run.id,
                channel=channel,
                recipient_id=recipient,
                status=status,
                reason=reason,
                due_at=now,
            )
        )
        count += 1
        if count % 1000 == 0:
            tx.session.flush()
    run.recipients = count
    run.status = "sending"
    tx.session.flush()
    return count


def active_runs(tx: Tx, *, now: datetime) -> list[BroadcastRun]:
    """Runs with something to send, urgent ones first; a cancelled broadcast's runs stop."""
    query = (
        select(BroadcastRun)
        .join(Broadcast, Broadcast.id == BroadcastRun.broadcast_id)
        .where(
            BroadcastRun.status.in_(("pending", "sending")),
            BroadcastRun.not_before <= now,
            Broadcast.status != "cancelled",
        )
        .order_by(sql_case((Broadcast.kind == "urgent", 0), else_=1), BroadcastRun.id)
    )
    return list(tx.session.scalars(query))


def cancelled_runs(tx: Tx) -> list[int]:
    """Unfinished runs of cancelled broadcasts: what they did not send is skipped."""
    query = (
        select(BroadcastRun.id)
        .join(Broadcast, Broadcast.id == BroadcastRun.broadcast_id)
        .where(BroadcastRun.status.in_(("pending", "sending")), Broadcast.status == "cancelled")
    )
    return list(tx.session.scalars(query))


def skip_pending(tx: Tx, run_id: int, *, reason: str) -> None:
    tx.session.execute(
        update(BroadcastDelivery)
        .where(BroadcastDelivery.run_id == run_id, BroadcastDelivery.status == "pending")
        .values(status="skipped", reason=reason)
    )


def run_kind(tx: Tx, run: BroadcastRun) -> str:
    broadcast = tx.session.get(Broadcast, run.broadcast_id)
    return broadcast.kind if broadcast is not None else ""


def withdrawn(
    tx: Tx, *, kind: str, recipients: list[str], default_opt_in: bool, channel: str = "wechat"
) -> set[str]:
    """Of these recipients, those who since the run was opened unfollowed the account or
    opted out of this kind (退订): their pending rows are not sent. Urgent ones reach every
    follower."""
    if not recipients:
        return set()
    query = (
        select(
            Identity.external_id,
            Identity.subscribed,
            Resident.subscribe_law,
            Resident.subscribe_notice,
        )
        .join(Resident, Resident.id == Identity.resident_id, isouter=True)
        .where(Identity.channel == channel, Identity.external_id.in_(recipients))
    )
    found: dict[str, bool] = {}
    for external_id, following, law, notice in tx.session.execute(query):
        choice = {"law": law, "notice": notice}.get(kind)
        consents = True if kind == "urgent" else (default_opt_in if choice is None else choice)
        found[external_id] = bool(following) and bool(consents)
    return {r for r in recipients if not found.get(r, False)}


def claim(tx: Tx, run_id: int, *, now: datetime, limit: int) -> list[BroadcastDelivery]:
    """Due ledger rows, marked `sending` (committed before anything is sent)."""
    query = (
        select(BroadcastDelivery)
        .where(
            BroadcastDelivery.run_id == run_id,
            BroadcastDelivery.status == "pending",
            BroadcastDelivery.due_at <= now,
        )
        .order_by(BroadcastDelivery.id)
        .limit(limit)
    )
    if tx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(tx.session.scalars(query))
    for row in rows:
        row.status = "sending"
        row.attempts += 1
    return rows


def release(tx: Tx, delivery_ids: list[int]) -> None:
    """Claimed rows that were not sent go back to pending."""
    tx.session.execute(
        update(BroadcastDelivery)
        .where(BroadcastDelivery.id.in_(delivery_ids), BroadcastDelivery.status == "sending")
        .values(status="pending")
    )


def recover_sending(tx: Tx, run_id: int) -> int:
    """After a crash: rows caught mid-send go out again (at least once beats never)."""
    result = tx.session.execute(
        update(BroadcastDelivery)
        .where(BroadcastDelivery.run_id == run_id, BroadcastDelivery.status == "sending")
        .values(status="pending")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def mark(tx: Tx, delivery_id: int, *, status: str, now: datetime, reason: str = "") -> None:
    row = tx.session.get(BroadcastDelivery, delivery_id)
    if row is not None:
        row.status, row.reason = status, reason[:200]
        if status == "sent":
            row.sent_at = now


def retry_later(tx: Tx, delivery_id: int, *, now: datetime, reason: str, max_attempts: int) -> str:
    row = tx.session.get(BroadcastDelivery, delivery_id)
    if row is None:
        return "failed"
    row.reason = reason[:200]
    if row.attempts >= max_attempts:
        row.status = "failed"
    else:
        row.status = "pending"
        row.due_at = now + timedelta(seconds=min(2**row.attempts, 300))
    return row.status


def counts(tx: Tx, run_id: int) -> dict[str, int]:
    query = (
        select(BroadcastDelivery.status, func.count())
        .where(BroadcastDelivery.run_id == run_id)
        .group_by(BroadcastDelivery.status)
    )
    return {status: int(n) for status, n in tx.session.execute(query)}


def mass_sends_since(tx: Tx, *, since: datetime, until: datetime) -> int:
    """Mass sends going out in [since, until) (a run held by quiet hours counts when it sends)."""
    query = select(func.count()).where(
        BroadcastRun.channel == "wechat-mass",
        BroadcastRun.not_before >= since,
        BroadcastRun.not_before < until,
    )
    return int(tx.session.scalar(query) or 0)


def resident_audience(
    tx: Tx, *, kind: str, audience: str, default_opt_in: bool, channel: str = "wechat"
) -> list[tuple[str, bool]]:
    """(external id, consented) of residents who follow the account and are in the audience."""
    query = (
        select(Identity.external_id, Resident.subscribe_law, Resident.subscribe_notice)
        .join(Resident, Resident.id == Identity.resident_id)
        .where(Identity.channel == channel, Identity.subscribed.is_(True))
    )
    scope, _, value = audience.partition(":")
    if scope == "grid":
        query = query.where(Resident.grid_id == value)
    elif scope == "building":
        query = query.where(Resident.building == value)
    elif scope == "tag":
        query = query.join(ResidentTag, ResidentTag.resident_id == Resident.id).where(
            ResidentTag.tag == value
        )
    result = []
    for external_id, law, notice in tx.session.execute(query.order_by(Identity.id)):
        choice = {"law": law, "notice": notice}.get(kind)
        consented = True if kind == "urgent" else (default_opt_in if choice is None else choice)
        result.append((external_id, bool(consented)))
    return result


def worker_audience(tx: Tx, *, audience: str) -> list[str]:
    """Telegram chat ids of linked workers (all, or a grid's)."""
    query = select(Worker.telegram_id).where(
        Worker.telegram_id.is_not(None), Worker.active.is_(True)
    )
    scope, _, value = audience.partition(":")
    if scope == "grid":
        query = query.join(WorkerGrid, WorkerGrid.worker_id == Worker.id).where(
            WorkerGrid.grid_id == value
        )
    return [str(chat) for chat in tx.session.scalars(query.distinct())]


def tag_resident(tx: Tx, *, resident_id: int, tag: str) -> None:
    exists = tx.session.get(ResidentTag, (resident_id, tag))
    if exists is None:
        tx.session.add(ResidentTag(resident_id=resident_id, tag=tag))


def pending_reports(tx: Tx) -> list[BroadcastRun]:
    query = select(BroadcastRun).where(
        BroadcastRun.status == "done", BroadcastRun.reported.is_(False)
    )
    return list(tx.session.scalars(query))


def unfinished_without_work(tx: Tx, run_id: int) -> bool:
    """True when no ledger row of the run is still pending or being sent."""
    query = select(func.count()).where(
        BroadcastDelivery.run_id == run_id,
        or_(BroadcastDelivery.status == "pending", BroadcastDelivery.status == "sending"),
    )
    return not int(tx.session.scalar(query) or 0)
