"""Announcements and law education: what is scheduled, what a recipient reads, who receives it.

Quiet hours postpone a run (urgent excepted); a run is unique per scheduled time, so a repeated
firing resumes instead of repeating; WeChat's mass-send quota is checked when a schedule is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from handlers.context import Context
from handlers.limits import is_public_holiday
from knowledge.address import canonical_building
from knowledge.law import LawItem, load_items
from storage import broadcasts
from storage.models import Broadcast, BroadcastRun

AUDIENCE_SCOPES = ("all", "grid", "building", "tag")
QUOTA = {"subscription": ("day", 1), "service": ("month", 4)}


class BroadcastError(ValueError):
    """A schedule the service refuses. str() is the reason in English, for the command line;
    `key` and `fields` name its sentence in knowledge/replies.toml (`broadcast.refusal_KEY`),
    for admins in chat (`refusal`)."""

    def __init__(self, english: str, key: str, **fields: object) -> None:
        super().__init__(english)
        self.key = key
        self.fields = {name: str(value) for name, value in fields.items()}


def refusal(ctx: Context, error: BroadcastError) -> str:
    """The reason, as admins read it in chat."""
    fields = dict(error.fields)
    if error.key == "quota":
        fields["account"] = ctx.word("words", f"account_{fields['account']}")
        fields["unit"] = ctx.word("words", f"per_{fields['unit']}")
    return ctx.say(f"broadcast.refusal_{error.key}", **fields)


@dataclass(frozen=True)
class Schedule:
    kind: str
    audience: str
    channel: str
    text: str = ""
    item_id: str = ""
    run_at: datetime | None = None
    cron: str = ""
    skip_holidays: bool = False


DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _dow(field: str) -> str:
    """crontab's day-of-week field (Sunday = 0 or 7, names, ranges, lists, steps) as the
    explicit list of day names APScheduler reads (it counts from Monday = 0): "*/2" is Sunday,
    Tuesday, Thursday and Saturday, as in crontab; "0-6" is every day."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        stride = int(step) if step else 1
        if stride < 1:
            raise ValueError(f"step {step!r}")
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            low, high = _day(first), _day(last)
        else:
            low = _day(span)
            high = 7 if step else low  # "1/2": from Monday on, every other day
        if low > high:
            raise ValueError(f"range {span!r}")
        days.update(day % 7 for day in range(low, high + 1, stride))
    return ",".join(DOW_NAMES[day] for day in sorted(days))


def _day(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token in DOW_NAMES:
        return DOW_NAMES.index(token)
    raise ValueError(f"day of week {token!r}")


def cron_trigger(cron: str, tz: ZoneInfo) -> CronTrigger | OrTrigger:
    """A standard crontab line ("m h dom mon dow", Sunday = 0) as an APScheduler trigger.
    As in crontab, when both the day of the month and the day of the week are restricted (do
    not start with "*"), a day matching either fires ("0 9 1 * 1": the 1st and every Monday);
    APScheduler alone would want both."""
    fields = cron.split()
    if len(fields) != 5:
        raise BroadcastError(
            f"not a cron expression (m h dom mon dow): {cron!r}", "cron", cron=cron
        )
    minute, hour, day, month, dow = fields
    try:
        days = _dow(dow)
        if day.startswith("*") or dow.startswith("*"):  # crontab: "*/2" is not a restriction
            return CronTrigger(
                minute=minute, hour=hour, day=day, month=month, day_of_week=days, timezone=tz
            )
        return OrTrigger(
            [
                CronTrigger(minute=minute, hour=hour, day=day, month=month, timezone=tz),
                CronTrigger(minute=minute, hour=hour, month=month, day_of_week=days, timezone=tz),
            ]
        )
    except (ValueError, IndexError) as exc:
        raise BroadcastError(
            f"not a cron expression (m h dom mon dow): {cron!r}", "cron", cron=cron
        ) from exc


def quiet_until(at: datetime, quiet: str, tz: ZoneInfo) -> datetime:
    """`at`, or the end of quiet hours when `at` falls inside them ("21:00-08:00")."""
    start_text, end_text = quiet.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    local = at.astimezone(tz)
    clock = local.time()
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return at
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tz)


def fire_times(schedule: Schedule, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """When a schedule fires in [start, end)."""
    if schedule.run_at is not None:
        return [schedule.run_at] if start <= schedule.run_at < end else []
    trigger = cron_trigger(schedule.cron, tz)
    found: list[datetime] = []
    previous = None
    nxt = trigger.get_next_fire_time(None, start)
    while nxt is not None and nxt < end and len(found) < 1000:
        found.append(nxt)
        previous = nxt
        nxt = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
    return found


def _period_end(start: datetime, unit: str) -> datetime:
    if unit == "day":
        return start + timedelta(days=1)
    following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following


def _period_start(at: datetime, unit: str, tz: ZoneInfo) -> datetime:
    local = at.astimezone(tz)
    first = local.date() if unit == "day" else date(local.year, local.month, 1)
    return datetime.combine(first, time(0, 0), tz)


def quota_problems(
    ctx: Context, extra: Schedule | None = None, *, horizon_days: int = 62
) -> list[BroadcastError]:
    """Periods in which the planned mass sends (plus `extra`) exceed the account's quota."""
    unit, allowed = QUOTA[ctx.config.wechat.account_type]
    tz = ctx.config.tz
    end = ctx.now + timedelta(days=horizon_days)
    quiet = ctx.config.broadcasts.quiet_hours
    schedules = [extra] if extra is not None else []
    schedules += [
        as_schedule(other, tz)
        for other in broadcasts.listing(ctx.tx, include_finished=False)
        if other.channel == "wechat-mass"
    ]
    per_period: dict[datetime, int] = {}
    for schedule in schedules:
        for at in fire_times(schedule, tz, ctx.now, end):
            # WeChat counts a mass send on the day it goes out: after quiet hours, if held.
            sends = at if schedule.kind == "urgent" else quiet_until(at, quiet, tz)
            key = _period_start(sends, unit, tz)
            per_period[key] = per_period.get(key, 0) + 1
    problems = []
    for key, count in sorted(per_period.items()):
        already = broadcasts.mass_sends_since(ctx.tx, since=key, until=_period_end(key, unit))
        if count + already > allowed:
            account = ctx.config.wechat.account_type
            problems.append(
                BroadcastError(
                    f"a {account} account may mass-send {allowed} time(s) a {unit}; "
                    f"the period starting {key:%Y-%m-%d} would have {count + already}",
                    "quota",
                    account=account,
                    allowed=allowed,
                    unit=unit,
                    start=f"{key:%Y-%m-%d}",
                    count=count + already,
                )
            )
    return problems


def check_quota(ctx: Context, schedule: Schedule) -> None:
    """Refuse a mass-send schedule that would exceed the account's quota in any period."""
    if schedule.channel != "wechat-mass":
        return
    problems = quota_problems(ctx, schedule)
    if problems:
        raise problems[0]


def over_quota_now(ctx: Context, sends_at: datetime) -> bool:
    """At firing time: would this mass send (going out at `sends_at`) exceed its period's
    quota?"""
    unit, allowed = QUOTA[ctx.config.wechat.account_type]
    start = _period_start(sends_at, unit, ctx.config.tz)
    already = broadcasts.mass_sends_since(ctx.tx, since=start, until=_period_end(start, unit))
    return already > allowed


def as_schedule(b: Broadcast, tz: ZoneInfo) -> Schedule:
    return Schedule(
        b.kind, b.audience, b.channel, b.text, b.item_id, b.run_at, b.cron, b.skip_holidays
    )


def validate(ctx: Context, schedule: Schedule, items: dict[str, LawItem]) -> Schedule:
    if schedule.kind not in broadcasts.KINDS:
        kinds = ", ".join(broadcasts.KINDS)
        raise BroadcastError(f"kind must be one of {kinds}", "kind", kinds=kinds)
    if schedule.channel not in broadcasts.CHANNELS:
        channels = ", ".join(broadcasts.CHANNELS)
        raise BroadcastError(f"channel must be one of {channels}", "channel", channels=channels)
    scope, _, value = schedule.audience.partition(":")
    if scope not in AUDIENCE_SCOPES or (scope != "all" and not value):
        raise BroadcastError(
            "audience must be all, grid:ID, building:NAME or tag:NAME", "audience"
        )
    if scope == "building":
        schedule = Schedule(
            **{**schedule.__dict__, "audience": f"building:{canonical_building(value)}"}
        )
    if bool(schedule.text) == bool(schedule.item_id):
        raise BroadcastError("give either a text or a law item", "content")
    if schedule.kind == "law" and not schedule.item_id:  # its template quotes an item
        raise BroadcastError("a law broadcast takes a law item (--item)", "law_item")
    if schedule.channel == "telegram" and scope not in ("all", "grid"):
        raise BroadcastError("a telegram broadcast goes to all workers or a grid's", "workers")
    if schedule.item_id and schedule.item_id not in items:
        raise BroadcastError(f"no law item {schedule.item_id!r}", "item", item=schedule.item_id)
    if (schedule.run_at is None) == (not schedule.cron):
        raise BroadcastError("give either --at or --cron", "when")
    if schedule.cron:
        cron_trigger(schedule.cron, ctx.config.tz)
    check_quota(ctx, schedule)
    return schedule


def create(ctx: Context, schedule: Schedule, *, created_by: str) -> Broadcast:
    schedule = validate(ctx, schedule, load_items())
    return broadcasts.add(
        ctx.tx,
        kind=schedule.kind,
        audience=schedule.audience,
        channel=schedule.channel,
        text=schedule.text,
        item_id=schedule.item_id,
        run_at=schedule.run_at,
        cron=schedule.cron,
        skip_holidays=schedule.skip_holidays,
        created_by=created_by,
        created_at=ctx.now,
    )


def next_run(b: Broadcast, tz: ZoneInfo, now: datetime) -> datetime | None:
    if b.status != "active":
        return None
    if b.run_at is not None:
        return b.run_at
    fire_time: datetime | None = cron_trigger(b.cron, tz).get_next_fire_time(None, now)
    return fire_time


def latest_fire(b: Broadcast, tz: ZoneInfo, now: datetime) -> datetime | None:
    """The scheduled time a firing now belongs to (a late or repeated firing finds the same)."""
    if b.run_at is not None:
        return b.run_at if b.run_at <= now + timedelta(seconds=1) else None
    schedule = as_schedule(b, tz)
    # The nearest window first: fire_times stops at 1,000 times, which a frequent cron fills
    # long before now when counted from weeks back.
    for back in (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=35)):
        times = fire_times(schedule, tz, now - back, now + timedelta(seconds=1))
        if times:
            return times[-1]
    return None


def render(ctx: Context, b: Broadcast | Schedule) -> str:
    """What a recipient reads."""
    if b.item_id:
        item = load_items()[b.item_id]
        quote = item.quotes[0]
        return ctx.say(
            "broadcast.law",
            title=item.title,
            plain=item.plain,
            tip=item.tip,
            quote=quote.text,
            source=f"《{quote.law}》{quote.article}",
            text_date=quote.text_date,
        )
    return ctx.say(f"broadcast.{b.kind}", text=b.text)


def fire(ctx: Context, broadcast_id: int) -> BroadcastRun | None:
    """The scheduler fired: open this firing's run and write its ledger (once per firing)."""
    b = broadcasts.get(ctx.tx, broadcast_id)
    if b is None or b.status != "active":
        return None
    tz = ctx.config.tz
    scheduled = latest_fire(b, tz, ctx.now)
    if scheduled is None:
        return None
    if b.run_at is not None:
        b.status = "done"
    if b.skip_holidays and is_public_holiday(scheduled.astimezone(tz).date()):
        return None
    not_before = (
        ctx.now
        if b.kind == "urgent"
        else quiet_until(max(ctx.now, scheduled), ctx.config.broadcasts.quiet_hours, tz)
    )
    run, created = broadcasts.start_run(
        ctx.tx, b, scheduled_for=scheduled, not_before=not_before, text=render(ctx, b), now=ctx.now
    )
    if created:
        rows = recipients(ctx, b)
        if b.channel == "wechat-mass" and over_quota_now(ctx, not_before):
            rows = [("wechat", who, "skipped", "mass-send quota used up") for _, who, _, _ in rows]
        broadcasts.add_recipients(ctx.tx, run, rows, now=not_before)
    return run


def recipients(ctx: Context, b: Broadcast) -> list[tuple[str, str, str, str]]:
    """Ledger rows: (channel, recipient, status, reason); unsubscribed people are skipped."""
    if b.channel == "telegram":
        return [
            ("telegram", chat, "pending", "")
            for chat in broadcasts.worker_audience(ctx.tx, audience=b.audience)
        ]
    people = broadcasts.resident_audience(
        ctx.tx,
        kind=b.kind,
        audience=b.audience,
        default_opt_in=ctx.config.broadcasts.default_opt_in,
    )
    sent_by = "wechat-mass" if b.channel == "wechat-mass" else "wechat"  # mass: one send for all
    return [
        (sent_by, who, "pending", "") if ok else ("wechat", who, "skipped", "unsubscribed")
        for who, ok in people
    ]
