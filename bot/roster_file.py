"""The roster file of CONTRACT.md: TOML (and .xlsx) <-> storage.roster.RosterData."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from knowledge.address import canonical_building
from storage.roster import GridRow, RosterData, WorkerRow

ROLES = ("worker", "leader", "admin")


class RosterFileError(ValueError):
    pass


def from_mapping(data: dict[str, Any]) -> RosterData:
    """Check and convert; every problem is reported at once."""
    problems: list[str] = []
    communities = tuple((str(c["id"]), str(c["name"])) for c in data.get("community", []))
    community_ids = {c for c, _ in communities}
    grids = []
    for grid in data.get("grid", []):
        if grid.get("community") not in community_ids:
            problems.append(f"grid {grid.get('id')}: unknown community {grid.get('community')!r}")
        buildings = tuple((canonical_building(b), str(b)) for b in grid.get("buildings", []))
        grids.append(
            GridRow(str(grid["id"]), str(grid.get("community")), str(grid["name"]), buildings)
        )
    grid_ids = {g.id for g in grids}
    workers = []
    for worker in data.get("worker", []):
        role = worker.get("role", "worker")
        if role not in ROLES:
            problems.append(f"worker {worker.get('id')}: role must be one of {', '.join(ROLES)}")
        for grid_id in [*worker.get("grids", []), *worker.get("backup_for", [])]:
            if grid_id not in grid_ids:
                problems.append(f"worker {worker.get('id')}: unknown grid {grid_id!r}")
        telegram_id = worker.get("telegram_id")
        workers.append(
            WorkerRow(
                id=str(worker["id"]),
                name=str(worker["name"]),
                role=role,
                grids=tuple(worker.get("grids", [])),
                phone=str(worker.get("phone", "")),
                telegram_id=int(telegram_id) if telegram_id not in (None, "") else None,
                backup_for=tuple(worker.get("backup_for", [])),
                on_leave=bool(worker.get("on_leave", False)),
            )
        )
    if problems:
        raise RosterFileError("; ".join(problems))
    return RosterData(communities, tuple(grids), tuple(workers))


def read(path: Path) -> RosterData:
    if path.suffix.lower() == ".xlsx":
        from bot.roster_excel import read_xlsx

        return from_mapping(read_xlsx(path))
    with path.open("rb") as handle:
        return from_mapping(tomllib.load(handle))


def to_mapping(data: RosterData) -> dict[str, Any]:
    workers = []
    for w in data.workers:
        row: dict[str, Any] = {
            "id": w.id,
            "name": w.name,
            "role": w.role,
            "grids": list(w.grids),
            "phone": w.phone,
        }
        if w.telegram_id is not None:
            row["telegram_id"] = w.telegram_id
        if w.backup_for:
            row["backup_for"] = list(w.backup_for)
        if w.on_leave:
            row["on_leave"] = True
        workers.append(row)
    return {
        "community": [{"id": i, "name": n} for i, n in data.communities],
        "grid": [
            {
                "id": g.id,
                "community": g.community,
                "name": g.name,
                "buildings": [name for _, name in g.buildings],
            }
            for g in data.grids
        ],
        "worker": workers,
    }


def write(data: RosterData, path: Path) -> None:
    mapping = to_mapping(data)
    if path.suffix.lower() == ".xlsx":
        from bot.roster_excel import write_xlsx

        write_xlsx(mapping, path)
        return
    path.write_text(dump_toml(mapping), encoding="utf-8")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def dump_toml(mapping: dict[str, Any]) -> str:
    """Arrays of tables of flat values: all the roster needs (tomllib only reads)."""
    lines: list[str] = []
    for table, rows in mapping.items():
        for row in rows:
            lines.append(f"[[{table}]]")
            lines.extend(f"{key} = {_value(value)}" for key, value in row.items())
            lines.append("")
    return "\n".join(lines)
