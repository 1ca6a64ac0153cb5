"""Where one webhook request's time goes, in-process and one at a time (no HTTP, no contention).

    .venv/bin/python bench/pipeline_profile.py [--messages 2000] [--cprofile 25]

Runs the mix of bench/webhook.py through exactly what the /wechat endpoint does for a safe-mode
push (Codec.decode, to_incoming, pipeline.handle claiming the passive reply, Codec.reply) on a
temporary seeded SQLite database, and prints per message kind: milliseconds per phase, SQL
statements and transactions per phase, and the share spent inside the SQLite driver. With
--cprofile N, also the N functions with the most own time and the most cumulative time.
Nothing in bot/ is changed: the phases are timed by wrapping module functions from here.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import importlib
import inspect
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PHASES = (
    "decrypt+parse",
    "record (unit 1)",
    "process (unit 2)",
    "  understand",
    "  handler",
    "passive_delivered (unit 3; retries only)",
    "encrypt reply",
)

DETAIL_MODULES = (
    "storage.inbound",
    "storage.outbox",
    "storage.residents",
    "storage.cases",
    "storage.roster",
    "handlers.report",
    "handlers.routing",
    "handlers.faq",
    "handlers.limits",
)


class Meter:
    """Wall time, SQL statements, transactions and driver time, per phase."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)
        self.sql: dict[str, int] = defaultdict(int)
        self.tx: dict[str, int] = defaultdict(int)
        self.driver_ms: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[str] = []
        self._started = 0.0

    @property
    def phase(self) -> str:
        return self.stack[-1] if self.stack else "other"

    def timed(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.stack.append(name)
            self.calls[name] += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ms[name] += (time.perf_counter() - t0) * 1000
                self.stack.pop()

        return wrapper

    def before(self, *args: Any) -> None:
        self._started = time.perf_counter()
        for name in self.stack:
            self.sql[name] += 1

    def after(self, *args: Any) -> None:
        elapsed = (time.perf_counter() - self._started) * 1000
        for name in self.stack:
            self.driver_ms[name] += elapsed

    def begin(self, *args: Any) -> None:
        for name in self.stack:
            self.tx[name] += 1


def setup(tmp: Path) -> None:
    os.environ.update(
        {
            "BOT_STORAGE__URL": f"sqlite:///{tmp / 'profile.db'}",
            "BOT_WECHAT__TOKEN": "bench-wechat-token",
            "BOT_WECHAT__ENCODING_AES_KEY": base64.b64encode(os.urandom(32)).decode().rstrip("="),
            "BOT_WECHAT__APP_ID": "wx5e1f0a3b7c9d2e4f",
        }
    )
    subprocess.run(
        [sys.executable, "-m", "bot", "seed"], check=True, cwd=ROOT, capture_output=True
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--senders", type=int, default=1000)
    p.add_argument("--cprofile", type=int, default=0, metavar="N")
    p.add_argument(
        "--detail",
        action="store_true",
        help="also time every function of storage/ and the report handlers (inclusive)",
    )
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bot-profile-"))
    try:
        setup(tmp)
        run(args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    from mix import Mix
    from sqlalchemy import event

    from bot import outbox, pipeline
    from bot.channels.wechat import Codec, passive_fits, to_incoming
    from bot.config import load_config
    from bot.runtime import make_deps
    from tests.fakes.wechat import Platform

    config = load_config()
    deps = make_deps(config)
    codec = Codec(config)
    meter = Meter()
    engine = deps.store.engine
    event.listen(engine, "before_cursor_execute", meter.before)
    event.listen(engine, "after_cursor_execute", meter.after)
    event.listen(engine, "begin", meter.begin)

    # Time the phases by rebinding module attributes (handle() looks them up at call time).
    wrap = meter.timed
    phases = {
        "_record": "record (unit 1)",
        "_process": "process (unit 2)",
        "decide": "  understand",
    }
    for attribute, label in phases.items():
        setattr(pipeline, attribute, wrap(label, getattr(pipeline, attribute)))
    original_route = getattr(pipeline, "route")  # noqa: B009

    def timed_route(role: Any, intent: str) -> Any:
        return wrap("  handler", original_route(role, intent))

    setattr(pipeline, "route", timed_route)  # noqa: B010

    def decode_incoming(params: dict[str, str], body: bytes, now: Any) -> Any:
        fields, encrypt = codec.decode(params, body, now)
        return fields, encrypt, to_incoming(fields, now)

    decode = wrap("decrypt+parse", decode_incoming)
    delivered = wrap("passive_delivered (unit 3; retries only)", outbox.passive_delivered)
    reply = wrap("encrypt reply", codec.reply)

    commit = engine.dialect.do_commit
    engine.dialect.do_commit = wrap("COMMIT (driver)", commit)  # type: ignore[method-assign]
    detail: list[str] = ["COMMIT (driver)"]
    if args.detail:
        for module_name in DETAIL_MODULES:
            module = importlib.import_module(module_name)
            short = module_name.split(".", 1)[1]
            for name, fn in list(vars(module).items()):
                if inspect.isfunction(fn) and fn.__module__ == module_name:
                    setattr(module, name, wrap(f"{short}.{name}", fn))
                    detail.append(f"{short}.{name}")

    platform = Platform(
        token=config.wechat.token,
        aes_key=config.wechat.encoding_aes_key,
        app_id=config.wechat.app_id,
    )
    mix = Mix(senders=args.senders)
    batch = []
    for _ in range(args.warmup + args.messages):
        sender, kind, text = mix.next()
        batch.append((kind, *platform.request(platform.text(sender, text))))

    def one(params: dict[str, str], body: bytes) -> None:
        now = deps.clock()
        fields, encrypt, incoming = decode(params, body, now)
        result = pipeline.handle(incoming, deps, passive=True, claim=passive_fits)
        if result.reply_ids and not result.delivered and passive_fits(result.text):
            delivered(deps.store, result.reply_ids, deps.clock())  # a retry's recorded answer
        reply(fields, result.text, encrypt, params)

    for _, params, body in batch[: args.warmup]:
        one(params, body)

    per_kind: dict[str, dict[str, Any]] = {}
    totals: dict[str, list[float]] = defaultdict(list)
    profiler = cProfile.Profile() if args.cprofile else None
    started = time.perf_counter()
    for kind, params, body in batch[args.warmup :]:
        before = (dict(meter.ms), dict(meter.sql), dict(meter.tx), dict(meter.driver_ms))
        calls_before = dict(meter.calls)
        t0 = time.perf_counter()
        if profiler:
            profiler.enable()
        one(params, body)
        if profiler:
            profiler.disable()
        totals[kind].append((time.perf_counter() - t0) * 1000)
        agg = per_kind.setdefault(kind, {"ms": defaultdict(float), "sql": defaultdict(int),
                                         "tx": defaultdict(int), "driver": defaultdict(float),
                                         "calls": defaultdict(int)})  # fmt: skip
        for name in detail:
            agg["calls"][name] += meter.calls.get(name, 0) - calls_before.get(name, 0)
        for name in (*PHASES, *detail):
            agg["ms"][name] += meter.ms.get(name, 0) - before[0].get(name, 0)
            agg["sql"][name] += meter.sql.get(name, 0) - before[1].get(name, 0)
            agg["tx"][name] += meter.tx.get(name, 0) - before[2].get(name, 0)
            agg["driver"][name] += meter.driver_ms.get(name, 0) - before[3].get(name, 0)
    wall = time.perf_counter() - started

    every = [ms for values in totals.values() for ms in values]
    n_all = len(every)
    print(
        f"{n_all} messages one at a time in {wall:.1f}s: {n_all / wall:.0f}/s, "
        f"mean {statistics.mean(every):.2f} ms (no HTTP; profiler "
        f"{'on' if profiler else 'off'})"
    )
    for kind, agg in per_kind.items():
        n = len(totals[kind])
        lat = sorted(totals[kind])
        print(
            f"\n{kind}s ({n}): mean {statistics.mean(lat):.2f} ms, p50 {lat[n // 2]:.2f}, "
            f"p99 {lat[int(n * 0.99) - 1]:.2f}"
        )
        print(f"  {'phase':<28}{'ms/msg':>8}{'SQL/msg':>9}{'tx/msg':>8}{'in driver ms':>14}")
        for name in PHASES:
            print(
                f"  {name:<28}{agg['ms'][name] / n:>8.2f}{agg['sql'][name] / n:>9.1f}"
                f"{agg['tx'][name] / n:>8.1f}{agg['driver'][name] / n:>14.2f}"
            )
        rows = [name for name in detail if agg["calls"][name]]
        rows.sort(key=lambda name: -agg["ms"][name])
        print(f"  {'function (inclusive)':<34}{'calls/msg':>10}{'ms/msg':>8}{'SQL/msg':>9}")
        for name in rows:
            print(
                f"  {name:<34}{agg['calls'][name] / n:>10.2f}{agg['ms'][name] / n:>8.2f}"
                f"{agg['sql'][name] / n:>9.1f}"
            )
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.cprofile)
        stats.sort_stats("cumulative").print_stats(args.cprofile)


if __name__ == "__main__":
    main()
