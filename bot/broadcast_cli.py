"""`python -m bot broadcast add|list|preview|cancel|report` as CONTRACT.md says."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from bot.pipeline import Deps
from handlers import broadcast as rules
from handlers.context import Context
from storage import broadcasts


def add_parser(sub: Any) -> None:
    p = sub.add_parser("broadcast", help="announcements and law education")
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="schedule a broadcast")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", help='"YYYY-MM-DD HH:MM" in the configured timezone, or "now"')
    when.add_argument("--cron", help='"m h dom mon dow", e.g. "0 9 * * 1" (Mondays 09:00)')
    add.add_argument("--kind", required=True, choices=broadcasts.KINDS)
    add.add_argument("--audience", required=True, help="all | grid:ID | building:NAME | tag:NAME")
    add.add_argument("--channel", required=True, choices=broadcasts.CHANNELS)
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--text")
    what.add_argument("--item", help="a law item id of knowledge/law/")
    add.add_argument("--skip-holidays", action="store_true", help="skip public holidays")
    add.add_argument("--json", action="store_true")
    listing = actions.add_parser("list")
    listing.add_argument("--json", action="store_true")
    for name in ("preview", "cancel"):
        actions.add_parser(name).add_argument("id", type=int)
    report = actions.add_parser("report")
    report.add_argument("id", type=int)
    report.add_argument("--json", action="store_true")
    tag = actions.add_parser("tag", help="put a resident (WeChat openid) in an audience tag")
    tag.add_argument("openid")
    tag.add_argument("tag", help="elderly, parents, landlords, tenants, ...")


def _when(text: str, deps: Deps) -> datetime:
    if text.strip().lower() == "now":
        return deps.clock()
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=deps.config.tz)
    except ValueError:
        raise rules.BroadcastError('--at takes "YYYY-MM-DD HH:MM" or "now"', "at") from None


def _row(b: Any, deps: Deps) -> dict[str, Any]:
    nxt = rules.next_run(b, deps.config.tz, deps.clock())
    return {
        "id": b.id,
        "kind": b.kind,
        "audience": b.audience,
        "channel": b.channel,
        "status": b.status,
        "at": b.run_at.isoformat() if b.run_at else None,
        "cron": b.cron or None,
        "item": b.item_id or None,
        "next_run": nxt.astimezone(deps.config.tz).isoformat() if nxt else None,
    }


def run(args: argparse.Namespace, deps: Deps) -> int:
    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=deps.clock())
        try:
            return ACTIONS[args.action](args, ctx, deps)
        except rules.BroadcastError as exc:
            print(f"refused: {exc}")
            return 2


def _add(args: argparse.Namespace, ctx: Context, deps: Deps) -> int:
    schedule = rules.Schedule(
        kind=args.kind,
        audience=args.audience,
        channel=args.channel,
        text=args.text or "",
        item_id=args.item or "",
        run_at=_when(args.at, deps) if args.at else None,
        cron=args.cron or "",
        skip_holidays=args.skip_holidays,
    )
    b = rules.create(ctx, schedule, created_by="cli")
    row = _row(b, deps)
    if args.json:
        print(json.dumps({"id": row["id"], "next_run": row["next_run"]}, ensure_ascii=False))
    else:
        print(f"broadcast {b.id} scheduled; next run {row['next_run']}")
    return 0


def _list(args: argparse.Namespace, ctx: Context, deps: Deps) -> int:
    rows = [_row(b, deps) for b in broadcasts.listing(ctx.tx)]
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(
                f"#{row['id']:<4} {row['status']:<9} {row['kind']:<6} {row['channel']:<11} "
                f"{row['audience']:<16} {row['cron'] or row['at']}  next: {row['next_run']}"
            )
    if not rows and not args.json:
        print("no broadcasts")
    return 0


def _preview(args: argparse.Namespace, ctx: Context, deps: Deps) -> int:
    b = broadcasts.get(ctx.tx, args.id)
    if b is None:
        print(f"no broadcast {args.id}")
        return 1
    print(rules.render(ctx, b))
    return 0


def _cancel(args: argparse.Namespace, ctx: Context, deps: Deps) -> int:
    b = broadcasts.get(ctx.tx, args.id)
    if b is None:
        print(f"no broadcast {args.id}")
        return 1
    b.status = "cancelled"
    print(f"broadcast {b.id} cancelled")
    return 0


def _report(args: argparse.Namespace, ctx: Context, deps: Deps) -> int:
    b = broadcasts.get(ctx.tx, args.id)
    if b is None:
        print(f"no broadcast {args.id}")
        return 1
    runs: list[dict[str, Any]] = []
    for r in broadcasts.runs(ctx.tx, b.id):
        counts = broadcasts.counts(ctx.tx, r.id)
        runs.append(
            {
                "at": r.scheduled_for.astimezone(deps.config.tz).isoformat(),
                "recipients": r.recipients,
                "sent": counts.get("sent", 0),
                "failed": counts.get("failed", 0),
                "skipped": counts.get("skipped", 0),
                "pending": counts.get("pending", 0) + counts.get("sending", 0),
                "status": r.status,
            }
        )
    if args.json:
        print(json.dumps({"id": b.id, "runs": runs}, ensure_ascii=False))
    else:
        for run_row in runs:
            print(
                f"{run_row['at'][:16]}  recipients {run_row['recipients']}  sent "
                f"{run_row['sent']}  failed {run_row['failed']}  skipped {run_row['skipped']}  "
                f"pending {run_row['pending']}"
            )
        if not runs:
            print("not run yet")
    return 0


def _tag(args: argparse.Namespace, ctx: Context, deps: Deps) -> int:
    from storage import residents

    identity = residents.find_identity(ctx.tx, channel="wechat", external_id=args.openid)
    if identity is None or identity.resident_id is None:
        print(f"no resident writes from {args.openid!r}")
        return 1
    broadcasts.tag_resident(ctx.tx, resident_id=identity.resident_id, tag=args.tag)
    print(f"{args.openid} tagged {args.tag}")
    return 0


ACTIONS = {
    "tag": _tag,
    "add": _add,
    "list": _list,
    "preview": _preview,
    "cancel": _cancel,
    "report": _report,
}
