"""Time limits in working time (Chinese calendar: holidays and make-up working days).

Each case has a phase (accept while new/assigned, resolve while in progress) and three alarms in
that phase: remind the owner before the limit, escalate to the leader at it, to the admins at
twice it. Sent alarms are bits on the case, so nothing fires twice after a restart; the sweep
looks at `alarm_at`, so nothing is missed after downtime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import IntFlag
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

from bot.config import Limits
from storage.models import Case

log = logging.getLogger("handlers.limits")
WORK_PERIODS = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
DAY_HOURS = sum(
    (datetime.combine(date.min, end) - datetime.combine(date.min, start)).seconds / 3600
    for start, end in WORK_PERIODS
)


class Alarm(IntFlag):
    ACCEPT_REMIND = 1
    ACCEPT_LEADER = 2
    ACCEPT_ADMIN = 4
    RESOLVE_REMIND = 8
    RESOLVE_LEADER = 16
    RESOLVE_ADMIN = 32


ACCEPT_ALARMS = Alarm.ACCEPT_REMIND | Alarm.ACCEPT_LEADER | Alarm.ACCEPT_ADMIN
RESOLVE_ALARMS = Alarm.RESOLVE_REMIND | Alarm.RESOLVE_LEADER | Alarm.RESOLVE_ADMIN


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """Official working days, make-up days (调休) included. For a year the calendar has no
    official schedule of yet: Monday to Friday but the statutory holidays."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _without_schedule(day.year)
        return day.weekday() < 5 and day not in statutory_holidays(day.year)


def is_public_holiday(day: date) -> bool:
    """A named public holiday (春节, 国庆...), not an ordinary weekend: what `--skip-holidays`
    skips."""
    try:
        _, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return day in statutory_holidays(day.year)
    return name is not None and not chinese_calendar.is_workday(day)


@lru_cache(maxsize=16)
def _without_schedule(year: int) -> None:
    log.warning(
        "chinese-calendar has no official schedule for %s: counting Monday to Friday without "
        "the statutory holidays; bridging days and make-up working days are not known",
        year,
    )


@lru_cache(maxsize=16)
def statutory_holidays(year: int) -> frozenset[date]:
    """The days off the law itself fixes (全国年节及纪念日放假办法, as amended in 2024, from
    2025): 元旦 1 day, 春节 4 (除夕 to 初三), 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3. The State
    Council's yearly schedule adds the bridging days and the make-up working days (调休), which
    only chinese-calendar's data knows: upgrade it when the schedule is published."""
    from lunardate import LunarDate

    spring = LunarDate(year, 1, 1).to_solar_date()
    days = {date(year, 1, 1), date(year, 5, 1), date(year, 5, 2)}
    days |= {spring + timedelta(days=offset) for offset in (-1, 0, 1, 2)}  # 除夕 to 初三
    days |= {
        d
        for d, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
        if name == "清明"
    }
    days |= {LunarDate(year, 5, 5).to_solar_date(), LunarDate(year, 8, 15).to_solar_date()}
    days |= {date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)}
    return frozenset(days)


def add_working_hours(
    start: datetime, hours: float, tz: ZoneInfo, workday: Callable[[date], bool] = is_workday
) -> datetime:
    """The moment `hours` of working time after `start` (skipping nights, weekends, holidays)."""
    remaining = timedelta(hours=hours)
    local = start.astimezone(tz)
    day = local.date()
    for _ in range(3660):  # ten years of days: a bound, never reached
        if workday(day):
            for begin, end in WORK_PERIODS:
                period_start = datetime.combine(day, begin, tz)
                period_end = datetime.combine(day, end, tz)
                cursor = max(period_start, local)
                if cursor >= period_end:
                    continue
                available = period_end - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
        day += timedelta(days=1)
        local = datetime.combine(day, time(0, 0), tz)
    raise ValueError("working time does not end")


def add_working_days(
    start: datetime, days: int, tz: ZoneInfo, workday: Callable[[date], bool] = is_workday
) -> datetime:
    return add_working_hours(start, days * DAY_HOURS, tz, workday)


@dataclass(frozen=True)
class Phase:
    name: str  # accept | resolve
    started: datetime
    due: datetime
    alarms: tuple[tuple[Alarm, datetime], ...]


def _kind(case: Case, limits: Limits) -> str:
    if case.category in limits.urgent_categories:
        return "urgent"
    if case.category in limits.long_categories:
        return "long"
    return "normal"


def phase(case: Case, limits: Limits, tz: ZoneInfo) -> Phase | None:
    """The running time limit of a case and its three alarms, or None when nothing runs."""
    kind = _kind(case, limits)
    f = limits.remind_before_fraction

    def after(start: datetime, share: float, what: str) -> datetime:
        if kind == "urgent":
            span = (
                timedelta(minutes=limits.urgent_accept_minutes)
                if what == "accept"
                else timedelta(hours=limits.urgent_resolve_hours)
            )
            return start + span * share
        if what == "accept":
            hours = limits.accept_hours_by_category.get(case.category, limits.accept_hours)
            return add_working_hours(start, hours * share, tz)
        days = limits.resolve_days_by_category.get(
            case.category, limits.long_resolve_days if kind == "long" else limits.resolve_days
        )
        return add_working_hours(start, days * DAY_HOURS * share, tz)

    if case.status in ("new", "assigned"):
        start = case.assigned_at or case.created_at
        alarms: tuple[tuple[Alarm, datetime], ...] = (
            (Alarm.ACCEPT_REMIND, after(start, 1 - f, "accept")),
            (Alarm.ACCEPT_LEADER, after(start, 1, "accept")),
            (Alarm.ACCEPT_ADMIN, after(start, 2, "accept")),
        )
        if case.status == "new":  # nobody to remind: the leader's queue already holds it
            alarms = alarms[1:]
        return Phase("accept", start, after(start, 1, "accept"), alarms)
    if case.status == "in_progress":
        start = case.accepted_at or case.updated_at
        if case.reopened_at is not None and case.reopened_at > start:
            start = case.reopened_at  # 重办: the worker gets the whole limit again
        alarms = (
            (Alarm.RESOLVE_REMIND, after(start, 1 - f, "resolve")),
            (Alarm.RESOLVE_LEADER, after(start, 1, "resolve")),
            (Alarm.RESOLVE_ADMIN, after(start, 2, "resolve")),
        )
        return Phase("resolve", start, after(start, 1, "resolve"), alarms)
    return None


def schedule(case: Case, limits: Limits, tz: ZoneInfo) -> None:
    """Set the case's deadlines and its next alarm from its status (after every change)."""
    current = phase(case, limits, tz)
    if current is None:
        case.alarm_at = None
        return
    if current.name == "accept":
        case.accept_due_at = current.due
    else:
        case.resolve_due_at = current.due
    pending = [at for bit, at in current.alarms if not case.alarms & bit]
    case.alarm_at = min(pending) if pending else None


def restart(case: Case, phase_name: str) -> None:
    """A phase starts over (assignment, reassignment, reopening): its alarms may fire again."""
    bits = ACCEPT_ALARMS if phase_name == "accept" else RESOLVE_ALARMS
    case.alarms = case.alarms & ~int(bits)


def due_alarms(case: Case, limits: Limits, tz: ZoneInfo, now: datetime) -> list[Alarm]:
    current = phase(case, limits, tz)
    if current is None:
        return []
    return [bit for bit, at in current.alarms if at <= now and not case.alarms & bit]
