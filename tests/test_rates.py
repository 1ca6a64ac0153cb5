"""The three rates and the weekly report on cases in known states."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select

from bot import jobs
from bot.pipeline import Deps
from handlers import rates, workflow
from handlers.context import Context
from storage.models import Case, OutboxMessage, Worker
from tests.dialog import send

TZ = ZoneInfo("Asia/Shanghai")


def _ctx(deps: Deps, tx) -> Context:
    return Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=deps.clock())


def _week_of_cases(deps: Deps, clock) -> None:
    """Mon 2026-11-16: four cases in grid g1 (w01): one satisfied, one unsatisfied then
    reopened, one accepted late, one never accepted (overdue)."""
    clock.now = datetime(2026, 11, 16, 9, 0, tzinfo=TZ)
    texts = ["1号楼电梯坏了", "2号楼楼道灯坏了", "3号楼门禁坏了", "1号楼下水道堵了"]
    for i, text in enumerate(texts):
        send(deps, text, sender=f"r{i}")
    with deps.store.unit() as tx:
        ctx = _ctx(deps, tx)
        w01 = tx.session.get(Worker, "w01")
        c1, c2, c3, _c4 = tx.session.scalars(select(Case).order_by(Case.id)).all()
        clock.now = datetime(2026, 11, 16, 9, 30, tzinfo=TZ)
        ctx.now = clock.now
        workflow.accept(ctx, c1, w01)
        workflow.accept(ctx, c2, w01)
        clock.now = datetime(2026, 11, 16, 14, 0, tzinfo=TZ)  # after the 2 working hours
        ctx.now = clock.now
        workflow.accept(ctx, c3, w01)
        clock.now = datetime(2026, 11, 17, 10, 0, tzinfo=TZ)
        ctx.now = clock.now
        workflow.resolve(ctx, c1, w01, "修好了")
        workflow.resolve(ctx, c2, w01, "换了灯泡")
    send(deps, "满意", sender="r0")
    send(deps, "不满意，还是不亮", sender="r1")
    clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=TZ)


def test_weekly_figures(deps: Deps, clock) -> None:
    _week_of_cases(deps, clock)
    with deps.store.unit() as tx:
        report = rates.weekly(
            tx, deps.config, week="2026-W47", now=clock.now, category_names={"repair": "物业维修"}
        )
    total = report["total"]
    assert (report["week"], total["opened"], total["assigned"], total["accepted"]) == (
        "2026-W47",
        4,
        4,
        3,
    )
    assert total["response_rate"] == 0.5  # 2 on time of 4 decided (1 late, 1 never)
    assert total["rated"] == 2
    assert total["resolution_rate"] == 0.5 and total["satisfaction_rate"] == 0.5
    assert total["reopen_rate"] == 0.5  # one of two resolved was reopened
    assert total["overdue"] >= 1
    assert total["median_accept_minutes"] == 30.0
    (grid,) = report["by_grid"]
    assert (grid["key"], grid["name"], grid["opened"]) == ("g1", "第一网格", 4)
    assert [w["name"] for w in report["by_worker"]] == ["张敏"]
    assert report["by_category"][0]["name"] == "物业维修"


def test_the_return_rate_is_the_returning_workers(deps: Deps, clock) -> None:
    """w01 returns one of two cases, which the leader gives to w02: the return is w01's."""
    clock.now = datetime(2026, 11, 16, 9, 0, tzinfo=TZ)
    send(deps, "1号楼电梯坏了", sender="r1")
    send(deps, "2号楼楼道灯坏了", sender="r2")
    with deps.store.unit() as tx:
        ctx = _ctx(deps, tx)
        w01, w02 = tx.session.get(Worker, "w01"), tx.session.get(Worker, "w02")
        c1, c2 = tx.session.scalars(select(Case).order_by(Case.id)).all()
        assert c1.assignee_id == c2.assignee_id == "w01"
        workflow.accept(ctx, c1, w01)
        workflow.give_back(ctx, c2, w01, "不属于本网格")
        workflow.assign(ctx, c2, w02, actor="worker:l01")
    with deps.store.unit() as tx:
        report = rates.weekly(tx, deps.config, week="2026-W47", now=clock.now, category_names={})
    by_worker = {w["key"]: w for w in report["by_worker"]}
    assert by_worker["w01"]["return_rate"] == 0.5  # returned 1 of the 2 it held
    assert by_worker["w02"]["return_rate"] == 0.0  # returned nothing
    assert report["total"]["return_rate"] == 0.5  # 1 of 2 cases was returned once


def test_weekly_report_is_pushed_to_admins_once(deps: Deps, clock) -> None:
    _week_of_cases(deps, clock)
    with deps.store.unit() as tx:
        tx.session.get(Worker, "a01").telegram_id = 3001
    jobs.weekly_report(deps)
    jobs.weekly_report(deps)  # a second run in the same week (a restart) sends nothing
    with deps.store.unit() as tx:
        texts = [
            r.text
            for r in tx.session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient_id == "3001")
            )
        ]
    assert len(texts) == 1 and "2026-W47" in texts[0] and "响应率" in texts[0]


def test_excel_workbook(deps: Deps, clock, tmp_path: Path) -> None:
    _week_of_cases(deps, clock)
    with deps.store.unit() as tx:
        report = rates.weekly(tx, deps.config, week="2026-W47", now=clock.now, category_names={})
    path = tmp_path / "week.xlsx"
    rates.to_excel(report, path, deps.knowledge.current.replies)
    book = load_workbook(path)
    assert book.sheetnames == ["总体", "网格", "人员", "类别"]
    header = [c.value for c in book["网格"][1]]
    assert "响应率" in header and "满意率" in header
    assert book["网格"].cell(row=2, column=1).value == "第一网格"
    json.dumps(report)  # JSON-ready
