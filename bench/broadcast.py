"""Broadcast benchmark (issue 5): a 10,000-recipient per-resident broadcast against the fake
WeChat API, delivered by a separate process that crashes twice (injected: os._exit at a
random message), restarted each time. Prints total time at the configured rate, duplicates
(must be 0) and missed recipients (must be 0).

    .venv/bin/python bench/broadcast.py [--recipients 10000] [--rate 200] [--crashes 2]

The rate is broadcasts.rate_per_second (config.toml default 20/s: 10,000 recipients take about
8.5 minutes at that rate; pass --rate 20 to measure it, the default here is faster).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import roster_file  # noqa: E402
from bot.config import Storage, load_config  # noqa: E402
from bot.runtime import make_deps  # noqa: E402
from handlers import broadcast as rules  # noqa: E402
from handlers.context import Context  # noqa: E402
from storage import broadcasts, roster  # noqa: E402
from storage.models import Identity, Resident  # noqa: E402
from tests.fakes import wechat as fake  # noqa: E402
from tests.fakes.server import ServerThread  # noqa: E402


def seed(db_url: str, n: int) -> list[str]:
    config = load_config(env={})
    config = replace(config, storage=Storage(url=db_url))
    deps = make_deps(config)
    now = datetime.now(UTC)
    with deps.store.unit() as tx:
        roster.apply(tx, roster_file.read(ROOT / "knowledge" / "demo_roster.toml"))
        people = []
        for i in range(n):
            resident = Resident(created_at=now, last_inbound_at=now, building=f"{i % 9 + 1}号楼")
            tx.session.add(resident)
            tx.session.flush()
            openid = f"oBench{i:06d}"
            tx.session.add(
                Identity(
                    channel="wechat", external_id=openid, resident_id=resident.id, created_at=now
                )
            )
            people.append(openid)
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=config, now=now)
        schedule = rules.Schedule(
            kind="urgent",
            audience="all",
            channel="wechat-cs",
            text="【演练】明天9点到12点停水，请提前储水。",
            run_at=now,
        )
        b = rules.create(ctx, schedule, created_by="bench")
        tx.session.flush()
        rules.fire(ctx, b.id)
    return people


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--crashes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    started = time.monotonic()
    people = seed(db_url, args.recipients)
    print(
        f"seeded {len(people)} residents and one broadcast in {time.monotonic() - started:.1f} s"
    )
    api = fake.FakeApi()
    crash_points = sorted(rng.sample(range(1, args.recipients), args.crashes))
    runs = []
    with ServerThread(api.app()) as server:
        url = f"{server.url}/cgi-bin/"
        started = time.monotonic()
        delivered_before = 0
        for point in [*crash_points, 0]:
            after = point - delivered_before if point else 0
            t0 = time.monotonic()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.fakes.deliver_process",
                    db_url,
                    url,
                    str(after),
                    str(args.rate),
                ],
                cwd=ROOT,
                check=False,
            )
            runs.append((after, result.returncode, time.monotonic() - t0, len(api.sent)))
            delivered_before = len(api.sent)
        total = time.monotonic() - started
    received = Counter(m["touser"] for m in api.sent)
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    missed = len(set(people) - set(received))
    config = load_config(env={})
    deps = make_deps(replace(config, storage=Storage(url=db_url)), migrate=False)
    with deps.store.unit() as tx:
        (b,) = broadcasts.listing(tx)
        (run,) = broadcasts.runs(tx, b.id)
        ledger = broadcasts.counts(tx, run.id)
    print("\nprocess runs (crash after N sends, exit code, seconds, messages received so far):")
    for after, code, seconds, so_far in runs:
        print(f"  crash_after={after or '-':>6}  exit={code:<4} {seconds:7.1f} s  {so_far:>6}")
    print(f"\n{'recipients':<28}{args.recipients}")
    print(f"{'rate (messages/s)':<28}{args.rate:g}")
    print(f"{'injected crashes':<28}{args.crashes}")
    print(
        f"{'total delivery time':<28}{total:.1f} s  (ideal at this rate: "
        f"{args.recipients / args.rate:.1f} s)"
    )
    print(f"{'messages received':<28}{len(api.sent)}")
    print(f"{'duplicates':<28}{duplicates}   (must be 0)")
    print(f"{'missed recipients':<28}{missed}   (must be 0)")
    print(f"{'ledger':<28}{ledger}")
    return 0 if duplicates == 0 and missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
