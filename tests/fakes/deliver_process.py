"""Broadcast delivery in a process of its own, with an injected crash: for the crash test and
the broadcast benchmark. Usage: python -m tests.fakes.deliver_process DB_URL API_URL CRASH_AFTER
(CRASH_AFTER = 0: never crash). Exits 0 when every run is delivered; 137 when it "crashes"."""

from __future__ import annotations

import os
import sys
import time

from bot.broadcaster import Broadcaster
from bot.channels import wechat
from bot.config import load_config
from bot.messages import Channel
from bot.runtime import make_deps
from storage import broadcasts


def main() -> int:
    db_url, api_url, crash_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rate = sys.argv[4] if len(sys.argv) > 4 else "0"
    config = load_config(
        env={
            "BOT_STORAGE__URL": db_url,
            "BOT_WECHAT__API_BASE_URL": api_url,
            "BOT_WECHAT__APP_SECRET": "test-secret",
            "BOT_BROADCASTS__RATE_PER_SECOND": rate,
            # This process runs on the wall clock, the runs were opened on the test's: quiet
            # hours were applied then (not_before), and must not hold them again at night.
            "BOT_BROADCASTS__QUIET_HOURS": "00:00-00:00",
        }
    )
    deps = make_deps(config, migrate=False)
    client = wechat.Client(config, deps.store)
    sender = wechat.CustomerServiceSender(client, deps.store, config.wechat.cs_window_hours)
    sent = 0

    def crash_point(row_id: int) -> None:
        nonlocal sent
        sent += 1
        if crash_after and sent >= crash_after:
            os._exit(137)  # a crash: no cleanup, no flush, nothing

    broadcaster = Broadcaster(
        deps, {Channel.WECHAT: sender}, mass=wechat.MassSender(client), on_sent=crash_point
    )
    broadcaster.recover()
    while True:
        attempted = broadcaster.deliver_once()
        with deps.store.unit() as tx:
            active = broadcasts.active_runs(tx, now=deps.clock())
        if not attempted and not active:
            return 0
        if not attempted:
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
