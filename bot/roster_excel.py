"""The roster as an Excel workbook with Chinese headers: one sheet per table (see README)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

SEP = "、"
SHEETS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # table: (sheet name, [(header, key)])
    "community": ("社区", [("编号", "id"), ("名称", "name")]),
    "grid": (
        "网格",
        [("编号", "id"), ("社区", "community"), ("名称", "name"), ("楼栋", "buildings")],
    ),
    "worker": (
        "人员",
        [
            ("编号", "id"),
            ("姓名", "name"),
            ("角色", "role"),
            ("网格", "grids"),
            ("电话", "phone"),
            ("Telegram", "telegram_id"),
            ("备岗网格", "backup_for"),
            ("请假", "on_leave"),
        ],
    ),
}
LISTS = {"buildings", "grids", "backup_for"}
ROLE_NAMES = {"网格员": "worker", "网格长": "leader", "管理员": "admin"}
ROLE_LABELS = {value: key for key, value in ROLE_NAMES.items()}
YES = {"是", "yes", "true", "1", "y"}


def _cell(key: str, value: Any) -> Any:
    if key in LISTS:
        return SEP.join(value)
    if key == "role":
        return ROLE_LABELS.get(value, value)
    if key == "on_leave":
        return "是" if value else "否"
    return value


def _value(key: str, cell: Any) -> Any:
    text = "" if cell is None else str(cell).strip()
    if key in LISTS:
        return [
            part.strip()
            for part in text.replace(",", SEP).replace("，", SEP).split(SEP)
            if part.strip()
        ]
    if key == "role":
        return ROLE_NAMES.get(text, text or "worker")
    if key == "on_leave":
        return text.lower() in YES
    if key == "telegram_id":
        return int(float(text)) if text else None
    return text


def write_xlsx(mapping: dict[str, list[dict[str, Any]]], path: Path) -> None:
    book = Workbook()
    book.remove(book.active)
    for table, (title, columns) in SHEETS.items():
        sheet = book.create_sheet(title)
        sheet.append([header for header, _ in columns])
        for row in mapping.get(table, []):
            sheet.append([_cell(key, row.get(key, "")) for _, key in columns])
    book.save(path)


def read_xlsx(path: Path) -> dict[str, list[dict[str, Any]]]:
    book = load_workbook(path, read_only=True, data_only=True)
    try:
        result: dict[str, list[dict[str, Any]]] = {}
        for table, (title, columns) in SHEETS.items():
            if title not in book.sheetnames:
                raise ValueError(f"the workbook needs a sheet named {title}")
            rows = list(book[title].iter_rows(values_only=True))
            headers = [str(h).strip() if h is not None else "" for h in rows[0]] if rows else []
            keys = {header: key for header, key in columns}
            result[table] = []
            for values in rows[1:]:
                if not any(v not in (None, "") for v in values):
                    continue
                row = {
                    keys[h]: _value(keys[h], v)
                    for h, v in zip(headers, values, strict=False)
                    if h in keys
                }
                if table == "worker" and row.get("telegram_id") is None:
                    row.pop("telegram_id", None)
                result[table].append(row)
        return result
    finally:
        book.close()
