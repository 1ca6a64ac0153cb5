"""Cases and their timelines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.lifecycle import OPEN, Action, Status, next_status
from storage.models import Case, CaseAttachment, CaseEvent, Counter
from storage.store import Tx


def next_number(tx: Tx, *, year: int) -> str:
    """The next readable case number of the year, e.g. 2026-000123 (safe under concurrency)."""
    name = f"case-{year}"
    bump = update(Counter).where(Counter.name == name).values(value=Counter.value + 1)
    if not tx.session.execute(bump).rowcount:  # type: ignore[attr-defined]
        try:
            with tx.session.begin_nested():
                tx.session.add(Counter(name=name, value=0))
        except IntegrityError:  # another writer created the year's counter first
            pass
        tx.session.execute(bump)
    value = int(tx.session.scalar(select(Counter.value).where(Counter.name == name)) or 0)
    return f"{year}-{value:06d}"


def open_case(
    tx: Tx,
    *,
    resident_id: int | None,
    category: str,
    text: str,
    now: datetime,
    year: int,
    actor: str,
    building: str = "",
    address: str = "",
    grid_id: str | None = None,
    urgent: bool = False,
    sensitive: bool = False,
    anonymous: bool = False,
    filed_by: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
) -> Case:
    case = Case(
        number=next_number(tx, year=year),
        resident_id=resident_id,
        category=category,
        status=Status.NEW,
        text=text,
        building=building,
        address=address,
        grid_id=grid_id,
        urgent=urgent,
        sensitive=sensitive,
        anonymous=anonymous,
        filed_by=filed_by,
        latitude=latitude,
        longitude=longitude,
        created_at=now,
        updated_at=now,
    )
    tx.session.add(case)
    tx.session.flush()
    add_event(tx, case, actor=actor, kind="created", to_status=Status.NEW, note="", now=now)
    return case


def add_event(
    tx: Tx,
    case: Case,
    *,
    actor: str,
    kind: str,
    now: datetime,
    note: str = "",
    from_status: str = "",
    to_status: str = "",
) -> CaseEvent:
    event = CaseEvent(
        case_id=case.id,
        at=now,
        actor=actor,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )
    # no flush: the row goes in with the session's next flush (a query's autoflush, or the
    # commit), batched with the others; nobody needs its id before then
    tx.session.add(event)
    return event


def transition(
    tx: Tx, case: Case, action: Action, *, actor: str, now: datetime, note: str = ""
) -> Status:
    """Move a case on by the lifecycle table, stamping times and recording the event."""
    before = Status(case.status)
    after = next_status(before, action)
    case.status = after
    case.updated_at = now
    if action in (Action.ASSIGN, Action.REASSIGN):
        case.assigned_at = now
        case.accepted_at = None
    elif action is Action.ACCEPT:
        case.accepted_at = now
    elif action is Action.RETURN:
        case.return_count += 1
        case.assignee_id = None
    elif action is Action.RESOLVE:
        case.resolved_at = now
    elif action is Action.REOPEN:
        case.reopen_count += 1
        case.reopened_at = now
        case.resolved_at = None
    elif action in (Action.CONFIRM, Action.CLOSE, Action.CANCEL, Action.MERGE):
        case.closed_at = now
    add_event(
        tx,
        case,
        actor=actor,
        kind=action.value,
        now=now,
        note=note,
        from_status=before,
        to_status=after,
    )
    return after


def lock_case(tx: Tx, case_id: int) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    return tx.session.scalar(query)


def by_number(tx: Tx, number: str) -> Case | None:
    return tx.session.scalar(select(Case).where(Case.number == number))


def recent_open(
    tx: Tx, *, resident_id: int, since: datetime, category: str | None = None
) -> Case | None:
    """The resident's newest open case created since `since` (optionally of one category)."""
    query = select(Case).where(
        Case.resident_id == resident_id,
        Case.status.in_([s.value for s in OPEN]),
        Case.created_at >= since,
    )
    if category is not None:
        query = query.where(Case.category == category)
    return tx.session.scalar(query.order_by(Case.created_at.desc(), Case.id.desc()).limit(1))


def awaiting_rating(tx: Tx, *, resident_id: int) -> list[Case]:
    """The resident's resolved cases, the most recently resolved first."""
    query = (
        select(Case)
        .where(Case.resident_id == resident_id, Case.status == Status.RESOLVED)
        .order_by(Case.resolved_at.desc(), Case.id.desc())
    )
    return list(tx.session.scalars(query))


def _joined_by(resident_id: int) -> Any:
    """The ids of the cases a resident's reports were merged into (they follow those)."""
    return (
        select(Case.merged_into_id)
        .where(
            Case.resident_id == resident_id,
            Case.status == Status.MERGED,
            Case.merged_into_id.is_not(None),
        )
        .scalar_subquery()
    )


def for_resident(tx: Tx, *, resident_id: int, limit: int = 10) -> list[Case]:
    """The resident's cases, and the cases their merged reports joined, newest first."""
    query = (
        select(Case)
        .where(
            or_(Case.resident_id == resident_id, Case.id.in_(_joined_by(resident_id))),
            Case.status != Status.MERGED,
        )
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(limit)
    )
    return list(tx.session.scalars(query))


def follows(tx: Tx, case: Case, resident_id: int) -> bool:
    """Whether a resident reported the case, or reported what was merged into it."""
    if case.resident_id == resident_id:
        return True
    joined = select(Case.id).where(
        Case.resident_id == resident_id,
        Case.status == Status.MERGED,
        Case.merged_into_id == case.id,
    )
    return tx.session.scalar(joined.limit(1)) is not None


def repoint_merged(tx: Tx, *, from_case: Case, to_case: Case) -> None:
    tx.session.execute(
        update(Case).where(Case.merged_into_id == from_case.id).values(merged_into_id=to_case.id)
    )


def followers(tx: Tx, case: Case) -> list[int]:
    """The residents whose reports were merged into the case (not its own reporter)."""
    query = select(Case.resident_id).where(
        Case.merged_into_id == case.id,
        Case.status == Status.MERGED,
        Case.resident_id.is_not(None),
    )
    return sorted(
        {r for r in tx.session.scalars(query) if r is not None and r != case.resident_id}
    )


def add_attachment(
    tx: Tx,
    case: Case,
    *,
    kind: str,
    now: datetime,
    actor: str,
    media_id: str = "",
    url: str = "",
    note: str = "",
) -> CaseAttachment:
    attachment = CaseAttachment(
        case_id=case.id, kind=kind, media_id=media_id, url=url, note=note, created_at=now
    )
    tx.session.add(attachment)
    add_event(tx, case, actor=actor, kind="attachment", now=now, note=kind)
    tx.session.flush()
    return attachment


def add_report(tx: Tx, case: Case, *, text: str, actor: str, now: datetime) -> None:
    """A further report of the same problem joins the open case instead of duplicating it."""
    case.report_count += 1
    case.updated_at = now
    add_event(tx, case, actor=actor, kind="report", now=now, note=text)


def listing(tx: Tx, *, status: str | None = None, limit: int | None = 50) -> list[Case]:
    return list(iter_listing(tx, status=status, limit=limit))


def iter_listing(
    tx: Tx, *, status: str | None = None, limit: int | None = None, batch: int = 1000
) -> Iterator[Case]:
    """Cases newest first, fetched `batch` rows at a time (a district holds millions)."""
    query = select(Case)
    if status:
        query = query.where(Case.status == status)
    query = query.order_by(Case.created_at.desc(), Case.id.desc())
    if limit is not None:
        query = query.limit(limit)
    yield from tx.session.scalars(query.execution_options(yield_per=batch))


def by_id(tx: Tx, case_id: int) -> Case | None:
    return tx.session.get(Case, case_id)


def for_assignee(tx: Tx, *, worker_id: str, limit: int = 20) -> list[Case]:
    """A worker's open cases, soonest deadline first (to accept while assigned, to resolve
    while in progress; cases without one last), then the newest first."""
    due = sql_case(
        (Case.status == Status.IN_PROGRESS.value, Case.resolve_due_at), else_=Case.accept_due_at
    )
    query = (
        select(Case)
        .where(
            Case.assignee_id == worker_id,
            Case.status.in_([Status.ASSIGNED.value, Status.IN_PROGRESS.value]),
        )
        .order_by(due.is_(None), due, Case.created_at.desc(), Case.id.desc())
        .limit(limit)
    )
    return list(tx.session.scalars(query))


def unassigned(tx: Tx, *, grid_ids: list[str] | None, limit: int = 20) -> list[Case]:
    """The leaders' queue: cases nobody holds."""
    query = select(Case).where(Case.status == Status.NEW.value)
    if grid_ids is not None:
        query = query.where((Case.grid_id.in_(grid_ids)) | (Case.grid_id.is_(None)))
    return list(tx.session.scalars(query.order_by(Case.created_at).limit(limit)))


def overdue(tx: Tx, *, grid_ids: list[str] | None, now: datetime, limit: int = 20) -> list[Case]:
    accept_late = Case.status.in_([Status.NEW.value, Status.ASSIGNED.value]) & (
        Case.accept_due_at < now
    )
    resolve_late = (Case.status == Status.IN_PROGRESS.value) & (Case.resolve_due_at < now)
    query = select(Case).where(accept_late | resolve_late)
    if grid_ids is not None:
        query = query.where((Case.grid_id.in_(grid_ids)) | (Case.grid_id.is_(None)))
    return list(tx.session.scalars(query.order_by(Case.created_at).limit(limit)))


def alarms_due(tx: Tx, *, now: datetime, limit: int = 200) -> list[Case]:
    """Open cases whose next reminder or escalation is due (locked on PostgreSQL)."""
    query = (
        select(Case)
        .where(Case.alarm_at <= now, Case.status.in_([s.value for s in OPEN]))
        .order_by(Case.alarm_at)
        .limit(limit)
    )
    if tx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(tx.session.scalars(query))


def resolved_before(tx: Tx, *, before: datetime, limit: int = 200) -> list[Case]:
    query = (
        select(Case)
        .where(Case.status == Status.RESOLVED.value, Case.resolved_at < before)
        .order_by(Case.resolved_at)
        .limit(limit)
    )
    if tx.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(tx.session.scalars(query))
