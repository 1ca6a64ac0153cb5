"""`cases list` and `cases show` for operators: plain text or one JSON object a line."""

from __future__ import annotations

import json
from typing import Any

from bot.pipeline import Deps
from storage import cases
from storage.models import Case


def summary(case: Case, tz: Any) -> dict[str, Any]:
    return {
        "number": case.number,
        "status": case.status,
        "category": case.category,
        "grid": case.grid_id,
        "assignee": case.assignee_id,
        "created_at": case.created_at.astimezone(tz).isoformat(),
        "urgent": case.urgent,
        "address": case.address,
    }


def detail(case: Case, tz: Any) -> dict[str, Any]:
    data = summary(case, tz)
    data["text"] = case.text
    data["events"] = [
        {
            "at": e.at.astimezone(tz).isoformat(),
            "actor": e.actor,
            "kind": e.kind,
            "from": e.from_status or None,
            "to": e.to_status or None,
            "note": e.note,
        }
        for e in case.events
    ]
    return data


def print_list(deps: Deps, *, status: str | None, as_json: bool, limit: int | None = None) -> int:
    """Every case (or the newest `limit`), newest first, printed as it is read."""
    tz = deps.config.tz
    printed = 0
    with deps.store.reading() as tx:  # no write lock held while printing
        for case in cases.iter_listing(tx, status=status, limit=limit):
            row = summary(case, tz)
            if as_json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(
                    f"{row['number']}  {row['status']:<12} {row['category']:<12} "
                    f"{row['grid'] or '-':<6} {row['assignee'] or '-':<6} {row['created_at'][:16]}"
                )
            printed += 1
    if not printed and not as_json:
        print("no cases")
    return 0


def print_case(deps: Deps, number: str, *, as_json: bool) -> int:
    tz = deps.config.tz
    with deps.store.unit() as tx:
        case = cases.by_number(tx, number)
        data = detail(case, tz) if case else None
    if data is None:
        print(f"no case {number}")
        return 1
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return 0
    print(
        f"{data['number']} {data['status']} {data['category']} grid={data['grid']} "
        f"assignee={data['assignee']}\n{data['text']}"
    )
    for event in data["events"]:
        move = f"{event['from'] or ''}->{event['to']}" if event["to"] else ""
        print(
            f"  {event['at'][:16]} {event['actor']:<14} {event['kind']:<10} {move} {event['note']}"
        )
    return 0
