"""The three rates (三率) and the weekly report, per grid, worker and category."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import Config, Rates
from knowledge.replies import Replies
from storage import reports
from storage.store import Tx


def week_bounds(week: str | None, tz: ZoneInfo, now: datetime) -> tuple[str, datetime, datetime]:
    """("YYYY-Www", Monday 00:00, next Monday 00:00) in local time; default: last full week."""
    if week:
        year, _, number = week.upper().partition("-W")
        monday = date.fromisocalendar(int(year), int(number), 1)
    else:
        today = now.astimezone(tz).date()
        monday = today - timedelta(days=today.weekday() + 7)
    start = datetime.combine(monday, time(0, 0), tz)
    iso = monday.isocalendar()
    return f"{iso.year}-W{iso.week:02d}", start, start + timedelta(days=7)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median_minutes(spans: list[float]) -> float | None:
    return round(statistics.median(spans), 1) if spans else None


@dataclass
class Figures:
    key: str
    name: str
    opened: int = 0
    assigned: int = 0
    accepted: int = 0
    resolved: int = 0
    rated: int = 0
    overdue: int = 0
    response_rate: float | None = None  # 响应率
    resolution_rate: float | None = None  # 解决率
    satisfaction_rate: float | None = None  # 满意率
    on_time_rate: float | None = None  # 按时办结率
    reopen_rate: float | None = None  # 重办率
    return_rate: float | None = None  # 回退率
    median_accept_minutes: float | None = None
    median_resolve_hours: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (scalars only: no deep copy as dataclasses.asdict makes)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def figures(key: str, name: str, rows: Iterable[Any], weights: Rates, now: datetime) -> Figures:
    """One group's figures; a case still inside its accept limit does not count against 响应率."""
    rows = list(rows)
    assigned = [r for r in rows if r.assigned_at is not None]
    decided = [
        r
        for r in assigned
        if r.accepted_at is not None or (r.accept_due_at is not None and r.accept_due_at <= now)
    ]
    accepted = [r for r in rows if r.accepted_at is not None]
    resolved = [
        r
        for r in rows  # ever resolved: a reopened case was resolved once
        if r.resolved_at is not None or r.status == "closed" or r.reopen_count
    ]
    rated = [r for r in rows if r.rating]
    weight = {
        "satisfied": weights.satisfied,
        "basic": weights.basic,
        "unsatisfied": weights.unsatisfied,
    }
    accept_spans = [
        (r.accepted_at - r.assigned_at).total_seconds() / 60
        for r in accepted
        if r.assigned_at is not None and r.accepted_at >= r.assigned_at
    ]
    resolve_spans = [
        (r.resolved_at - r.created_at).total_seconds() / 60
        for r in resolved
        if r.resolved_at is not None
    ]
    satisfied = sum(weight.get(r.rating, 0.0) for r in rated)
    return Figures(
        key=key,
        name=name,
        opened=len(rows),
        assigned=len(assigned),
        accepted=len(accepted),
        resolved=len(resolved),
        rated=len(rated),
        response_rate=_ratio(sum(1 for r in accepted if r.accepted_late is False), len(decided)),
        resolution_rate=_ratio(sum(1 for r in rated if r.solved), len(rated)),
        satisfaction_rate=round(satisfied / len(rated), 4) if rated else None,
        on_time_rate=_ratio(sum(1 for r in resolved if r.resolved_late is False), len(resolved)),
        reopen_rate=_ratio(sum(1 for r in resolved if r.reopen_count), len(resolved)),
        return_rate=_ratio(sum(1 for r in assigned if r.return_count), len(assigned)),
        median_accept_minutes=_median_minutes(accept_spans),
        median_resolve_hours=(round(m / 60, 1) if (m := _median_minutes(resolve_spans)) else None),
    )


def _worker_return_rate(rows: list[Any], returned: set[int]) -> float | None:
    """回退率 of one worker: the cases they returned / the cases they held (still theirs, or
    returned by them). A returned case has no assignee any more, or the next one's."""
    held = {r.id for r in rows if r.assigned_at is not None} | returned
    return _ratio(len(returned), len(held))


def weekly(
    tx: Tx, config: Config, *, week: str | None, now: datetime, category_names: dict[str, str]
) -> dict[str, Any]:
    """The weekly report as one JSON-ready object."""
    label, start, end = week_bounds(week, config.tz, now)
    rows = reports.cases_opened(tx, start=start, end=end)
    grid_names, worker_names = reports.names(tx)
    late = reports.overdue_counts(tx, now=min(now, end))
    returned = reports.returns_by_worker(tx, start=start, end=end)
    groups: dict[str, dict[str, list[Any]]] = {
        "grid": defaultdict(list),
        "worker": defaultdict(list),
        "category": defaultdict(list),
    }
    for row in rows:
        groups["grid"][row.grid_id or "-"].append(row)
        groups["worker"][row.assignee_id or "-"].append(row)
        groups["category"][row.category].append(row)
    for worker_id in returned:  # a worker who returned every case they got is listed too
        groups["worker"].setdefault(worker_id, [])
    labels = {"grid": grid_names, "worker": worker_names, "category": category_names}
    result: dict[str, Any] = {"week": label, "from": start.isoformat(), "to": end.isoformat()}
    total = figures("total", "", rows, config.rates, now)
    total.overdue = sum(late.values())
    result["total"] = total.as_dict()
    for kind, grouped in groups.items():
        items = []
        for key in sorted(grouped):
            item = figures(key, labels[kind].get(key, key), grouped[key], config.rates, now)
            if kind == "grid":
                item.overdue = sum(n for (g, _), n in late.items() if (g or "-") == key)
            if kind == "worker":
                item.overdue = sum(n for (_, a), n in late.items() if (a or "-") == key)
                if key != "-":
                    item.return_rate = _worker_return_rate(grouped[key], returned.get(key, set()))
            items.append(item.as_dict())
        result[f"by_{kind}"] = items
    return result


COLUMNS = (
    "name",
    "opened",
    "assigned",
    "accepted",
    "resolved",
    "rated",
    "overdue",
    "response_rate",
    "resolution_rate",
    "satisfaction_rate",
    "on_time_rate",
    "reopen_rate",
    "return_rate",
    "median_accept_minutes",
    "median_resolve_hours",
)
SHEETS = ("total", "by_grid", "by_worker", "by_category")


def to_excel(report: dict[str, Any], path: Path, replies: Replies) -> None:
    """The report as a workbook: a sheet per grouping, headed in replies.toml's [excel] words."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for key in SHEETS:
        sheet = book.create_sheet(replies.get(f"excel.{key}"))
        sheet.append([replies.get(f"excel.{column}") for column in COLUMNS])
        rows = [report[key]] if key == "total" else report[key]
        for row in rows:
            sheet.append([row.get(c) if row.get(c) is not None else "" for c in COLUMNS])
    book.save(path)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def summary_text(ctx: Any, report: dict[str, Any]) -> str:
    """The report as a chat message for admins (Chinese labels from replies.toml)."""
    total = report["total"]
    lines = [
        ctx.say(
            "report.header",
            week=report["week"],
            opened=total["opened"],
            resolved=total["resolved"],
            overdue=total["overdue"],
            response=percent(total["response_rate"]),
            resolution=percent(total["resolution_rate"]),
            satisfaction=percent(total["satisfaction_rate"]),
        )
    ]
    for item in report["by_grid"]:
        lines.append(
            ctx.say(
                "report.grid_line",
                name=item["name"],
                opened=item["opened"],
                response=percent(item["response_rate"]),
                resolution=percent(item["resolution_rate"]),
                satisfaction=percent(item["satisfaction_rate"]),
                overdue=item["overdue"],
            )
        )
    return "\n".join(lines)
