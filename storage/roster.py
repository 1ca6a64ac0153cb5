"""The grid roster: communities, grids, buildings, workers. Import is idempotent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from storage.models import Building, Community, Grid, LinkCode, Worker, WorkerGrid
from storage.store import Tx


@dataclass(frozen=True)
class GridRow:
    id: str
    community: str
    name: str
    buildings: tuple[tuple[str, str], ...]  # (canonical key, name as written)


@dataclass(frozen=True)
class WorkerRow:
    id: str
    name: str
    role: str
    grids: tuple[str, ...] = ()
    phone: str = ""
    telegram_id: int | None = None
    backup_for: tuple[str, ...] = ()
    on_leave: bool = False


@dataclass(frozen=True)
class RosterData:
    communities: tuple[tuple[str, str], ...] = ()  # (id, name)
    grids: tuple[GridRow, ...] = ()
    workers: tuple[WorkerRow, ...] = ()


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.updated)


def _upsert(
    tx: Tx, model: type, key: object, *, values: dict[str, object], label: str, changes: Changes
) -> None:
    row = tx.session.get(model, key)
    if row is None:
        tx.session.add(model(**values))
        changes.added.append(label)
        return
    if any(getattr(row, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(row, name, value)
        changes.updated.append(label)


def apply(tx: Tx, data: RosterData) -> Changes:
    """Make the database hold this roster (ids are keys); report what changed."""
    changes = Changes()
    for community_id, name in data.communities:
        _upsert(
            tx,
            Community,
            community_id,
            values={"id": community_id, "name": name},
            label=f"community {community_id}",
            changes=changes,
        )
    tx.session.flush()
    for grid in data.grids:
        _upsert(
            tx,
            Grid,
            grid.id,
            values={"id": grid.id, "community_id": grid.community, "name": grid.name},
            label=f"grid {grid.id}",
            changes=changes,
        )
    tx.session.flush()
    for grid in data.grids:
        for key, name in grid.buildings:
            row = tx.session.scalar(select(Building).where(Building.key == key))
            if row is None:
                tx.session.add(Building(grid_id=grid.id, name=name, key=key))
                changes.added.append(f"building {key}")
            elif (row.grid_id, row.name) != (grid.id, name):
                row.grid_id, row.name = grid.id, name
                changes.updated.append(f"building {key}")
    tx.session.flush()
    for worker in data.workers:
        values = {
            "id": worker.id,
            "name": worker.name,
            "role": worker.role,
            "phone": worker.phone,
            "on_leave": worker.on_leave,
            "active": True,
        }
        if worker.telegram_id is not None:
            values["telegram_id"] = worker.telegram_id
        _upsert(tx, Worker, worker.id, values=values, label=f"worker {worker.id}", changes=changes)
        tx.session.flush()
        relation = "lead" if worker.role == "leader" else "own"
        wanted = {(g, relation) for g in worker.grids} | {(g, "backup") for g in worker.backup_for}
        have = {
            (r.grid_id, r.relation)
            for r in tx.session.scalars(
                select(WorkerGrid).where(WorkerGrid.worker_id == worker.id)
            )
        }
        if wanted != have:
            tx.session.execute(delete(WorkerGrid).where(WorkerGrid.worker_id == worker.id))
            for grid_id, rel in sorted(wanted):
                tx.session.add(WorkerGrid(worker_id=worker.id, grid_id=grid_id, relation=rel))
            if f"worker {worker.id}" not in changes.added + changes.updated:
                changes.updated.append(f"worker {worker.id}")
    tx.session.flush()
    return changes


def export(tx: Tx) -> RosterData:
    communities = tuple(
        (c.id, c.name) for c in tx.session.scalars(select(Community).order_by(Community.id))
    )
    grids = []
    for grid in tx.session.scalars(select(Grid).order_by(Grid.id)):
        buildings = tx.session.scalars(
            select(Building).where(Building.grid_id == grid.id).order_by(Building.id)
        )
        grids.append(
            GridRow(
                grid.id, grid.community_id, grid.name, tuple((b.key, b.name) for b in buildings)
            )
        )
    workers = []
    for worker in tx.session.scalars(
        select(Worker).where(Worker.active.is_(True)).order_by(Worker.id)
    ):
        links = list(
            tx.session.scalars(select(WorkerGrid).where(WorkerGrid.worker_id == worker.id))
        )
        workers.append(
            WorkerRow(
                id=worker.id,
                name=worker.name,
                role=worker.role,
                phone=worker.phone,
                telegram_id=worker.telegram_id,
                on_leave=worker.on_leave,
                grids=tuple(sorted(link.grid_id for link in links if link.relation != "backup")),
                backup_for=tuple(
                    sorted(link.grid_id for link in links if link.relation == "backup")
                ),
            )
        )
    return RosterData(communities, tuple(grids), tuple(workers))


def grid_of_building(tx: Tx, key: str) -> str | None:
    return tx.session.scalar(select(Building.grid_id).where(Building.key == key))


def named_buildings(tx: Tx) -> tuple[str, ...]:
    """Buildings with a name rather than a number (商业街): matched as written."""
    keys = tx.session.scalars(select(Building.key))
    return tuple(k for k in keys if not k.endswith("号楼"))


def grid(tx: Tx, grid_id: str) -> Grid | None:
    return tx.session.get(Grid, grid_id)


def grid_workers(tx: Tx, grid_id: str, relation: str) -> list[Worker]:
    query = (
        select(Worker)
        .join(WorkerGrid, WorkerGrid.worker_id == Worker.id)
        .where(
            WorkerGrid.grid_id == grid_id, WorkerGrid.relation == relation, Worker.active.is_(True)
        )
        .order_by(Worker.id)
    )
    return list(tx.session.scalars(query))


def worker(tx: Tx, worker_id: str) -> Worker | None:
    return tx.session.get(Worker, worker_id)


def workers_with_role(tx: Tx, role: str) -> list[Worker]:
    query = select(Worker).where(Worker.role == role, Worker.active.is_(True)).order_by(Worker.id)
    return list(tx.session.scalars(query))


def assignable(tx: Tx, grid_id: str | None, *, limit: int) -> list[Worker]:
    """Up to `limit` grid workers a case can go to, on duty only: the grid's own first, then
    the others by id (two small queries, not the whole district's staff)."""
    available = (Worker.role == "worker", Worker.active.is_(True), Worker.on_leave.is_(False))
    own: list[Worker] = []
    if grid_id:
        own = list(
            tx.session.scalars(
                select(Worker)
                .join(WorkerGrid, WorkerGrid.worker_id == Worker.id)
                .where(WorkerGrid.grid_id == grid_id, WorkerGrid.relation == "own", *available)
                .order_by(Worker.id)
                .limit(limit)
            )
        )
    if len(own) >= limit:
        return own
    others = tx.session.scalars(
        select(Worker)
        .where(*available, Worker.id.not_in([w.id for w in own]))
        .order_by(Worker.id)
        .limit(limit - len(own))
    )
    return [*own, *others]


def worker_by_telegram(tx: Tx, telegram_id: int) -> Worker | None:
    return tx.session.scalar(select(Worker).where(Worker.telegram_id == telegram_id))


def add_link_code(
    tx: Tx, *, worker_id: str, code_hash: str, now: datetime, ttl: timedelta
) -> None:
    tx.session.add(
        LinkCode(code_hash=code_hash, worker_id=worker_id, created_at=now, expires_at=now + ttl)
    )
    tx.session.flush()


def use_link_code(tx: Tx, *, code_hash: str, telegram_id: int, now: datetime) -> Worker | None:
    """Link the chat account to the worker the unexpired, unused code was made for."""
    code = tx.session.get(LinkCode, code_hash)
    if code is None or code.used_at is not None or code.expires_at <= now:
        return None
    found = tx.session.get(Worker, code.worker_id)
    if found is None or not found.active:
        return None
    previous = worker_by_telegram(tx, telegram_id)
    if previous is not None and previous.id != found.id:
        previous.telegram_id = None
        tx.session.flush()
    code.used_at = now
    found.telegram_id = telegram_id
    tx.session.flush()
    return found


def grids_led_by(tx: Tx, worker_id: str) -> list[str]:
    query = select(WorkerGrid.grid_id).where(
        WorkerGrid.worker_id == worker_id, WorkerGrid.relation == "lead"
    )
    return list(tx.session.scalars(query))


def find_worker(tx: Tx, key: str) -> Worker | None:
    """By id or by exact name."""
    return tx.session.get(Worker, key) or tx.session.scalar(
        select(Worker).where(Worker.name == key, Worker.active.is_(True))
    )
