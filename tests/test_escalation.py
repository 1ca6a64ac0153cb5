"""Time limits in working time, reminders and escalations, with the clock moved across a public
holiday (National Day 2026) and a make-up working day (Saturday 2026-10-10)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import jobs
from bot.pipeline import Deps
from handlers.limits import add_working_hours, is_workday
from storage import cases
from storage.models import Case, OutboxMessage, Worker
from tests.dialog import send

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.mark.parametrize(
    "start,hours,expected",
    [
        (local(2026, 11, 27, 16, 30), 2, local(2026, 11, 30, 9, 30)),  # Friday -> Monday
        (local(2026, 9, 30, 17, 0), 2, local(2026, 10, 8, 10, 0)),  # over National Day
        (local(2026, 10, 9, 17, 0), 2, local(2026, 10, 10, 10, 0)),  # make-up Saturday counts
        (local(2026, 11, 25, 11, 0), 2, local(2026, 11, 25, 14, 30)),  # over lunch
        (local(2026, 11, 25, 7, 0), 1, local(2026, 11, 25, 9, 30)),  # before office hours
    ],
)
def test_add_working_hours(start: datetime, hours: float, expected: datetime) -> None:
    assert add_working_hours(start, hours, TZ) == expected


def test_calendar_knows_holidays_and_make_up_days() -> None:
    assert not is_workday(local(2026, 10, 1).date())
    assert is_workday(local(2026, 10, 10).date())  # Saturday, 调休
    assert not is_workday(local(2026, 10, 11).date())


def test_a_year_without_official_data_counts_weekdays_without_the_statutory_holidays() -> None:
    assert is_workday(local(2031, 3, 4).date()) and not is_workday(local(2031, 3, 8).date())
    # 2027 (no official schedule in this chinese-calendar): 元旦 is a Friday, 春节 初一 is 2/6,
    # so 除夕 (Friday 2/5) and 初二 and 初三 (Monday 2/8) are off; 端午 6/9, 中秋 9/15, 国庆 10/1.
    for day in ((1, 1), (2, 5), (2, 8), (6, 9), (9, 15), (10, 1)):
        assert not is_workday(local(2027, *day).date()), day
    assert is_workday(local(2027, 2, 9).date())  # 初四, a Tuesday: the law gives no more
    assert add_working_hours(local(2026, 12, 31, 17, 0), 2, TZ) == local(2027, 1, 4, 10, 0)


def test_the_statutory_holidays_agree_with_an_official_year() -> None:
    """Computed from the law and the lunar calendar: inside 2026's official days off."""
    import chinese_calendar

    from handlers.limits import statutory_holidays

    official = set(
        chinese_calendar.get_holidays(local(2026, 1, 1).date(), local(2026, 12, 31).date())
    )
    assert len(statutory_holidays(2026)) == 13 and statutory_holidays(2026) <= official


def _telegram(deps: Deps) -> None:
    with deps.store.unit() as tx:
        for worker_id, chat in (("w01", 1001), ("l01", 2001), ("a01", 3001)):
            tx.session.get(Worker, worker_id).telegram_id = chat


def _notices(deps: Deps, chat: int) -> list[str]:
    with deps.store.unit() as tx:
        rows = tx.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.recipient_id == str(chat), OutboxMessage.channel == "telegram"
            )
        )
        return [r.text for r in rows]


def test_escalation_across_national_day(deps: Deps, clock) -> None:
    _telegram(deps)
    clock.now = local(2026, 9, 30, 17, 0)
    send(deps, "3号楼电梯坏了")
    with deps.store.unit() as tx:
        case = tx.session.scalars(select(Case)).one()
        assert case.accept_due_at == local(2026, 10, 8, 10, 0)
    clock.now = local(2026, 10, 5, 12, 0)  # the holiday: nothing is due
    jobs.sweep(deps)
    assert not any("⏰" in t for t in _notices(deps, 1001))
    clock.now = local(2026, 10, 8, 9, 45)  # 75% of the limit passed: remind the owner
    jobs.sweep(deps)
    assert sum("⏰" in t for t in _notices(deps, 1001)) == 1
    assert not _notices(deps, 2001) or not any("超过" in t for t in _notices(deps, 2001))
    clock.now = local(2026, 10, 8, 10, 1)  # at the limit: the leader
    jobs.sweep(deps)
    jobs.sweep(deps)  # a second sweep (or a restart) sends nothing again
    assert sum("已超过签收时限" in t for t in _notices(deps, 2001)) == 1
    clock.now = local(2026, 10, 8, 12, 1)  # twice the limit: the admins
    jobs.sweep(deps)
    assert sum("超过签收时限一倍" in t for t in _notices(deps, 3001)) == 1
    with deps.store.unit() as tx:
        kinds = [e.kind for e in tx.session.scalars(select(Case)).one().events]
    assert kinds.count("remind") == 1 and kinds.count("escalate") == 2


def test_downtime_misses_nothing_and_the_make_up_day_counts(deps: Deps, clock) -> None:
    _telegram(deps)
    clock.now = local(2026, 10, 9, 17, 0)  # Friday before the make-up Saturday
    send(deps, "3号楼门禁坏了")
    clock.now = local(2026, 10, 12, 9, 0)  # the service was down all weekend
    jobs.sweep(deps)
    assert sum("⏰" in t for t in _notices(deps, 1001)) == 1
    assert sum("已超过签收时限" in t for t in _notices(deps, 2001)) == 1
    assert sum("一倍" in t for t in _notices(deps, 3001)) == 1


def test_accepting_stops_the_accept_alarms_and_starts_resolve_limits(deps: Deps, clock) -> None:
    from handlers import workflow
    from handlers.context import Context

    _telegram(deps)
    clock.now = local(2026, 11, 23, 9, 0)
    send(deps, "3号楼电梯坏了")
    clock.now = local(2026, 11, 23, 9, 30)
    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=clock.now)
        case = tx.session.scalars(select(Case)).one()
        workflow.accept(ctx, case, tx.session.get(Worker, "w01"))
        assert case.accepted_late is False
        assert case.resolve_due_at == local(2026, 11, 26, 9, 30)
    clock.now = local(2026, 11, 24, 9, 0)
    jobs.sweep(deps)
    assert not _notices(deps, 2001) or not any("超过" in t for t in _notices(deps, 2001))


def _accept_and_resolve(deps: Deps, note: str) -> str:
    """w01 accepts and resolves the one case there is, now; its number."""
    from handlers import workflow
    from handlers.context import Context

    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=deps.clock())
        case = tx.session.scalars(select(Case)).one()
        worker = tx.session.get(Worker, "w01")
        workflow.accept(ctx, case, worker)
        workflow.resolve(ctx, case, worker, note)
        return case.number


def test_a_reopened_case_gets_its_whole_resolve_limit_again(deps: Deps, clock) -> None:
    from handlers import workflow
    from handlers.context import Context

    _telegram(deps)
    clock.now = local(2026, 11, 2, 9, 0)
    send(deps, "3号楼电梯坏了", sender="oAgain")
    _accept_and_resolve(deps, "已报修")
    clock.now = local(2026, 11, 16, 10, 0)  # two weeks later the resident says: not solved
    send(deps, "不满意，电梯还是坏的", sender="oAgain")
    with deps.store.unit() as tx:
        case = tx.session.scalars(select(Case)).one()
        assert (case.status, case.reopen_count) == ("in_progress", 1)
        assert case.resolve_due_at == local(2026, 11, 19, 10, 0)  # 3 working days from now
    clock.now = local(2026, 11, 16, 10, 5)
    jobs.sweep(deps)  # nothing is overdue a few minutes after reopening
    assert not any("超过" in t for t in _notices(deps, 2001) + _notices(deps, 3001))
    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=clock.now)
        case = tx.session.scalars(select(Case)).one()
        workflow.resolve(ctx, case, tx.session.get(Worker, "w01"), "已更换电机")
        assert case.resolved_late is False


def test_a_category_may_have_its_own_limits(deps: Deps, clock) -> None:
    from dataclasses import replace

    from handlers import workflow
    from handlers.context import Context

    limits = replace(
        deps.config.limits,
        accept_hours_by_category={"repair": 4.0},
        resolve_days_by_category={"repair": 5.0},
    )
    deps = replace(deps, config=replace(deps.config, limits=limits))
    clock.now = local(2026, 11, 23, 9, 0)  # a Monday
    reply = send(deps, "3号楼电梯坏了", sender="oOwn").text
    assert "4个工作小时内签收" in reply
    with deps.store.unit() as tx:
        case = tx.session.scalars(select(Case)).one()
        assert case.accept_due_at == local(2026, 11, 23, 14, 30)  # 4 working hours, over lunch
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=clock.now)
        workflow.accept(ctx, case, tx.session.get(Worker, "w01"))
        assert case.resolve_due_at == local(2026, 11, 30, 9, 0)  # 5 working days
    send(deps, "5号楼门口垃圾没人清", sender="oOther")  # environment: the defaults
    with deps.store.unit() as tx:
        other = tx.session.scalars(select(Case).where(Case.category == "environment")).one()
        assert other.accept_due_at == local(2026, 11, 23, 11, 0)


def test_urgent_cases_run_around_the_clock(deps: Deps, clock) -> None:
    _telegram(deps)
    clock.now = local(2026, 10, 3, 23, 0)  # a holiday night
    send(deps, "3号楼独居老人好几天没出门了，敲门没人应")
    with deps.store.unit() as tx:
        case = tx.session.scalars(select(Case)).one()
        assert case.urgent and case.accept_due_at == local(2026, 10, 3, 23, 30)
    clock.now = local(2026, 10, 3, 23, 31)
    jobs.sweep(deps)
    assert any("已超过签收时限" in t for t in _notices(deps, 2001))


def test_silence_after_resolution_closes_the_case(deps: Deps, clock) -> None:
    send(deps, "3号楼电梯坏了", sender="oQuiet")
    number = _accept_and_resolve(deps, "修好了")
    clock.advance(days=deps.config.cases.auto_close_days, hours=1)
    jobs.sweep(deps)
    with deps.store.unit() as tx:
        assert cases.by_number(tx, number).status == "closed"


def test_one_run_over_many_cases_tells_each_recipient_once_per_alarm(deps: Deps, clock) -> None:
    """After a downtime several cases are due in the same run: each alarm of each case reaches
    the owner, the leader or every admin once (recipients are looked up once a run), and the
    notices are queued in the same transaction as the alarm bits: a second run adds nothing."""
    _telegram(deps)
    with deps.store.unit() as tx:
        tx.session.add(Worker(id="a02", name="刘洋", role="admin", telegram_id=3002))
    clock.now = local(2026, 11, 23, 9, 0)
    for text in ("3号楼电梯坏了", "2号楼楼道灯坏了", "1号楼门禁坏了"):
        send(deps, text, sender=f"resident-{text[0]}")
    clock.now = local(2026, 11, 23, 17, 0)  # nobody swept all day: every alarm is due
    jobs.sweep(deps)
    jobs.sweep(deps)
    assert sum("⏰" in t for t in _notices(deps, 1001)) == 3
    assert sum("已超过签收时限" in t for t in _notices(deps, 2001)) == 3
    for admin in (3001, 3002):
        assert sum("超过签收时限一倍" in t for t in _notices(deps, admin)) == 3
    with deps.store.unit() as tx:
        rows = [
            r
            for r in tx.session.scalars(select(OutboxMessage))
            if "⏰" in r.text or "超过" in r.text
        ]
        assert len(rows) == 12
        assert {(r.channel, r.status, r.is_reply, r.inbound_id) for r in rows} == {
            ("telegram", "pending", False, None)
        }
        for case in tx.session.scalars(select(Case)):
            assert [e.kind for e in case.events].count("escalate") == 2
