"""The roster file of CONTRACT.md: TOML (and .xlsx) <-> storage.roster.RosterData."""

from __future__ import annotations

import tomllib
import zipfile
from pathlib import Path
from typing import Any

from openpyxl.utils.exceptions import InvalidFileException

from knowledge.address import canonical_building
from storage.roster import GridRow, RosterData, WorkerRow

ROLES = ("worker", "leader", "admin")


class RosterFileError(ValueError):
    pass


def _tables(data: dict[str, Any], kind: str, problems: list[str]) -> list[dict[str, Any]]:
    found = data.get(kind, [])
    if not isinstance(found, list) or not all(isinstance(t, dict) for t in found):
        problems.append(f"{kind}: must be a list of [[{kind}]] tables")
        return []
    return found


def _text(table: dict[str, Any], key: str, where: str, problems: list[str]) -> str:
    """A required scalar field as text (a spreadsheet gives ids as numbers)."""
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        problems.append(f"{where}: {key} is missing or not a text")
        return ""
    return str(value).strip()


def _names(table: dict[str, Any], key: str, where: str, problems: list[str]) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        problems.append(f'{where}: {key} must be a list, like {key} = ["..."]')
        return ()
    return tuple(str(v) for v in value)


def from_mapping(data: dict[str, Any]) -> RosterData:
    """Check and convert; every problem is reported at once."""
    problems: list[str] = []
    communities = []
    for n, community in enumerate(_tables(data, "community", problems), 1):
        where = f"community #{n}"
        communities.append(
            (_text(community, "id", where, problems), _text(community, "name", where, problems))
        )
    community_ids = {c for c, _ in communities}
    grids = []
    for n, grid in enumerate(_tables(data, "grid", problems), 1):
        where = f"grid {grid.get('id', f'#{n}')}"
        grid_id = _text(grid, "id", where, problems)
        if grid.get("community") not in community_ids:
            problems.append(f"{where}: unknown community {grid.get('community')!r}")
        buildings = tuple(
            (canonical_building(b), b) for b in _names(grid, "buildings", where, problems)
        )
        name = _text(grid, "name", where, problems)
        grids.append(GridRow(grid_id, str(grid.get("community")), name, buildings))
    grid_ids = {g.id for g in grids}
    workers = []
    for n, worker in enumerate(_tables(data, "worker", problems), 1):
        where = f"worker {worker.get('id', f'#{n}')}"
        worker_id, name = (
            _text(worker, "id", where, problems),
            _text(worker, "name", where, problems),
        )
        role = worker.get("role", "worker")
        if role not in ROLES:
            problems.append(f"{where}: role must be one of {', '.join(ROLES)}")
        grid_list = _names(worker, "grids", where, problems)
        backup = _names(worker, "backup_for", where, problems)
        for grid_id in [*grid_list, *backup]:
            if grid_id not in grid_ids:
                problems.append(f"{where}: unknown grid {grid_id!r}")
        telegram_id = worker.get("telegram_id")
        if telegram_id in (None, ""):
            telegram_id = None
        elif isinstance(telegram_id, bool) or not str(telegram_id).lstrip("-").isdigit():
            problems.append(f"{where}: telegram_id must be a number")
            telegram_id = None
        on_leave = worker.get("on_leave", False)
        if not isinstance(on_leave, bool):
            problems.append(f"{where}: on_leave must be true or false")
        workers.append(
            WorkerRow(
                id=worker_id,
                name=name,
                role=str(role),
                grids=grid_list,
                phone=str(worker.get("phone", "")),
                telegram_id=int(telegram_id) if telegram_id is not None else None,
                backup_for=backup,
                on_leave=on_leave is True,
            )
        )
    if problems:
        raise RosterFileError("; ".join(problems))
    return RosterData(tuple(communities), tuple(grids), tuple(workers))


def read(path: Path) -> RosterData:
    """A roster file (TOML, or .xlsx); RosterFileError when it is not one, OSError when it
    cannot be read."""
    try:
        if path.suffix.lower() == ".xlsx":
            from bot.roster_excel import read_xlsx

            mapping: dict[str, Any] = dict(read_xlsx(path))
        else:
            with path.open("rb") as handle:
                mapping = tomllib.load(handle)
    except (tomllib.TOMLDecodeError, zipfile.BadZipFile, InvalidFileException, ValueError) as exc:
        raise RosterFileError(f"{path.name} is not a roster file: {exc}") from None
    return from_mapping(mapping)


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
