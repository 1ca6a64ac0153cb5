"""The rows the weekly figures are computed from (columns only: a district week is large)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from storage.lifecycle import OPEN, Action, Status
from storage.models import Case, CaseEvent, Grid, Worker
from storage.store import Tx

COLUMNS = (
    Case.id,
    Case.grid_id,
    Case.assignee_id,
    Case.category,
    Case.status,
    Case.created_at,
    Case.assigned_at,
    Case.accepted_at,
    Case.accept_due_at,
    Case.resolved_at,
    Case.accepted_late,
    Case.resolved_late,
    Case.rating,
    Case.solved,
    Case.reopen_count,
    Case.return_count,
)


# every status but merged, named: `status IN (...) AND created_at BETWEEN` is served by
# ix_cases_status_created, where `status != 'merged'` made SQLite scan the whole table
COUNTED = tuple(s.value for s in Status if s is not Status.MERGED)


def cases_opened(tx: Tx, *, start: datetime, end: datetime) -> list[Any]:
    """Every case opened in [start, end) (merged duplicates excluded)."""
    query = select(*COLUMNS).where(
        Case.status.in_(COUNTED), Case.created_at >= start, Case.created_at < end
    )
    return list(tx.session.execute(query))


def overdue_counts(tx: Tx, *, now: datetime) -> dict[tuple[str | None, str | None], int]:
    """Open cases past their running limit, by (grid, assignee)."""
    open_values = [s.value for s in OPEN]
    late = ((Case.status.in_(["new", "assigned"])) & (Case.accept_due_at < now)) | (
        (Case.status == "in_progress") & (Case.resolve_due_at < now)
    )
    query = (
        select(Case.grid_id, Case.assignee_id, func.count())
        .where(Case.status.in_(open_values), late)
        .group_by(Case.grid_id, Case.assignee_id)
    )
    return {(g, a): int(n) for g, a, n in tx.session.execute(query)}


def returns_by_worker(tx: Tx, *, start: datetime, end: datetime) -> dict[str, set[int]]:
    """Who returned (退回) which of the cases opened in [start, end): worker id -> case ids.
    A return clears the assignee, so only the events know who returned a case."""
    query = (
        select(CaseEvent.actor, CaseEvent.case_id)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            Case.status.in_(COUNTED),
            Case.created_at >= start,
            Case.created_at < end,
            CaseEvent.kind == Action.RETURN.value,
        )
    )
    found: dict[str, set[int]] = {}
    for actor, case_id in tx.session.execute(query):
        kind, _, worker_id = str(actor).partition(":")
        if kind == "worker" and worker_id:
            found.setdefault(worker_id, set()).add(int(case_id))
    return found


def names(tx: Tx) -> tuple[dict[str, str], dict[str, str]]:
    grids = {g.id: g.name for g in tx.session.scalars(select(Grid))}
    workers = {i: n for i, n in tx.session.execute(select(Worker.id, Worker.name))}
    return grids, workers
