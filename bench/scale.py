"""District-scale figures (issue 4): /mycases, the weekly report and the alarm sweep on 1M cases.

    .venv/bin/python bench/scale.py                      # generate /tmp/bot-scale.db, then measure
    .venv/bin/python bench/scale.py --reuse              # measure again on the generated database
    .venv/bin/python bench/scale.py --cases 50000 --workers 1000 --grids 330 --db /tmp/small.db

Generates, into a SQLite file, a district: 20 communities, ~3,300 grids with 4-8 buildings each,
10,000 staff (grid workers, grid leaders, admins) and 1,000,000 cases over the two years before a
fixed moment (Wednesday 2026-11-25 10:00 Asia/Shanghai), with the status mix that the lifecycle
produces (most closed, resolved ones waiting for a rating, a few thousand open, some overdue),
working-time deadlines, ratings, returns and reopenings, alarm bits and `alarm_at` of open cases
exactly as handlers.limits computes them, and case_events rows (created + the last step for
historical cases, the whole timeline for open ones). The schema comes from the project's Alembic
migrations (Store.migrate); rows go in with SQLAlchemy Core executemany in large transactions on
the project's engine (BEGIN IMMEDIATE, foreign keys on).

Then it measures, through the project's own code, p50/p95/max over repeated runs:
  1. /mycases: ROUTES[(worker, "cmd:mycases")] (handlers.worker.my_cases) in a unit of work, and
     storage.cases.for_assignee alone (busiest worker, and a sample of workers);
  2. handlers.rates.weekly for the whole district (busiest week, and last week);
  3. handlers.escalation.sweep_alarms through bot.jobs.run with some hundreds of alarms due (as
     after a downtime) and with none due; the sweep writes, so the open cases' alarm state, the
     new case_events and the outbox are restored from a snapshot before every run.
With --proposals (default on) it also times changes this benchmark proposes, applied to the
benchmark's database or process only and removed afterwards (labelled PROPOSAL): nothing in
storage/, handlers/ or bot/ is changed. (S1 and S2, the worker_grids index and the sweep's
batched writes, are in the project since migration 0004.)
"""

from __future__ import annotations

import argparse
import array
import bisect
import cProfile
import io
import json
import logging
import math
import os
import platform
import pstats
import random
import sqlite3
import statistics
import sys
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, event, insert, select  # noqa: E402

from bot.config import Config, load_config  # noqa: E402
from bot.messages import Channel, Incoming, Kind, Role  # noqa: E402
from handlers import ROUTES, escalation, limits, rates, workflow  # noqa: E402
from handlers.context import Context, Request  # noqa: E402
from storage import cases as case_queries  # noqa: E402
from storage import reports, roster  # noqa: E402
from storage.models import (  # noqa: E402
    Building,
    Case,
    CaseEvent,
    Community,
    Counter,
    Grid,
    Identity,
    Resident,
    Worker,
    WorkerGrid,
)
from storage.store import Store  # noqa: E402

LOCAL = ZoneInfo("Asia/Shanghai")
DATA_NOW = datetime(2026, 11, 25, 10, 0, tzinfo=LOCAL)  # a Wednesday morning: the sweep is current
SPAN_DAYS = 730
FORMAT_VERSION = 3  # bump when the generated data changes shape (--reuse then regenerates)
OPEN = ("new", "assigned", "in_progress")
SNAPSHOT_STATUSES = (*OPEN, "resolved")  # what the sweeps may change

COMMUNITY_NAMES = (
    "幸福里 和平 光明 建设 新华 朝阳 东风 向阳 长青 锦绣 "
    "春晖 红旗 团结 友谊 繁荣 金桥 翠苑 明珠 滨江 桂花"
).split()
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
    "许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏波宁斌浩凯晨欣怡雪梅琳"
CATEGORIES = {  # category: (weight, text templates)
    "environment": (
        18,
        (
            "{b}楼下垃圾桶满了没人清运",
            "{b}门口绿化带有人乱倒建筑垃圾",
            "小区{b}旁边下水道堵了有臭味",
        ),
    ),
    "repair": (
        22,
        (
            "{b}{u}单元楼道灯坏了",
            "{b}电梯又停了，老人上下楼很困难",
            "{b}{u}单元单元门门禁坏了关不上",
        ),
    ),
    "noise": (
        9,
        (
            "{b}楼上每天晚上十一点以后还在装修",
            "{b}附近广场舞音响太吵了",
            "{b}楼下商铺空调外机噪音很大",
        ),
    ),
    "neighbor": (
        6,
        (
            "{b}{u}单元邻居在楼道堆放杂物",
            "{b}楼上漏水到我家，协商不成",
            "{b}邻居家的狗经常在楼道便溺",
        ),
    ),
    "parking": (10, ("{b}消防通道被车堵住了", "{b}门口电动车乱停", "小区{b}旁边僵尸车停了半年")),
    "security": (
        3,
        ("{b}附近有人发传单推销保健品", "{b}单元门口有陌生人徘徊", "有人冒充社区工作人员上门收费"),
    ),
    "fire": (
        2,
        ("{b}{u}单元楼道里有人给电动车充电", "{b}地下室堆满纸箱有火灾隐患", "{b}消防栓没有水"),
    ),
    "facilities": (12, ("{b}旁边健身器材坏了", "{b}门口路灯不亮", "{b}旁边的座椅断了")),
    "construction": (
        4,
        ("{b}顶楼有人违章搭建", "{b}一楼住户私自扩建院子", "{b}阳台外面违规加装铁架"),
    ),
    "pets": (5, ("{b}有人遛狗不牵绳", "{b}附近流浪猫太多", "{b}楼下有大型犬没有登记")),
    "elderly": (
        2,
        ("{b}{u}单元独居老人几天没见出门了", "{b}有位老人需要助餐服务", "{b}残疾人家庭需要帮助"),
    ),
    "assistance": (
        2,
        (
            "{b}有户家庭生活困难想申请救助",
            "想咨询{b}困难家庭临时救助",
            "{b}有位居民失业想了解帮扶政策",
        ),
    ),
    "other": (
        5,
        ("{b}附近的问题想反映一下", "社区活动能不能多组织一些", "{b}这边有个情况想跟网格员说"),
    ),
}
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 8, 14, 16, 16, 15, 10, 9, 13, 14, 14, 13, 11, 10, 9, 7, 5, 3)


def table(model: Any) -> Table:
    """The Core table of a model (the rows go in with Core executemany, not the ORM)."""
    return cast(Table, model.__table__)


def log(message: str) -> None:
    print(message, flush=True)


# -- working time, fast ---------------------------------------------------------------------


class WorkClock:
    """handlers.limits.add_working_hours at minute resolution by a prefix-sum table (for history).

    Open cases use handlers.limits itself; this only makes two years of history quick to
    generate (within a minute of the exact function, checked at start)."""

    def __init__(self, first: date, last: date, tz: ZoneInfo) -> None:
        self.t0 = datetime.combine(first, dtime(0, 0), tz).timestamp()
        cum = array.array("q", [0])
        total = 0
        day = first
        while day <= last:
            working = limits.is_workday(day)
            spans = [
                (s.hour * 60 + s.minute, e.hour * 60 + e.minute) for s, e in limits.WORK_PERIODS
            ]
            for minute in range(1440):
                if working and any(a <= minute < b for a, b in spans):
                    total += 1
                cum.append(total)
            day += timedelta(days=1)
        self.cum = cum
        self.tz = tz

    def add(self, ts: float, hours: float) -> float:
        index = math.ceil((ts - self.t0) / 60)
        if index < 0 or index >= len(self.cum):
            return self._exact(ts, hours)
        target = self.cum[index] + round(hours * 60)
        found = bisect.bisect_left(self.cum, target, lo=index)
        if found >= len(self.cum):
            return self._exact(ts, hours)
        return self.t0 + found * 60

    def _exact(self, ts: float, hours: float) -> float:
        start = datetime.fromtimestamp(ts, UTC)
        return limits.add_working_hours(start, hours, self.tz).timestamp()

    def check(self, rng: random.Random, lo: float, hi: float) -> float:
        worst = 0.0
        for _ in range(2000):
            ts = rng.uniform(lo, hi)
            hours = rng.choice((0.5, 1.5, 2.0, 4.0, 22.5, 112.5))
            worst = max(worst, abs(self.add(ts, hours) - self._exact(ts, hours)))
        return worst


# -- the roster -----------------------------------------------------------------------------


@dataclass
class District:
    communities: list[tuple[str, str]] = field(default_factory=list)
    grids: list[dict[str, Any]] = field(default_factory=list)
    buildings: list[dict[str, Any]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    grid_buildings: dict[str, list[str]] = field(default_factory=dict)
    on_duty: dict[str, str | None] = field(default_factory=dict)
    own: dict[str, list[str]] = field(default_factory=dict)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def make_district(
    rng: random.Random, n_communities: int, n_grids: int, n_workers: int
) -> District:
    d = District()
    for i in range(n_communities):
        name = COMMUNITY_NAMES[i % len(COMMUNITY_NAMES)] + (
            "" if i < len(COMMUNITY_NAMES) else str(i)
        )
        d.communities.append((f"c{i + 1:02d}", f"{name}社区"))
    per = [
        n_grids // n_communities + (1 if i < n_grids % n_communities else 0)
        for i in range(n_communities)
    ]
    for (cid, cname), count in zip(d.communities, per, strict=True):
        number = 0
        for j in range(1, count + 1):
            gid = f"{cid}-g{j:03d}"
            d.grids.append({"id": gid, "community_id": cid, "name": f"{cname}第{j}网格"})
            keys = []
            for _ in range(rng.randint(4, 8)):
                number += 1
                key = f"{cname[:-2]}{number}号楼"
                d.buildings.append({"grid_id": gid, "name": key, "key": key})
                keys.append(key)
            d.grid_buildings[gid] = keys
    grid_ids = [g["id"] for g in d.grids]
    n_admins = n_communities + 1
    n_leaders = math.ceil(len(grid_ids) / 10)
    n_plain = n_workers - n_admins - n_leaders
    if n_plain < len(grid_ids):
        raise SystemExit(
            "need at least one grid worker per grid: raise --workers or lower --grids"
        )
    serial = 0

    def add(role: str, on_leave: bool = False) -> str:
        nonlocal serial
        serial += 1
        wid = f"w{serial:05d}"
        d.workers.append(
            {
                "id": wid,
                "name": person_name(rng),
                "role": role,
                "phone": f"13{rng.randrange(10**9):09d}",
                "telegram_id": 7_000_000_000 + serial,
                "on_leave": on_leave,
                "active": True,
            }
        )
        return wid

    for _ in range(n_admins):
        add("admin")
    for leader in range(n_leaders):
        wid = add("leader")
        for gid in grid_ids[leader * 10 : leader * 10 + 10]:
            d.links.append({"worker_id": wid, "grid_id": gid, "relation": "lead"})
    backups: dict[str, list[str]] = {g: [] for g in grid_ids}
    for k in range(n_plain):
        gid = grid_ids[k % len(grid_ids)]
        wid = add("worker", on_leave=rng.random() < 0.02)
        d.own.setdefault(gid, []).append(wid)
        d.links.append({"worker_id": wid, "grid_id": gid, "relation": "own"})
        backup = grid_ids[(k + 1) % len(grid_ids)]
        d.links.append({"worker_id": wid, "grid_id": backup, "relation": "backup"})
        backups[backup].append(wid)
    leave = {w["id"] for w in d.workers if w["on_leave"]}
    for gid in grid_ids:  # routing.on_duty: the first own worker not on leave, else a backup
        candidates = sorted(d.own.get(gid, [])) + sorted(backups[gid])
        d.on_duty[gid] = next((w for w in candidates if w not in leave), None)
    return d


# -- cases ----------------------------------------------------------------------------------


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def case_times(rng: random.Random, n: int, tz: ZoneInfo) -> list[float]:
    """n creation moments in the SPAN_DAYS before DATA_NOW: growth, seasons, weekends, a storm."""
    last = DATA_NOW.date()
    first = last - timedelta(days=SPAN_DAYS)
    days = [first + timedelta(days=i) for i in range(SPAN_DAYS + 1)]
    storm = (date(2026, 7, 27), date(2026, 8, 2))  # a typhoon week: the busiest of the period
    weights = []
    for i, day in enumerate(days):
        w = 0.7 + 0.5 * i / SPAN_DAYS  # adoption grows over the two years
        w *= {1: 0.85, 2: 0.8, 6: 1.1, 7: 1.25, 8: 1.25, 9: 1.1, 12: 0.9}.get(day.month, 1.0)
        if day.weekday() >= 5:
            w *= 0.75
        elif not limits.is_workday(day):
            w *= 0.7
        if storm[0] <= day <= storm[1]:
            w *= 1.9
        weights.append(w)
    midnights = [datetime.combine(day, dtime(0, 0), tz).timestamp() for day in days]
    cum_days = list(_cumulate(weights))
    cum_hours = list(_cumulate(HOUR_WEIGHTS))
    limit = DATA_NOW.timestamp()
    out: list[float] = []
    while len(out) < n:
        k = n - len(out)
        picked = rng.choices(range(len(days)), cum_weights=cum_days, k=k)
        hours = rng.choices(range(24), cum_weights=cum_hours, k=k)
        for day_index, hour in zip(picked, hours, strict=True):
            ts = float(int(midnights[day_index] + hour * 3600 + rng.random() * 3600))
            if ts < limit:
                out.append(ts)
    out.sort()
    return out


def _cumulate(values: Any) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


class CaseMaker:
    """One case row and its events from its creation moment, cut at DATA_NOW by the lifecycle."""

    def __init__(
        self,
        rng: random.Random,
        district: District,
        config: Config,
        clock: WorkClock,
        n_residents: int,
    ) -> None:
        self.rng = rng
        self.d = district
        self.limits = config.limits
        self.tz = config.tz
        self.clock = clock
        self.now = DATA_NOW.timestamp()
        self.grid_ids = [g["id"] for g in district.grids]
        # busy and quiet grids: lognormal weights (sigma 0.8: the busiest grid has ~15x the median)
        grid_weights = [math.exp(rng.gauss(0.0, 0.8)) for _ in self.grid_ids]
        self.grid_cum = list(_cumulate(grid_weights))
        cats = list(CATEGORIES)
        self.categories = cats
        self.cat_cum = list(_cumulate(CATEGORIES[c][0] for c in cats))
        self.residents_of: dict[str, list[int]] = {g: [] for g in self.grid_ids}
        self.residents: list[dict[str, Any]] = []
        start = DATA_NOW - timedelta(days=SPAN_DAYS + 30)
        for rid in range(1, n_residents + 1):
            gid = rng.choices(self.grid_ids, cum_weights=self.grid_cum)[0]
            building = rng.choice(district.grid_buildings[gid])
            self.residents_of[gid].append(rid)
            self.residents.append(
                {
                    "id": rid,
                    "name": person_name(rng) if rng.random() < 0.7 else "",
                    "phone": f"13{rng.randrange(10**9):09d}" if rng.random() < 0.6 else "",
                    "building": building,
                    "unit": str(rng.randint(1, 6)),
                    "room": f"{rng.randint(1, 18)}0{rng.randint(1, 4)}",
                    "grid_id": gid,
                    "subscribe_law": None,
                    "subscribe_notice": None,
                    "created_at": start + timedelta(seconds=rng.randrange(86400 * 30)),
                    "last_inbound_at": DATA_NOW - timedelta(seconds=rng.randrange(86400 * 600)),
                }
            )
        self.resident_by_id = {r["id"]: r for r in self.residents}
        self.seq: Tally[int] = Tally()
        self.worker_name = {w["id"]: w["name"] for w in district.workers}

    def dt(self, ts: float | None) -> datetime | None:
        return None if ts is None else datetime.fromtimestamp(ts, UTC)

    def make(self, case_id: int, created: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rng, lim, clock, now = self.rng, self.limits, self.clock, self.now
        category = rng.choices(self.categories, cum_weights=self.cat_cum)[0]
        urgent = category in lim.urgent_categories
        long = category in lim.long_categories
        gid = rng.choices(self.grid_ids, cum_weights=self.grid_cum)[0]
        pool = self.residents_of[gid]
        resident_id = rng.choice(pool) if pool and rng.random() < 0.97 else None
        filed_by = ""
        worker = self.d.on_duty[gid]
        if resident_id is not None and rng.random() < 0.04 and worker:
            filed_by = worker  # 代办: the grid worker filed it for a resident
        resident = self.resident_by_id.get(resident_id) if resident_id else None
        if resident is not None:
            building, unit, room = resident["building"], resident["unit"], resident["room"]
        else:
            building, unit, room = (
                rng.choice(self.d.grid_buildings[gid]),
                str(rng.randint(1, 6)),
                "",
            )
        address = f"{building}{unit}单元{room}" if room else f"{building}{unit}单元"
        words = rng.choice(CATEGORIES[category][1]).format(b=building, u=unit)
        year = datetime.fromtimestamp(created, self.tz).year
        self.seq[year] += 1
        actor_created = (
            f"worker:{filed_by}"
            if filed_by
            else (f"resident:{resident_id}" if resident_id else "system")
        )
        row: dict[str, Any] = {
            "id": case_id,
            "number": f"{year}-{self.seq[year]:06d}",
            "resident_id": resident_id,
            "filed_by": filed_by,
            "category": category,
            "status": "new",
            "text": words,
            "building": building,
            "address": address,
            "latitude": 31.2 + rng.random() * 0.1 if rng.random() < 0.1 else None,
            "longitude": 121.4 + rng.random() * 0.1 if rng.random() < 0.1 else None,
            "grid_id": gid,
            "assignee_id": None,
            "urgent": urgent,
            "sensitive": category in lim.sensitive_categories,
            "anonymous": False,
            "merged_into_id": None,
            "report_count": 1 + (rng.random() < 0.08) + (rng.random() < 0.02),
            "created_at": created,
            "updated_at": created,
            "assigned_at": None,
            "accepted_at": None,
            "resolved_at": None,
            "closed_at": None,
            "accept_due_at": None,
            "resolve_due_at": None,
            "alarm_at": None,
            "alarms": 0,
            "accepted_late": None,
            "resolved_late": None,
            "rating": "",
            "solved": None,
            "reopen_count": 0,
            "return_count": 0,
        }
        events = [(created, actor_created, "created", "", "new", "")]
        r = rng.random()
        if r < 0.015 and case_id > 1:  # a duplicate merged into an earlier open case
            end = created + rng.uniform(60, 1800)
            if end <= now:
                row.update(status="merged", merged_into_id=max(1, case_id - rng.randint(1, 300)))
                row.update(closed_at=end, updated_at=end)
                events.append((end, "system", "merge", "new", "merged", ""))
                return self._finish(row, events)
        if 0.015 <= r < 0.03:  # withdrawn by the resident
            end = created + lognormal(rng, 3600, 1.0)
            if end <= now:
                row.update(status="cancelled", closed_at=end, updated_at=end)
                events.append((end, actor_created, "cancel", "new", "cancelled", ""))
                return self._finish(row, events)
        # routing: assigned at once to the on-duty worker; no worker (3%): a leader assigns later
        if worker is None or rng.random() < 0.03:
            assigned = clock.add(created, lognormal(rng, 1.0, 0.8))
        else:
            assigned = created + rng.uniform(1, 3)
        own = self.d.own.get(gid, [])
        if worker is None or (own and rng.random() < 0.12):
            worker = rng.choice(own) if own else self.grid_worker_fallback()
        returned = rng.random() < 0.04
        if returned:  # returned once, reassigned by the leader
            assigned = clock.add(assigned, lognormal(rng, 1.5, 0.7))
        if urgent:
            accept_due = assigned + lim.urgent_accept_minutes * 60
            accepted = assigned + lognormal(rng, 12 * 60, 0.9)
        else:
            accept_due = clock.add(assigned, lim.accept_hours)
            accepted = clock.add(assigned, lognormal(rng, 0.6, 1.0))
        if urgent:
            span = lim.urgent_resolve_hours * 3600
            resolve_due = accepted + span
            share = lognormal(rng, 0.3, 0.9)
            resolved = accepted + span * share
        else:
            days = lim.long_resolve_days if long else lim.resolve_days
            hours = days * limits.DAY_HOURS
            resolve_due = clock.add(accepted, hours)
            share = lognormal(rng, 0.3, 0.9) * (
                5 if rng.random() < 0.004 else 1
            )  # a few get stuck
            resolved = clock.add(accepted, hours * share)
        reopened = rng.random() < 0.03
        rated = rng.random() < 0.65
        rated_at = resolved + lognormal(rng, 4 * 3600, 1.2)
        silent_close = resolved + 7 * 86400
        worker_actor = f"worker:{worker}"
        if assigned > now:  # still new
            return self._finish(row, events, open_state=True)
        row.update(assignee_id=worker, assigned_at=assigned, accept_due_at=accept_due)
        row.update(status="assigned", updated_at=assigned, return_count=int(returned))
        events.append((assigned, "system", "assign", "new", "assigned", self.worker_name[worker]))
        if accepted > now:
            return self._finish(row, events, open_state=True)
        row.update(
            accepted_at=accepted, accepted_late=accepted > accept_due, resolve_due_at=resolve_due
        )
        row.update(status="in_progress", updated_at=accepted)
        events.append((accepted, worker_actor, "accept", "assigned", "in_progress", ""))
        if resolved > now:
            return self._finish(row, events, open_state=True)
        row.update(resolved_at=resolved, resolved_late=resolved > resolve_due, status="resolved")
        row.update(updated_at=resolved, reopen_count=int(reopened))
        resident_actor = f"resident:{resident_id}" if resident_id else "system"
        if reopened:  # resolved once, reopened by an unsatisfied resident, resolved again
            first = accepted + (resolved - accepted) * 0.6
            events.append((first, worker_actor, "resolve", "in_progress", "resolved", "已处理"))
            events.append(
                (
                    first + (resolved - first) * 0.2,
                    resident_actor,
                    "reopen",
                    "resolved",
                    "in_progress",
                    "unsatisfied",
                )
            )
        events.append((resolved, worker_actor, "resolve", "in_progress", "resolved", "已处理"))
        if rated and rated_at <= now:
            rating = rng.choices(("satisfied", "basic", "unsatisfied"), weights=(84, 11, 5))[0]
            row.update(rating=rating, solved=rating != "unsatisfied" or rng.random() < 0.3)
            row.update(status="closed", closed_at=rated_at, updated_at=rated_at)
            events.append((rated_at, resident_actor, "confirm", "resolved", "closed", rating))
        elif not rated and silent_close <= now:
            end = min(now, silent_close + rng.uniform(0, 60))
            row.update(status="closed", closed_at=end, updated_at=end)
            events.append((end, "system", "close", "resolved", "closed", "7d"))
        return self._finish(row, events)

    def grid_worker_fallback(self) -> str:
        return next(w for ws in self.d.own.values() for w in ws)

    def _finish(
        self, row: dict[str, Any], events: list[tuple[Any, ...]], open_state: bool = False
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Datetimes for the columns; open cases get deadlines, alarm bits and alarm_at exactly
        as the sweep, run every minute until DATA_NOW, would have left them."""
        for key in (
            "created_at",
            "updated_at",
            "assigned_at",
            "accepted_at",
            "resolved_at",
            "closed_at",
            "accept_due_at",
            "resolve_due_at",
        ):
            row[key] = self.dt(row[key])
        if open_state:
            case = Case(**{k: v for k, v in row.items()})
            current = limits.phase(case, self.limits, self.tz)
            assert current is not None
            bits = 0
            if row["accepted_late"]:  # the accept alarms fired before it was accepted
                bits |= int(limits.Alarm.ACCEPT_REMIND | limits.Alarm.ACCEPT_LEADER)
            for bit, at in current.alarms:
                if at <= DATA_NOW:
                    bits |= int(bit)
                    kind = (
                        "remind"
                        if bit in (limits.Alarm.ACCEPT_REMIND, limits.Alarm.RESOLVE_REMIND)
                        else "escalate"
                    )
                    events.append((at.timestamp(), "system", kind, "", "", bit.name or ""))
            case.alarms = bits
            limits.schedule(case, self.limits, self.tz)
            row.update(
                alarms=bits,
                alarm_at=case.alarm_at,
                accept_due_at=case.accept_due_at,
                resolve_due_at=case.resolve_due_at,
            )
        out_events = [
            {
                "case_id": row["id"],
                "at": self.dt(at),
                "actor": actor,
                "kind": kind,
                "from_status": before,
                "to_status": after,
                "note": note,
            }
            for at, actor, kind, before, after, note in sorted(events, key=lambda e: e[0])
        ]
        return row, out_events


# -- generation -----------------------------------------------------------------------------


def meta_path(db: Path) -> Path:
    return db.with_name(db.name + ".meta.json")


def wanted_params(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "cases": args.cases,
        "workers": args.workers,
        "grids": args.grids,
        "communities": args.communities,
        "residents": args.residents or max(1000, args.cases // 5),
        "events": args.events,
        "seed": args.seed,
        "data_now": DATA_NOW.isoformat(),
    }


def generate(db: Path, args: argparse.Namespace, config: Config) -> dict[str, Any]:
    params = wanted_params(args)
    for suffix in ("", "-wal", "-shm", ".meta.json"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    url = f"sqlite:///{db}"
    store = Store(url)
    t = time.perf_counter()
    store.migrate()
    log(f"schema by Alembic migrations: {time.perf_counter() - t:.1f} s")
    rng = random.Random(args.seed)
    first = DATA_NOW.date() - timedelta(days=SPAN_DAYS + 40)
    clock = WorkClock(first, date(DATA_NOW.year, 12, 31), config.tz)  # the calendar's last year
    worst = clock.check(
        rng, datetime.combine(first, dtime(0), config.tz).timestamp() + 86400, DATA_NOW.timestamp()
    )
    log(f"working-time table: within {worst:.0f} s of handlers.limits.add_working_hours")
    district = make_district(rng, args.communities, args.grids, args.workers)
    maker = CaseMaker(rng, district, config, clock, params["residents"])
    timings: dict[str, float] = {}

    def chunked(conn: Any, table: Any, rows: list[dict[str, Any]], size: int = 50_000) -> None:
        for i in range(0, len(rows), size):
            conn.execute(insert(table), rows[i : i + size])

    t = time.perf_counter()
    with store.engine.begin() as conn:  # BEGIN IMMEDIATE (storage.store)
        conn.exec_driver_sql("PRAGMA cache_size=-1000000")
        chunked(conn, table(Community), [{"id": i, "name": n} for i, n in district.communities])
        chunked(conn, table(Grid), district.grids)
        chunked(conn, table(Building), district.buildings)
        chunked(conn, table(Worker), district.workers)
        chunked(conn, table(WorkerGrid), district.links)
        chunked(conn, table(Resident), maker.residents)
        identities = [
            {
                "channel": "wechat",
                "external_id": f"oBench{r['id']:022d}",
                "resident_id": r["id"],
                "worker_id": None,
                "subscribed": True,
                "created_at": r["created_at"],
            }
            for r in maker.residents
        ]
        chunked(conn, table(Identity), identities)
    timings["roster+residents"] = time.perf_counter() - t
    log(
        f"roster: {len(district.communities)} communities, {len(district.grids)} grids, "
        f"{len(district.buildings)} buildings, {len(district.workers)} staff, "
        f"{len(maker.residents)} residents ({timings['roster+residents']:.1f} s)"
    )
    t = time.perf_counter()
    times = case_times(rng, args.cases, config.tz)
    timings["timestamps"] = time.perf_counter() - t
    chunk = 50_000
    build_s = insert_s = 0.0
    n_events = 0
    status_mix: Tally[str] = Tally()
    for start in range(0, len(times), chunk):
        t = time.perf_counter()
        case_rows: list[dict[str, Any]] = []
        event_rows: list[dict[str, Any]] = []
        for offset, created in enumerate(times[start : start + chunk]):
            row, evs = maker.make(start + offset + 1, created)
            case_rows.append(row)
            status_mix[row["status"]] += 1
            if args.events == "all" or (args.events == "open" and row["status"] in OPEN):
                event_rows.extend(evs)
        t2 = time.perf_counter()
        build_s += t2 - t
        with store.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA cache_size=-1000000")
            conn.execute(insert(table(Case)), case_rows)
            if event_rows:
                conn.execute(insert(table(CaseEvent)), event_rows)
        insert_s += time.perf_counter() - t2
        n_events += len(event_rows)
        done = start + len(case_rows)
        if done % 200_000 == 0 or done == len(times):
            elapsed = time.perf_counter() - started
            log(f"  {done:>9,} cases, {n_events:>9,} events  ({elapsed:.0f} s)")
    timings["cases: build rows (Python)"] = build_s
    timings["cases+events: executemany"] = insert_s
    with store.engine.begin() as conn:
        conn.execute(
            insert(table(Counter)),
            [
                {"name": f"case-{year}", "value": value}
                for year, value in sorted(maker.seq.items())
            ],
        )
        # what the sweeps may change, to put back before every sweep run (see restore())
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_snapshot")
        conn.exec_driver_sql(
            "CREATE TABLE bench_snapshot AS SELECT id, status, updated_at, closed_at, alarms, "
            "alarm_at, accept_due_at, resolve_due_at FROM cases WHERE status IN "
            f"({','.join(repr(s) for s in SNAPSHOT_STATUSES)})"
        )
        max_event = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM case_events").scalar()
    t = time.perf_counter()
    raw = store.engine.raw_connection()  # outside a transaction (the engine's begin is IMMEDIATE)
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
    finally:
        raw.close()
    timings["checkpoint"] = time.perf_counter() - t
    store.dispose()
    total = time.perf_counter() - started
    meta = {
        "params": params,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generation_seconds": round(total, 1),
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "status_mix": dict(status_mix.most_common()),
        "events": n_events,
        "max_event_id": int(max_event or 0),
        "db_bytes": db.stat().st_size,
    }
    meta_path(db).write_text(json.dumps(meta, ensure_ascii=False, indent=1))
    log(f"generated in {total:.0f} s: {db} ({db.stat().st_size / 2**20:,.0f} MiB)")
    return meta


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    target: float | None  # seconds; the verdict compares p95 with it
    note: str = ""
    wall: list[float] = field(default_factory=list)  # seconds
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds (user + system)

    def p(self, q: float) -> float:
        ordered = sorted(self.wall)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@contextmanager
def stopwatch(figure: Figure | None) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        if figure is not None:
            figure.wall.append(time.perf_counter() - wall)
            figure.cpu.append(time.process_time() - cpu)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def print_table(title: str, figures: list[Figure]) -> None:
    width = max(len(f.name) for f in figures) + 2
    log(f"\n{title}")
    head = (
        f"{'figure':<{width}}{'runs':>5}{'p50 ms':>11}{'p95 ms':>11}{'max ms':>11}"
        f"{'cpu p50':>11}{'target':>10}  verdict"
    )
    log(head)
    log("-" * (len(head) + 4))
    for f in figures:
        target = f"< {f.target * 1000:,.0f}" if f.target else "-"
        verdict = "" if f.target is None else ("ok" if f.p(0.95) < f.target else "OVER")
        cpu = ms(statistics.median(f.cpu)) if f.cpu else "-"
        log(
            f"{f.name:<{width}}{len(f.wall):>5}{ms(statistics.median(f.wall)):>11}"
            f"{ms(f.p(0.95)):>11}{ms(max(f.wall)):>11}{cpu:>11}"
            f"{target:>10}  {verdict}"
        )
        if f.note:
            log(f"{'':<{width}}  {f.note}")


class Statements:
    """Counts the SQL statements the engine runs."""

    def __init__(self, store: Store) -> None:
        self.count = 0
        event.listen(store.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


class Spent:
    """Inclusive time and calls of named project functions, wrapped at their module attribute
    (handlers call them as `roster.grid_workers(...)`, so the wrapper sees every call). The time
    of an ORM autoflush lands on the function whose query triggered it."""

    WRAPPED = (
        ("storage.cases", "alarms_due"),
        ("handlers.limits", "due_alarms"),
        ("handlers.limits", "schedule"),
        ("storage.cases", "add_event"),
        ("storage.roster", "worker"),
        ("storage.roster", "grid_workers"),
        ("storage.roster", "workers_with_role"),
        ("storage.outbox", "enqueue"),
        ("storage.outbox", "enqueue_many"),
    )

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = {}

    @contextmanager
    def active(self) -> Iterator[Spent]:
        import importlib

        saved = []
        for module_name, name in self.WRAPPED:
            module = importlib.import_module(module_name)
            original = getattr(module, name)
            saved.append((module, name, original))
            setattr(module, name, self._wrap(f"{module_name}.{name}", original))
        try:
            yield self
        finally:
            for module, name, original in saved:
                setattr(module, name, original)

    def _wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        entry = self.spent.setdefault(label, [0, 0.0])

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                entry[0] += 1
                entry[1] += time.perf_counter() - t

        return timed_call

    def lines(self, total: float) -> list[str]:
        out = [
            f"    {total * 1000:8,.0f} ms  the whole run (jobs.run: sweep_alarms, queue, commit)"
        ]
        for label, (n, t) in sorted(self.spent.items(), key=lambda kv: -kv[1][1]):
            if n:
                out.append(
                    f"    {t * 1000:8,.0f} ms  {int(n):5}x {label}  ({t / n * 1000:.2f} ms a call)"
                )
        return out


def plans(store: Store, fn: Callable[[Any], Any]) -> str:
    """EXPLAIN QUERY PLAN of the first SELECT `fn(tx)` sends, exactly as SQLAlchemy sent it."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        with store.unit() as tx:
            fn(tx)
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    statement, parameters = seen[0]
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    return " / ".join(str(r[-1]) for r in rows)


def restore(store: Store, max_event_id: int) -> None:
    """Undo what the sweeps wrote: open/resolved cases' alarm state, new events, the outbox."""
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE cases SET status = s.status, updated_at = s.updated_at, "
            "closed_at = s.closed_at, alarms = s.alarms, alarm_at = s.alarm_at, "
            "accept_due_at = s.accept_due_at, resolve_due_at = s.resolve_due_at "
            "FROM bench_snapshot AS s WHERE cases.id = s.id AND ("
            "cases.status IS NOT s.status OR cases.alarms IS NOT s.alarms OR "
            "cases.alarm_at IS NOT s.alarm_at OR cases.closed_at IS NOT s.closed_at OR "
            "cases.accept_due_at IS NOT s.accept_due_at OR "
            "cases.resolve_due_at IS NOT s.resolve_due_at OR cases.updated_at IS NOT s.updated_at)"
        )
        conn.exec_driver_sql("DELETE FROM case_events WHERE id > ?", (max_event_id,))
        conn.exec_driver_sql("DELETE FROM outbox")
        conn.exec_driver_sql("DELETE FROM settings WHERE name LIKE 'weekly_report:%'")


def count_due(store: Store, now: datetime) -> int:
    with store.unit() as tx:
        return len(case_queries.alarms_due(tx, now=now, limit=1_000_000))


def drop_leftover_proposals(store: Store) -> None:
    """A run that died while measuring a proposal leaves its index: remove it."""
    with store.engine.begin() as conn:
        names = (
            conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'proposal_%'"
            )
            .scalars()
            .all()
        )
        for name in names:
            conn.exec_driver_sql(f"DROP INDEX {name}")


@dataclass
class Variant:
    """One arm of a comparison: how to switch it on and off, and one measured run."""

    figure: Figure
    enter: Callable[[], None]
    leave: Callable[[], None]
    run: Callable[[Figure], Any]


def round_robin(variants: list[Variant], runs: int) -> None:
    """Run every variant in turn, `runs` rounds: drift in the machine's load hits all alike."""
    for _ in range(runs):
        for variant in variants:
            variant.enter()
            try:
                variant.run(variant.figure)
            finally:
                variant.leave()


def nothing() -> None:
    """A variant that changes nothing (the baseline of a comparison)."""


def index_switch(
    store: Store, name: str, ddl: str
) -> tuple[Callable[[], None], Callable[[], None]]:
    """An index that exists only in this benchmark's database, only while its arm runs."""

    def enter() -> None:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(ddl)

    def exists(conn: Any) -> bool:
        # reading sqlite_master also reloads a schema that another connection changed: a pooled
        # connection with a stale schema would take DROP INDEX IF EXISTS for a no-op
        found = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).first()
        return found is not None

    def leave() -> None:
        with store.engine.begin() as conn:
            if exists(conn):
                conn.exec_driver_sql(f"DROP INDEX {name}")
        with store.engine.begin() as conn:
            assert not exists(conn), f"{name} is still there"

    return enter, leave


def tx_context(tx: Any, bench: Bench) -> Context:
    return Context(tx=tx, kb=bench.kb, config=bench.config, now=bench.now)


def first_open_case(tx: Any) -> Case:
    return cast(Case, tx.session.scalar(select(Case).where(Case.status == "new").limit(1)))


class Bench:
    def __init__(self, db: Path, meta: dict[str, Any], args: argparse.Namespace) -> None:
        from knowledge.base import Live

        self.args = args
        self.meta = meta
        self.config = load_config(env={})
        self.store = Store(f"sqlite:///{db}")
        t = time.perf_counter()
        self.store.migrate()  # a database generated by an older revision gets the new indexes
        log(f"schema at the newest migration ({time.perf_counter() - t:.1f} s)")
        drop_leftover_proposals(self.store)
        self.restore()
        self.statements = Statements(self.store)
        self.live = Live()
        self.kb = self.live.current
        prefix = "category."
        self.category_names = {
            k[len(prefix) :]: v for k, v in self.kb.replies.texts.items() if k.startswith(prefix)
        }
        self.now = DATA_NOW.astimezone(UTC)
        self.due_at = self.now + timedelta(minutes=args.downtime_minutes)
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.week = ("", 0)

    def restore(self) -> None:
        restore(self.store, self.meta["max_event_id"])

    def make_deps(self, now: datetime) -> Any:
        """What bot.jobs.run needs, with a clock stopped at `now`."""
        from bot.pipeline import Deps

        return Deps(self.store, self.live, self.config, lambda: now)

    # 1. /mycases -------------------------------------------------------------------------------
    def busiest_worker(self) -> tuple[str, int, int, list[str]]:
        with self.store.engine.connect() as conn:
            busiest, n_open = conn.exec_driver_sql(
                "SELECT assignee_id, count(*) FROM cases WHERE assignee_id IS NOT NULL AND "
                "status IN ('assigned', 'in_progress') GROUP BY assignee_id "
                "ORDER BY 2 DESC, 1 LIMIT 1"
            ).one()
            total = conn.exec_driver_sql(
                "SELECT count(*) FROM cases WHERE assignee_id = ?", (busiest,)
            ).scalar()
            plain = (
                conn.exec_driver_sql("SELECT id FROM workers WHERE role = 'worker' ORDER BY id")
                .scalars()
                .all()
            )
        sample = random.Random(7).sample(list(plain), min(200, len(plain)))
        return busiest, n_open, int(total or 0), sample

    def my_cases(self, worker_id: str, figure: Figure | None) -> tuple[int, int]:
        """The worker's /mycases as the pipeline runs it: one unit of work, the routed handler."""
        handler = ROUTES[(Role.WORKER, "cmd:mycases")]
        before = self.statements.count
        with stopwatch(figure), self.store.unit() as tx:
            worker = roster.worker(tx, worker_id)
            assert worker is not None
            incoming = Incoming(
                Channel.TELEGRAM,
                str(worker.telegram_id),
                f"bench-{time.monotonic_ns()}",
                Kind.COMMAND,
                self.now,
                text="/mycases",
            )
            req = Request(incoming, Role.WORKER, "/mycases", "cmd:mycases", worker=worker)
            ctx = Context(tx=tx, kb=self.kb, config=self.config, now=self.now, request=req)
            out = handler(req, ctx)
        return len(out[0].text.splitlines()) - 1, self.statements.count - before

    def for_assignee(self, worker_id: str, figure: Figure) -> None:
        with self.store.unit() as tx, stopwatch(figure):
            case_queries.for_assignee(tx, worker_id=worker_id)

    def measure_my_cases(self) -> None:
        busiest, n_open, total, sample = self.busiest_worker()
        runs = self.args.runs_mycases
        self.my_cases(busiest, None)  # a fresh connection's first query reads the schema
        handler = Figure(f"/mycases handler, busiest worker {busiest}", 0.2)
        for _ in range(runs):
            listed, stmts = self.my_cases(busiest, handler)
        handler.note = (
            f"{n_open} open of {total:,} cases held; {listed} listed; {stmts} SQL statements "
            "in one unit of work (BEGIN IMMEDIATE .. COMMIT)"
        )
        alone = Figure(f"cases.for_assignee, busiest worker {busiest}", 0.2)
        for _ in range(runs):
            self.for_assignee(busiest, alone)
        sampled = Figure(f"/mycases handler, {len(sample)} random workers", 0.2)
        sampled_alone = Figure(f"cases.for_assignee, {len(sample)} random workers", 0.2)
        for worker_id in sample:
            self.my_cases(worker_id, sampled)
            self.for_assignee(worker_id, sampled_alone)
        self.figures += [handler, alone, sampled, sampled_alone]
        plan = plans(self.store, lambda tx: case_queries.for_assignee(tx, worker_id=busiest))
        self.notes.append("for_assignee plan:  " + plan)

    # 2. the weekly report ------------------------------------------------------------------------
    def busiest_week(self) -> tuple[str, int]:
        weeks: Tally[str] = Tally()
        with self.store.engine.connect() as conn:
            for value in conn.exec_driver_sql("SELECT created_at FROM cases").scalars():
                at = datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(self.config.tz)
                iso = at.isocalendar()
                weeks[f"{iso.year}-W{iso.week:02d}"] += 1
        week, n = weeks.most_common(1)[0]
        return week, n

    def weekly(self, week: str | None, figure: Figure | None) -> dict[str, Any]:
        with stopwatch(figure), self.store.unit() as tx:
            return rates.weekly(
                tx, self.config, week=week, now=self.now, category_names=self.category_names
            )

    def weekly_queries(self, week: str | None) -> str:
        """The three queries of the weekly report, timed alone (the rest is Python)."""
        _, start, end = rates.week_bounds(week, self.config.tz, self.now)
        parts = []
        with self.store.unit() as tx:
            for label, fn in (
                ("cases_opened", lambda: reports.cases_opened(tx, start=start, end=end)),
                ("names", lambda: reports.names(tx)),
                ("overdue_counts", lambda: reports.overdue_counts(tx, now=min(self.now, end))),
            ):
                t = time.perf_counter()
                fn()
                parts.append(f"{label} {ms(time.perf_counter() - t)} ms")
        return ", ".join(parts)

    def measure_weekly(self) -> None:
        if self.meta.get("busiest_week"):
            week, n = self.meta["busiest_week"]
        else:
            week, n = self.busiest_week()
        self.week = (week, n)
        for label, wk in ((f"busiest week {week}", week), ("last week (the job's default)", None)):
            figure = Figure(f"rates.weekly, {label}", 5.0)
            report: dict[str, Any] = {}
            for _ in range(self.args.runs_weekly):
                report = self.weekly(wk, figure)
            total = report["total"]
            figure.note = (
                f"{report['week']}: {total['opened']:,} cases, {len(report['by_grid']):,} grids, "
                f"{len(report['by_worker']):,} workers, {total['overdue']:,} overdue; queries "
                f"alone: {self.weekly_queries(wk)}"
            )
            self.figures.append(figure)
        _, start, end = rates.week_bounds(week, self.config.tz, self.now)
        self.notes.append(
            "cases_opened plan: "
            + plans(self.store, lambda tx: reports.cases_opened(tx, start=start, end=end))
        )
        self.notes.append(
            "overdue_counts plan: "
            + plans(self.store, lambda tx: reports.overdue_counts(tx, now=self.now))
        )

    # 3. the sweep --------------------------------------------------------------------------------
    def sweep(
        self, now: datetime, job: Callable[[Context], Any], figure: Figure | None
    ) -> tuple[int, int]:
        """One scheduler run of `job` on the data as generated (what earlier runs wrote undone)."""
        from bot import jobs

        self.restore()
        deps = self.make_deps(now)
        before = self.statements.count
        with stopwatch(figure):
            notices = jobs.run(deps, job)
        return notices, self.statements.count - before

    def write_behind(self, job: Callable[[], Any]) -> tuple[float, float]:
        """How long a message's first unit of work waits while `job` runs in another thread:
        every unit starts with BEGIN IMMEDIATE, so a job's unit holds the write lock throughout."""
        import threading

        started = threading.Event()
        took: list[float] = []

        def background() -> None:
            t = time.perf_counter()
            started.set()
            job()
            took.append(time.perf_counter() - t)

        thread = threading.Thread(target=background)
        thread.start()
        started.wait()
        time.sleep(0.05)  # the job has begun its unit
        t = time.perf_counter()
        with self.store.unit() as tx:
            tx.session.execute(select(Counter.value).limit(1))  # BEGIN IMMEDIATE happens here
        waited = time.perf_counter() - t
        thread.join()
        return waited, took[0]

    def measure_locks(self) -> None:
        from bot import jobs

        weekly = Figure("jobs.weekly_report (last week, to every admin)", None)
        for _ in range(self.args.runs_weekly):
            self.restore()  # forget the week's "sent" marker
            with stopwatch(weekly):
                notices = jobs.weekly_report(self.make_deps(self.now))
        weekly.note = f"{notices} notices; one unit of work around rates.weekly"
        behind_weekly = Figure("a message's unit of work, behind jobs.weekly_report", None)
        behind_sweep = Figure("a message's unit of work, behind a busy sweep run", None)
        for _ in range(self.args.runs_weekly):
            self.restore()
            waited, _ = self.write_behind(lambda: jobs.weekly_report(self.make_deps(self.now)))
            behind_weekly.wall.append(waited)
        for _ in range(self.args.runs_sweep):
            self.restore()
            waited, _ = self.write_behind(
                lambda: jobs.run(self.make_deps(self.due_at), escalation.sweep_alarms)
            )
            behind_sweep.wall.append(waited)
        behind_weekly.note = behind_sweep.note = (
            "its BEGIN IMMEDIATE, 50 ms into the job, waits for the job's commit "
            "(SQLite's busy handler polls)"
        )
        self.restore()
        self.figures += [weekly, behind_weekly, behind_sweep]

    def measure_sweep(self) -> None:
        from bot import jobs

        runs = self.args.runs_sweep
        due = count_due(self.store, self.due_at)
        idle = count_due(self.store, self.now)
        handled = min(due, 200)
        busy = Figure(f"sweep_alarms via jobs.run, {due} due (one run)", 1.0)
        notices = stmts = 0
        for _ in range(runs):
            notices, stmts = self.sweep(self.due_at, escalation.sweep_alarms, busy)
        busy.note = (
            f"{self.args.downtime_minutes} min after the last sweep; a run handles {handled} "
            f"(batch=200): {notices} notices queued, {stmts} SQL statements"
        )
        self.figures.append(busy)
        # all of them: the scheduler runs the sweep every 60 s, a batch a run
        self.restore()
        drain = Figure(f"sweep_alarms until none due ({due})", None)
        batches = 0
        with stopwatch(drain):
            while batches < 100 and count_due(self.store, self.due_at):
                jobs.run(self.make_deps(self.due_at), escalation.sweep_alarms)
                batches += 1
        drain.note = f"{batches} runs of batch 200, back to back (plus a count of what is due)"
        self.figures.append(drain)
        quiet = Figure(f"sweep_alarms via jobs.run, {idle} due", 1.0)
        for _ in range(runs * 2):
            notices, stmts = self.sweep(self.now, escalation.sweep_alarms, quiet)
        quiet.note = f"{stmts} SQL statements"
        self.figures.append(quiet)
        both = Figure("jobs.sweep (sweep_alarms + close_silent), none due", 1.0)
        for _ in range(runs * 2):
            self.restore()
            with stopwatch(both):
                jobs.sweep(self.make_deps(self.now))
        self.figures.append(both)
        self.restore()
        self.notes.append(
            "alarms_due plan:    "
            + plans(self.store, lambda tx: case_queries.alarms_due(tx, now=self.due_at))
        )
        if self.args.profile:
            self.restore()
            prof = cProfile.Profile()
            prof.enable()
            jobs.run(self.make_deps(self.due_at), escalation.sweep_alarms)
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(25)
            log("\ncProfile of one due sweep_alarms run (cumulative):\n" + buf.getvalue())
            self.restore()

    # proposals ---------------------------------------------------------------------------------
    def sweep_spent(self) -> list[str]:
        from bot import jobs

        self.restore()
        with Spent().active() as spent:
            t = time.perf_counter()
            jobs.run(self.make_deps(self.due_at), escalation.sweep_alarms)
            total = time.perf_counter() - t
        self.restore()
        return spent.lines(total)

    def sweep_digest(self, job: Callable[[Context], Any]) -> str:
        """Run the due sweep once and digest what it wrote (a proposal must write the same)."""
        import hashlib

        self.sweep(self.due_at, job, None)
        digest = hashlib.sha256()
        with self.store.engine.connect() as conn:
            for sql, params in (
                (
                    "SELECT c.id, c.alarms, c.alarm_at, c.accept_due_at, c.resolve_due_at "
                    "FROM cases c JOIN bench_snapshot s ON s.id = c.id ORDER BY c.id",
                    (),
                ),
                (
                    "SELECT case_id, at, actor, kind, note FROM case_events WHERE id > ? "
                    "ORDER BY case_id, kind, note",
                    (self.meta["max_event_id"],),
                ),
                (
                    "SELECT channel, recipient_id, text, status FROM outbox "
                    "ORDER BY recipient_id, text",
                    (),
                ),
            ):
                for row in conn.exec_driver_sql(sql, params):
                    digest.update(repr(tuple(row)).encode())
        self.restore()
        return digest.hexdigest()

    def grid_workers_ms(self) -> float:
        with self.store.engine.connect() as conn:
            grids = conn.exec_driver_sql("SELECT id FROM grids ORDER BY id").scalars().all()
        sample = random.Random(3).sample(list(grids), min(100, len(grids)))
        with self.store.unit() as tx:
            t = time.perf_counter()
            for gid in sample:
                roster.grid_workers(tx, gid, "lead")
            return (time.perf_counter() - t) / len(sample)

    def propose_sweep(self) -> list[Figure]:
        """S1 (the worker_grids index, migration 0004) and S2 (no flush per event, one batched
        insert of the notices) are in the project now; S3 (batch=100) is still a proposal."""
        due = count_due(self.store, self.due_at)
        grid = "c01-g001"

        def half(ctx: Context) -> Any:
            return escalation.sweep_alarms(ctx, batch=100)

        log(
            "roster.grid_workers (workflow.leaders_of, routing.on_duty, "
            "Context.grid_worker_name), with ix_worker_grids_grid_relation (migration 0004)"
        )
        log(
            "  plan:         "
            + plans(self.store, lambda tx: roster.grid_workers(tx, grid, "lead"))
        )
        log(f"  grid_workers: {self.grid_workers_ms() * 1000:.2f} ms a call")
        log(f"  one due sweep run ({due} due, {min(due, 200)} handled), inclusive times:")
        for line in self.sweep_spent():
            log(line)
        log(
            "  digest of what one due run writes (cases, events, outbox; compare across "
            f"versions): {self.sweep_digest(escalation.sweep_alarms)[:16]}"
        )
        log(
            "S3 bot.jobs.sweep runs sweep_alarms(ctx, batch=100): half the cases per transaction; "
            "the next tick (60 s) takes the next 100"
        )
        sweep = escalation.sweep_alarms
        variants = [
            Variant(
                Figure(f"now: sweep_alarms via jobs.run, {due} due (one run)", 1.0),
                nothing,
                nothing,
                lambda f: self.sweep(self.due_at, sweep, f),
            ),
            Variant(
                Figure("PROPOSAL S3: batch=100 (100 handled)", 1.0),
                nothing,
                nothing,
                lambda f: self.sweep(self.due_at, half, f),
            ),
        ]
        round_robin(variants, self.args.runs_proposals)
        with self.store.unit() as tx:
            t = time.perf_counter()
            buttons = workflow.assign_buttons(tx_context(tx, self), first_open_case(tx))
            spent = time.perf_counter() - t
        log(
            f"  workflow.assign_buttons: {len(buttons)} buttons from roster.assignable, "
            f"{spent * 1000:.1f} ms a call"
        )
        return [v.figure for v in variants]

    def propose_weekly(self) -> list[Figure]:
        """W2 (cases_opened names the statuses, so ix_cases_status_created serves it) and W3
        (Figures.as_dict, no deep copy) are in the project now; W1 is still a proposal."""
        week = self.week[0]
        _, start, end = rates.week_bounds(week, self.config.tz, self.now)
        expected = self.weekly(week, None)
        w1 = index_switch(
            self.store,
            "proposal_cases_created",
            "CREATE INDEX proposal_cases_created ON cases (created_at)",
        )

        def opened_alone(figure: Figure) -> None:
            with self.store.unit() as tx, stopwatch(figure):
                reports.cases_opened(tx, start=start, end=end)

        def weekly(figure: Figure) -> None:
            assert self.weekly(week, figure) == expected, "a proposal changed the report"

        log(
            "  cases_opened plan now: "
            + plans(self.store, lambda tx: reports.cases_opened(tx, start=start, end=end))
        )
        log("W1 index cases (created_at), for reports.cases_opened")
        w1[0]()
        try:
            log(
                "  plan with it: "
                + plans(self.store, lambda tx: reports.cases_opened(tx, start=start, end=end))
            )
        finally:
            w1[1]()
        arms = [("now", (nothing, nothing)), ("PROPOSAL W1: index cases(created_at)", w1)]
        variants = [
            Variant(Figure(f"{label}: rates.weekly, busiest week {week}", 5.0), *switch, weekly)
            for label, switch in arms
        ] + [
            Variant(Figure(f"{label}: reports.cases_opened alone", None), *switch, opened_alone)
            for label, switch in arms
        ]
        round_robin(variants, self.args.runs_proposals)
        log("  (every arm's report was checked equal to the report without proposals)")
        return [v.figure for v in variants]

    def measure_proposals(self) -> None:
        log("\nPROPOSALS: each applied to this benchmark's database or process only, then removed")
        rows = self.propose_sweep() + self.propose_weekly()
        print_table(
            "Proposals, measured in alternation (PROPOSAL rows are not in the project)", rows
        )

    def close(self) -> None:
        self.restore()
        drop_leftover_proposals(self.store)
        self.store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/bot-scale.db"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the DB if it was generated with these parameters",
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--grids", type=int, default=3_300)
    parser.add_argument("--communities", type=int, default=20)
    parser.add_argument("--residents", type=int, default=0, help="default: cases / 5")
    parser.add_argument(
        "--events",
        choices=("all", "open", "none"),
        default="all",
        help="case_events for every case (default), only open ones, or none",
    )
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--runs-mycases", type=int, default=50)
    parser.add_argument("--runs-weekly", type=int, default=5)
    parser.add_argument("--runs-sweep", type=int, default=5)
    parser.add_argument("--runs-proposals", type=int, default=9)
    parser.add_argument(
        "--downtime-minutes",
        type=int,
        default=120,
        help="the busy sweep: no sweep for this long after the data's moment",
    )
    parser.add_argument("--no-proposals", dest="proposals", action="store_false")
    parser.add_argument("--profile", action="store_true", help="cProfile one busy sweep run")
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    # Alarms of long cases reach into 2027, past chinese_calendar's data: handlers.limits warns
    # once a day and counts Monday to Friday. Expected here: keep the output readable.
    logging.getLogger("handlers.limits").setLevel(logging.ERROR)
    db = args.db.resolve()
    config = load_config(env={})
    meta: dict[str, Any] | None = None
    if args.reuse and db.exists() and meta_path(db).exists():
        meta = json.loads(meta_path(db).read_text())
        if meta.get("params") != wanted_params(args):
            log(f"{db} was generated with other parameters: generating again")
            meta = None
        else:
            when, took = meta["generated_at"], meta["generation_seconds"]
            log(f"reusing {db} (generated {when} in {took} s)")
    if meta is None:
        log(f"generating {args.cases:,} cases into {db} ...")
        meta = generate(db, args, config)
    log(f"status mix: {meta['status_mix']}; case_events: {meta['events']:,}")
    if args.generate_only:
        return
    bench = Bench(db, meta, args)
    try:
        log(
            f"\nmeasuring at {DATA_NOW.isoformat()} on {platform.machine()}, "
            f"{os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
            f"load average {os.getloadavg()[0]:.1f} at start"
        )
        bench.measure_my_cases()
        bench.measure_weekly()
        if "busiest_week" not in meta:
            meta["busiest_week"] = list(bench.week)
            meta_path(db).write_text(json.dumps(meta, ensure_ascii=False, indent=1))
        bench.measure_sweep()
        bench.measure_locks()
        print_table(
            f"Scale figures: {args.cases:,} cases, {args.workers:,} staff, {args.grids:,} grids, "
            f"{meta['events']:,} case events ({db.stat().st_size / 2**20:,.0f} MiB); "
            "p50/p95/max: wall clock; cpu: this process",
            bench.figures,
        )
        for note in bench.notes:
            log(note)
        if args.proposals:
            bench.measure_proposals()
        log(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    finally:
        bench.close()


if __name__ == "__main__":
    main()
