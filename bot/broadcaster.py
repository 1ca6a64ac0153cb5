"""Delivery of broadcasts from the per-recipient ledger, at the configured rate.

Every ledger row is marked `sending` (committed) before its message goes out and `sent` after,
so a restart resumes where the last process stopped and never repeats a sent row. Rows caught
mid-send by a crash go out again: at least once beats never for a notice. Mass sends carry a
`clientmsgid` derived from the run, so WeChat itself refuses to send a run twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from bot import outbox as delivery
from bot.messages import Channel, Outgoing
from bot.outbox import Hold, Sender
from bot.pipeline import Deps
from handlers import broadcast as broadcast_rules
from handlers.context import Context
from storage import broadcasts, outbox, roster
from storage.models import BroadcastRun

log = logging.getLogger("bot.broadcaster")
_FAR = timedelta(days=3650)
MAX_ATTEMPTS = 5
LEDGER_CHANNELS = {"wechat": Channel.WECHAT, "telegram": Channel.TELEGRAM}


class MassSender(Protocol):
    def send_mass(self, *, run_id: int, openids: list[str], text: str) -> str:
        """Send one mass message to these followers; idempotent per run; returns the msg id."""


@dataclass
class Broadcaster:
    deps: Deps
    senders: Mapping[Channel, Sender]
    mass: MassSender | None = None
    batch: int = 100
    sleep: Callable[[float], None] = time.sleep
    on_sent: Callable[[int], None] = lambda row_id: None  # a hook for fault-injection tests
    # Whether this process may still deliver (the scheduler's lease): checked before each send,
    # so a process that lost the lease stops within one message, and the rows it claimed and
    # did not send go back to pending at the new leader's recovery (sent once, by it).
    active: Callable[[], bool] = lambda: True
    _next_send: float = field(default=0.0)

    def fire(self, broadcast_id: int) -> int | None:
        """Open the run of a firing (the scheduler's job); returns the run id."""
        with self.deps.store.unit() as tx:
            ctx = Context(
                tx=tx,
                kb=self.deps.knowledge.current,
                config=self.deps.config,
                now=self.deps.clock(),
            )
            run = broadcast_rules.fire(ctx, broadcast_id)
            return run.id if run is not None else None

    def recover(self) -> int:
        """At start: rows a killed process left mid-send go back to pending."""
        count = 0
        with self.deps.store.unit() as tx:
            for run in broadcasts.active_runs(tx, now=self.deps.clock() + _FAR):
                count += broadcasts.recover_sending(tx, run.id)
        if count:
            log.warning(
                "broadcast recovery: %d deliveries were in flight and will be retried", count
            )
        return count

    def deliver_once(self, *, max_messages: int = 1000) -> int:
        """Send what is due, up to max_messages; returns how many were attempted."""
        now = self.deps.clock()
        config = self.deps.config
        quiet = broadcast_rules.quiet_until(now, config.broadcasts.quiet_hours, config.tz) > now
        with self.deps.store.unit() as tx:
            stopped = broadcasts.cancelled_runs(tx)
            for run_id in stopped:  # cancelled: the rest is skipped, and the admins told
                broadcasts.skip_pending(tx, run_id, reason="cancelled")
            run_ids = [
                (r.id, r.channel, r.text, broadcasts.run_kind(tx, r))
                for r in broadcasts.active_runs(tx, now=now)
            ]
        for run_id in stopped:
            self._finish_if_done(run_id)
        attempted = 0
        for run_id, channel, text, kind in run_ids:
            if quiet and kind != "urgent":
                continue  # a run resumed or still going at 21:00 waits for the morning
            if channel == "wechat-mass":
                attempted += self._mass(run_id, text, kind)
            else:
                attempted += self._each(run_id, text, max_messages - attempted, kind)
            self._finish_if_done(run_id)
            if attempted >= max_messages:
                break
        return attempted

    def _pace(self) -> None:
        rate = self.deps.config.broadcasts.rate_per_second
        if rate <= 0:
            return
        now = time.monotonic()
        if self._next_send > now:
            self.sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + 1.0 / rate

    def _each(self, run_id: int, text: str, budget: int, kind: str = "") -> int:
        attempted = 0
        while attempted < budget and self.active():
            with self.deps.store.unit() as tx:
                rows = [
                    (r.id, r.channel, r.recipient_id)
                    for r in broadcasts.claim(
                        tx,
                        run_id,
                        now=self.deps.clock(),
                        limit=min(self.batch, budget - attempted),
                    )
                ]
                # Consent is asked again at sending: a resident who replied 退订, unfollowed
                # or erased their data since the run was opened gets nothing.
                gone = broadcasts.withdrawn(
                    tx,
                    kind=kind,
                    recipients=[who for _, channel, who in rows if channel == "wechat"],
                    default_opt_in=self.deps.config.broadcasts.default_opt_in,
                )
                for row_id, channel, who in rows:
                    if channel == "wechat" and who in gone:
                        broadcasts.mark(
                            tx, row_id, status="skipped", now=self.deps.clock(), reason="opted out"
                        )
            rows = [r for r in rows if not (r[1] == "wechat" and r[2] in gone)]
            if not rows:
                if gone:
                    continue
                break
            urgent = kind == "urgent"
            done = 0
            try:
                for row_id, channel, recipient in rows:
                    if not self.active():
                        return attempted
                    self._pace()
                    message = Outgoing(
                        LEDGER_CHANNELS[channel],
                        recipient,
                        text,
                        template="urgent" if urgent else "",
                    )
                    self._send_one(row_id, message, hold_over=urgent)
                    done += 1
                    attempted += 1
            finally:
                # Rows claimed and not reached (stopped, or a database error): back to pending
                # now, not at the next leader's start. The row being sent when it failed is
                # released too: at least once beats never.
                left = [row_id for row_id, _, _ in rows[done:]]
                if left:
                    with contextlib.suppress(Exception), self.deps.store.unit() as tx:
                        broadcasts.release(tx, left)
        return attempted

    def _send_one(self, row_id: int, message: Outgoing, *, hold_over: bool = False) -> None:
        """Send one ledger row. With `hold_over` (urgent pushes), a resident outside WeChat's
        48-hour window (and no urgent template configured) gets it with their next message."""
        sender = self.senders.get(message.channel)
        status, reason = "sent", ""
        try:
            if sender is None:
                raise Hold(f"no sender for {message.channel.value}")
            sender.send(message)
        except Hold as exc:
            status, reason = "skipped", str(exc)
            if hold_over and sender is not None:
                now = self.deps.clock()
                hours = self.deps.config.broadcasts.urgent_hold_hours
                with self.deps.store.unit() as tx:
                    delivery.queue(
                        tx,
                        message,
                        status=outbox.HELD,
                        now=now,
                        expires_at=now + timedelta(hours=hours),
                    )
                reason = f"held for the next message within {hours:g} hours ({exc})"
        except Exception as exc:
            with self.deps.store.unit() as tx:
                broadcasts.retry_later(
                    tx, row_id, now=self.deps.clock(), reason=repr(exc), max_attempts=MAX_ATTEMPTS
                )
            return
        with self.deps.store.unit() as tx:
            broadcasts.mark(tx, row_id, status=status, now=self.deps.clock(), reason=reason)
        self.on_sent(row_id)

    def _mass(self, run_id: int, text: str, kind: str = "") -> int:
        with self.deps.store.unit() as tx:
            rows = broadcasts.claim(tx, run_id, now=self.deps.clock(), limit=1_000_000)
            gone = broadcasts.withdrawn(
                tx,
                kind=kind,
                recipients=[r.recipient_id for r in rows],
                default_opt_in=self.deps.config.broadcasts.default_opt_in,
            )
            for row in rows:
                if row.recipient_id in gone:  # consent asked again at sending, as for each
                    row.status, row.reason = "skipped", "opted out"
            claimed = [(r.id, r.recipient_id) for r in rows if r.recipient_id not in gone]
        if not claimed:
            return 0
        try:
            if self.mass is None:
                raise Hold("mass send is not configured")
            self.mass.send_mass(run_id=run_id, openids=[o for _, o in claimed], text=text)
            status, reason = "sent", ""
        except Hold as exc:
            status, reason = "failed", str(exc)
        except Exception as exc:
            status, reason = "pending", repr(exc)
        with self.deps.store.unit() as tx:
            for row_id, _ in claimed:
                if status == "pending":
                    broadcasts.retry_later(
                        tx, row_id, now=self.deps.clock(), reason=reason, max_attempts=MAX_ATTEMPTS
                    )
                else:
                    broadcasts.mark(
                        tx, row_id, status=status, now=self.deps.clock(), reason=reason
                    )
        return len(claimed)

    def _finish_if_done(self, run_id: int) -> None:
        """A finished run is closed and reported to the admins in Telegram."""
        with self.deps.store.unit() as tx:
            run = tx.session.get(BroadcastRun, run_id)
            if (
                run is None
                or run.status == "done"
                or not broadcasts.unfinished_without_work(tx, run_id)
            ):
                return
            now = self.deps.clock()
            run.status, run.finished_at = "done", now
            counts = broadcasts.counts(tx, run_id)
            ctx = Context(tx=tx, kb=self.deps.knowledge.current, config=self.deps.config, now=now)
            text = ctx.say(
                "broadcast.report",
                id=run.broadcast_id,
                at=ctx.local_time(run.scheduled_for),
                recipients=run.recipients,
                sent=counts.get("sent", 0),
                failed=counts.get("failed", 0),
                skipped=counts.get("skipped", 0),
            )
            for admin in roster.workers_with_role(tx, "admin"):
                if admin.telegram_id is not None:
                    delivery.queue(
                        tx,
                        Outgoing(Channel.TELEGRAM, str(admin.telegram_id), text),
                        status=outbox.PENDING,
                        now=now,
                    )
            run.reported = True
            log.info("broadcast run %s done: %s", run_id, counts)
