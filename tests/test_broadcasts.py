"""Announcements and law education: schedules, quiet hours, holidays, quotas, consent, the
delivery ledger, and a delivering process killed mid-broadcast that resumes exactly once."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.broadcaster import Broadcaster
from bot.channels import wechat
from bot.config import Broadcasts
from bot.messages import Channel
from bot.pipeline import Deps
from handlers import broadcast as rules
from handlers.context import Context
from storage import broadcasts, residents
from storage.models import BroadcastRun, Identity, OutboxMessage, Resident, Worker
from tests.conftest import ROOT
from tests.fakes import wechat as fake
from tests.fakes.server import ServerThread

TZ = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.mark.parametrize(
    "at,expected",
    [
        (local(2026, 12, 1, 22, 30), local(2026, 12, 2, 8, 0)),
        (local(2026, 12, 2, 6, 0), local(2026, 12, 2, 8, 0)),
        (local(2026, 12, 2, 9, 0), local(2026, 12, 2, 9, 0)),
        (local(2026, 12, 2, 21, 0), local(2026, 12, 3, 8, 0)),
    ],
)
def test_quiet_hours_postpone(at: datetime, expected: datetime) -> None:
    assert rules.quiet_until(at, "21:00-08:00", TZ) == expected


def _ctx(deps: Deps, tx) -> Context:
    return Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=deps.clock())


def _residents(deps: Deps, n: int, *, prefix: str = "o", **fields: object) -> list[str]:
    ids = []
    with deps.store.unit() as tx:
        for i in range(n):
            openid = f"{prefix}{i:05d}"
            resident = residents.ensure_resident(
                tx, channel="wechat", external_id=openid, now=deps.clock()
            )
            resident.last_inbound_at = deps.clock()
            for key, value in fields.items():
                setattr(resident, key, value)
            ids.append(openid)
    return ids


def _create(deps: Deps, **kw: object) -> int:
    fields = {"kind": "notice", "audience": "all", "channel": "wechat-cs", "text": "明天停水"}
    fields.update(kw)
    with deps.store.unit() as tx:
        return rules.create(_ctx(deps, tx), rules.Schedule(**fields), created_by="test").id


def _fire(deps: Deps, broadcast_id: int) -> BroadcastRun | None:
    with deps.store.unit() as tx:
        return rules.fire(_ctx(deps, tx), broadcast_id)


def test_a_weekly_item_missed_for_weeks_runs_once(deps: Deps, clock) -> None:
    _residents(deps, 3)
    clock.now = local(2026, 11, 2, 10, 0)  # a Monday after 09:00
    b = _create(deps, kind="law", text="", item_id="law-a-falling-objects-1", cron="0 9 * * 1")
    clock.now = local(2026, 11, 25, 15, 0)  # three weeks of downtime later
    first, again = _fire(deps, b), _fire(deps, b)
    assert first is not None and again is not None and first.id == again.id
    assert first.scheduled_for == local(2026, 11, 23, 9, 0)  # only the latest missed Monday
    with deps.store.unit() as tx:
        assert len(broadcasts.runs(tx, b)) == 1
        assert broadcasts.counts(tx, first.id) == {"pending": 3}


def test_public_holidays_can_be_skipped(deps: Deps, clock) -> None:
    _residents(deps, 1)
    clock.now = local(2026, 9, 28, 8, 0)
    b = _create(deps, cron="0 9 * * *", skip_holidays=True)
    clock.now = local(2026, 10, 2, 9, 0, 30)  # National Day
    assert _fire(deps, b) is None
    clock.now = local(2026, 10, 10, 9, 0, 30)  # the make-up Saturday is a working day
    assert _fire(deps, b) is not None


def test_quiet_hours_hold_notices_but_not_urgent_ones(deps: Deps, clock) -> None:
    _residents(deps, 1)
    clock.now = local(2026, 12, 1, 22, 0)
    notice = _fire(deps, _create(deps, run_at=clock.now))
    urgent = _fire(deps, _create(deps, kind="urgent", run_at=clock.now))
    assert notice.not_before == local(2026, 12, 2, 8, 0)
    assert urgent.not_before == clock.now


@pytest.mark.parametrize(
    "account,cron,ok",
    [
        ("subscription", "0 9 * * *", True),  # once a day: allowed
        ("service", "0 9 * * 1", True),  # weekly: at most 5 a month... refused below
    ],
)
def test_mass_send_quota(deps: Deps, clock, account: str, cron: str, ok: bool) -> None:
    d = replace(
        deps, config=replace(deps.config, wechat=replace(deps.config.wechat, account_type=account))
    )
    clock.now = local(2026, 11, 30, 8, 0)
    if account == "subscription":
        _create(d, channel="wechat-mass", cron=cron)
        with pytest.raises(rules.BroadcastError, match="1 time"):
            _create(d, channel="wechat-mass", run_at=local(2026, 12, 3, 15, 0))
    else:
        with pytest.raises(rules.BroadcastError, match="4 time"):
            _create(d, channel="wechat-mass", cron="0 9 * * *")  # daily: 30 a month
        _create(d, channel="wechat-mass", cron="0 9 1,15 * *")  # twice a month: fine
        _create(d, channel="wechat-mass", run_at=local(2026, 12, 20, 10, 0))
        _create(d, channel="wechat-mass", run_at=local(2026, 12, 21, 10, 0))
        with pytest.raises(rules.BroadcastError):
            _create(d, channel="wechat-mass", run_at=local(2026, 12, 22, 10, 0))


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "spam"},
        {"channel": "sms"},
        {"audience": "grid:"},
        {"audience": "planet:x"},
        {"cron": "every monday", "run_at": None},
        {"item_id": "no-such-item", "text": ""},
    ],
)
def test_bad_schedules_are_refused(deps: Deps, clock, bad: dict) -> None:
    fields = {"run_at": clock.now, **bad}
    with pytest.raises(rules.BroadcastError):
        _create(deps, **fields)


@pytest.fixture
def api() -> Iterator[tuple[fake.FakeApi, str]]:
    server_api = fake.FakeApi()
    with ServerThread(server_api.app()) as server:
        yield server_api, f"{server.url}/cgi-bin/"


def _wechat_deps(deps: Deps, api_url: str) -> Deps:
    return replace(
        deps,
        config=replace(
            deps.config,
            wechat=replace(deps.config.wechat, api_base_url=api_url, app_secret="test-secret"),
            broadcasts=Broadcasts(
                default_opt_in=True, rate_per_second=0, quiet_hours="23:59-00:00"
            ),
        ),
    )


def test_consent_window_and_report(deps: Deps, api, clock) -> None:
    server_api, url = api
    d = _wechat_deps(deps, url)
    people = _residents(d, 4)
    with d.store.unit() as tx:
        tx.session.get(Worker, "a01").telegram_id = 3001
        first = tx.session.scalar(
            select(Resident).join(Identity).where(Identity.external_id == people[0])
        )
        first.subscribe_notice = False  # unsubscribed
        second = tx.session.scalar(
            select(Resident).join(Identity).where(Identity.external_id == people[1])
        )
        second.last_inbound_at = clock.now - timedelta(hours=72)  # outside the 48-hour window
    b = _create(d, run_at=clock.now)
    client = wechat.Client(d.config, d.store)
    sender = wechat.CustomerServiceSender(client, d.store, 48, clock=d.clock)
    broadcaster = Broadcaster(d, {Channel.WECHAT: sender})
    run = _fire(d, b)
    broadcaster.deliver_once()
    assert sorted(m["touser"] for m in server_api.sent) == people[2:]
    with d.store.unit() as tx:
        assert broadcasts.counts(tx, run.id) == {"sent": 2, "skipped": 2}
        report = [
            r.text
            for r in tx.session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient_id == "3001")
            )
        ]
    assert len(report) == 1 and "已发送 2" in report[0] and "跳过 2" in report[0]


def test_law_item_by_mass_send_is_sent_once(deps: Deps, api, clock) -> None:
    server_api, url = api
    d = _wechat_deps(deps, url)
    people = _residents(d, 120)
    b = _create(
        d, kind="law", text="", item_id="law-b-fraud-1", channel="wechat-mass", run_at=clock.now
    )
    run = _fire(d, b)
    client = wechat.Client(d.config, d.store)
    mass = wechat.MassSender(client)
    Broadcaster(d, {}, mass=mass).deliver_once()
    mass.send_mass(run_id=run.id, openids=people, text="again")  # a resumed run: refused by id
    assert len(server_api.mass) == 1 and server_api.mass[0]["to"] == people
    assert "普法" in server_api.mass[0]["text"]


def test_a_retried_mass_send_takes_back_its_tag_and_sends_once(deps: Deps, api) -> None:
    server_api, url = api
    d = _wechat_deps(deps, url)
    mass = wechat.MassSender(wechat.Client(d.config, d.store))
    people = ["p1", "p2", "p3"]
    # A first attempt made the run's tag and tagged some followers, then failed.
    made = mass.client.post("tags/create", data={"tag": {"name": "run7"}})["tag"]["id"]
    mass.client.post("tags/members/batchtagging", data={"openid_list": people[:1], "tagid": made})
    assert mass.send_mass(run_id=7, openids=people, text="通知") != "duplicate"
    assert [m["to"] for m in server_api.mass] == [people]
    assert [t["name"] for t in server_api.tags.values()] == ["run7"]


def test_many_mass_sends_stay_within_the_tag_limits(deps: Deps, api) -> None:
    """100 tags an account, 20 a follower: earlier runs' tags go, the account's own stay."""
    server_api, url = api
    d = _wechat_deps(deps, url)
    mass = wechat.MassSender(wechat.Client(d.config, d.store))
    own = mass.client.post("tags/create", data={"tag": {"name": "老年人"}})["tag"]["id"]
    mass.client.post("tags/members/batchtagging", data={"openid_list": ["p1"], "tagid": own})
    for run_id in range(1, 106):
        mass.send_mass(run_id=run_id, openids=["p1", "p2"], text=f"第{run_id}期")
    assert len(server_api.mass) == 105 and server_api.mass[-1]["to"] == ["p1", "p2"]
    assert sorted(t["name"] for t in server_api.tags.values()) == ["run105", "老年人"]


def test_a_killed_delivering_process_resumes_and_sends_exactly_once(
    deps: Deps, api, clock, db_url: str
) -> None:
    server_api, url = api
    d = _wechat_deps(deps, url)
    people = _residents(d, 300)
    _fire(d, _create(d, run_at=clock.now))
    exits = []
    for crash_after in (90, 70, 0):  # two crashes, then a clean run to the end
        result = subprocess.run(
            [sys.executable, "-m", "tests.fakes.deliver_process", db_url, url, str(crash_after)],
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        exits.append(result.returncode)
    assert exits == [137, 137, 0]
    received = Counter(m["touser"] for m in server_api.sent)
    assert sorted(received) == people
    assert set(received.values()) == {1}


def test_tag_audience_reaches_only_the_tagged(deps: Deps, clock) -> None:
    people = _residents(deps, 3)
    with deps.store.unit() as tx:
        identity = residents.find_identity(tx, channel="wechat", external_id=people[1])
        broadcasts.tag_resident(tx, resident_id=identity.resident_id, tag="elderly")
    run = _fire(deps, _create(deps, audience="tag:elderly", run_at=clock.now))
    with deps.store.unit() as tx:
        rows = tx.session.scalars(
            select(broadcasts.BroadcastDelivery).where(
                broadcasts.BroadcastDelivery.run_id == run.id
            )
        ).all()
        assert [r.recipient_id for r in rows] == [people[1]]


def test_a_mass_send_beyond_the_quota_at_firing_is_not_sent(deps: Deps, clock) -> None:
    _residents(deps, 2)
    first = _create(deps, channel="wechat-mass", run_at=clock.now)
    _fire(deps, first)
    with deps.store.unit() as tx:  # a second one slipped in (e.g. the account type changed)
        second = broadcasts.add(
            tx,
            kind="notice",
            audience="all",
            channel="wechat-mass",
            text="再发一次",
            run_at=clock.now,
            created_at=clock.now,
        )
        second_id = second.id
    run = _fire(deps, second_id)
    with deps.store.unit() as tx:
        assert broadcasts.counts(tx, run.id) == {"skipped": 2}


def test_admin_broadcasts_from_telegram_with_preview_and_confirm(deps: Deps, clock) -> None:
    from tests.dialog import send

    with deps.store.unit() as tx:
        tx.session.get(Worker, "a01").telegram_id = 3001
        tx.session.get(Worker, "w01").telegram_id = 1001
    preview = send(
        deps, "/broadcast notice all 明天上午停水", sender="3001", channel=Channel.TELEGRAM
    )
    assert "推送预览" in preview.text and "明天上午停水" in preview.text
    with deps.store.unit() as tx:
        assert broadcasts.listing(tx) == []  # nothing before the confirm
    done = send(deps, "", sender="3001", channel=Channel.TELEGRAM, payload="bc:ok")
    assert "已安排推送" in done.text
    for command, reason in (
        ("/broadcast gossip all 明天停水", "推送类型只能是"),
        ("/broadcast notice everyone 明天停水", "推送对象只能是"),
    ):
        bad = send(deps, command, sender="3001", channel=Channel.TELEGRAM)
        assert "无法安排这次推送" in bad.text and reason in bad.text, bad.text
    refused = send(deps, "/broadcast notice all 我也想发", sender="1001", channel=Channel.TELEGRAM)
    assert "没有这个命令" in refused.text  # workers cannot broadcast
    with deps.store.unit() as tx:
        (b,) = broadcasts.listing(tx)
        assert (b.kind, b.audience, b.created_by) == ("notice", "all", "worker:a01")


def test_admins_are_warned_ahead_of_an_exceeded_quota(deps: Deps, clock) -> None:
    from bot import jobs

    with deps.store.unit() as tx:
        tx.session.get(Worker, "a01").telegram_id = 3001
    _create(deps, channel="wechat-mass", cron="0 9 * * *")
    assert jobs.quota_warning(deps) == 0
    with deps.store.unit() as tx:  # a second daily mass send slipped in
        broadcasts.add(
            tx,
            kind="notice",
            audience="all",
            channel="wechat-mass",
            text="x",
            run_at=clock.now + timedelta(days=2),
            created_at=clock.now,
        )
    assert jobs.quota_warning(deps) == 1
    with deps.store.unit() as tx:
        (warning,) = tx.session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient_id == "3001")
        ).all()
    assert "群发次数" in warning.text
    # In Chinese, with the account and the period named: "订阅号每天最多群发1次，从…起…将有2次".
    assert "订阅号每天最多群发1次" in warning.text and "将有2次" in warning.text
    assert "account" not in warning.text and "mass-send" not in warning.text


class _Sent:
    """A Sender that keeps what it was given (the WeChat API is not the point here)."""

    def __init__(self) -> None:
        self.to: list[tuple[str, str]] = []

    def send(self, message) -> None:  # type: ignore[no-untyped-def]
        self.to.append((message.recipient_id, message.text))


def test_consent_and_cancelling_are_asked_again_when_sending(deps: Deps, clock) -> None:
    from bot.broadcaster import Broadcaster

    people = _residents(deps, 3)
    clock.now = local(2026, 12, 1, 22, 0)  # quiet hours: the notice waits for 08:00
    notice = _create(deps, run_at=clock.now)
    cancelled = _create(deps, run_at=clock.now, text="取消了的通知")
    _fire(deps, notice), _fire(deps, cancelled)
    with deps.store.unit() as tx:  # overnight: one replies 退订通知, one unfollows
        resident = residents.find_identity(tx, channel="wechat", external_id=people[0]).resident
        residents.set_subscription(tx, resident, kind="notice", on=False)
        residents.set_follow(tx, channel="wechat", external_id=people[1], following=False)
        broadcasts.get(tx, cancelled).status = "cancelled"
    sent = _Sent()
    clock.now = local(2026, 12, 2, 8, 0, 30)
    Broadcaster(deps, {Channel.WECHAT: sent}).deliver_once()
    assert [who for who, _ in sent.to] == [people[2]] and "明天停水" in sent.to[0][1]


def test_quiet_hours_hold_a_run_still_going_and_urgent_goes_first(deps: Deps, clock) -> None:
    from bot.broadcaster import Broadcaster

    people = _residents(deps, 4)
    clock.now = local(2026, 12, 1, 20, 59)
    _fire(deps, _create(deps, run_at=clock.now, text="例行通知"))  # opened before 21:00
    clock.now = local(2026, 12, 1, 21, 30)  # resumed after a restart, in quiet hours
    sent = _Sent()
    assert Broadcaster(deps, {Channel.WECHAT: sent}).deliver_once() == 0
    _fire(deps, _create(deps, kind="urgent", run_at=clock.now, text="燃气泄漏，请勿开火"))
    Broadcaster(deps, {Channel.WECHAT: sent}, batch=2).deliver_once(max_messages=2)
    assert len(sent.to) == 2 and all("燃气" in text for _, text in sent.to)
    clock.now = local(2026, 12, 2, 8, 0)
    Broadcaster(deps, {Channel.WECHAT: sent}).deliver_once()
    assert sorted(who for who, text in sent.to if "例行" in text) == people


def test_a_law_push_names_its_item_and_workers_are_reached_by_grid(deps: Deps, clock) -> None:
    from knowledge.law import load_items

    with deps.store.unit() as tx:
        ctx = _ctx(deps, tx)
        with pytest.raises(rules.BroadcastError) as law_text:
            rules.validate(ctx, rules.Schedule("law", "all", "wechat-cs", text="好好学法"), {})
        assert law_text.value.key == "law_item"
        with pytest.raises(rules.BroadcastError) as building:
            rules.validate(ctx, rules.Schedule("notice", "building:1号楼", "telegram", "x"), {})
        assert building.value.key == "workers"
        item = next(iter(load_items()))
        law = rules.validate(
            ctx,
            rules.Schedule("law", "all", "wechat-cs", item_id=item, run_at=clock.now),
            load_items(),
        )
        assert "普法" in rules.render(ctx, law)


def test_skipping_holidays_keeps_ordinary_weekends(deps: Deps, clock) -> None:
    from handlers.limits import is_public_holiday

    assert is_public_holiday(local(2026, 10, 2).date())  # National Day
    assert not is_public_holiday(local(2026, 6, 6).date())  # an ordinary Saturday
    assert not is_public_holiday(local(2026, 10, 10).date())  # the make-up Saturday
    clock.now = local(2026, 6, 1, 8, 0)
    weekly = _create(deps, cron="0 9 * * 6", skip_holidays=True)
    clock.now = local(2026, 6, 6, 9, 0, 30)
    assert _fire(deps, weekly) is not None


@pytest.mark.parametrize(
    ("cron", "days"),
    [
        ("0 9 2 * 1", [1, 2, 8, 15, 22, 29]),  # both restricted: the 2nd or a Monday (June 2026)
        ("0 9 1-3 * 1", [1, 2, 3, 8, 15, 22, 29]),
        ("0 9 */10 * 1", [1]),  # a field starting with * is no restriction: both must match
        ("0 9 1 * *", [1]),
        ("0 9 * * 1", [1, 8, 15, 22, 29]),
    ],
)
def test_a_day_of_the_month_and_of_the_week_read_as_crontab_does(
    cron: str, days: list[int]
) -> None:
    times = rules.fire_times(
        rules.Schedule("notice", "all", "wechat-cs", "x", cron=cron),
        TZ,
        local(2026, 6, 1, 0, 0),
        local(2026, 7, 1, 0, 0),
    )
    assert [t.day for t in times] == days
    assert all((t.hour, t.minute) == (9, 0) for t in times)


@pytest.mark.parametrize(
    "dow,days",
    [
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),  # crontab counts from Sunday = 0
        ("0-6", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("7", ["Sun"]),
        ("5-7", ["Sun", "Fri", "Sat"]),  # 7 is Sunday too
    ],
)
def test_cron_days_of_the_week_read_as_crontab_does(dow: str, days: list[str]) -> None:
    schedule = rules.Schedule("notice", "all", "wechat-cs", text="x", cron=f"0 9 * * {dow}")
    week = rules.fire_times(schedule, TZ, local(2026, 6, 7), local(2026, 6, 14))  # Sun-Sat
    assert sorted({t.strftime("%a") for t in week}, key=DAYS.index) == days


DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]


def test_a_frequent_cron_fires_for_its_latest_time(deps: Deps, clock) -> None:
    clock.now = local(2026, 6, 10, 11, 0)
    every_half_hour = _create(deps, cron="*/30 * * * *")
    clock.now = local(2026, 6, 10, 12, 0, 5)
    run = _fire(deps, every_half_hour)
    assert run is not None and run.scheduled_for == local(2026, 6, 10, 12, 0)


def test_a_mass_send_held_overnight_counts_on_the_day_it_goes_out(deps: Deps, clock) -> None:
    """A subscription account sends one mass message a day: 22:00 held to 08:00 is the next
    day's, so a second one planned for 10:00 that day is refused."""
    clock.now = local(2026, 6, 1, 12, 0)
    _create(deps, channel="wechat-mass", run_at=local(2026, 6, 1, 22, 0))
    with pytest.raises(rules.BroadcastError) as refused:
        _create(deps, channel="wechat-mass", run_at=local(2026, 6, 2, 10, 0))
    assert refused.value.key == "quota" and refused.value.fields["start"] == "2026-06-02"
    _create(deps, channel="wechat-mass", run_at=local(2026, 6, 1, 20, 0))  # goes out on the 1st


def test_an_urgent_push_outside_the_window_waits_for_the_next_message(
    deps: Deps, api, clock
) -> None:
    from tests.dialog import send

    server_api, url = api
    d = _wechat_deps(deps, url)
    people = _residents(d, 2)
    with d.store.unit() as tx:
        away = tx.session.scalar(
            select(Resident).join(Identity).where(Identity.external_id == people[0])
        )
        away.last_inbound_at = clock.now - timedelta(hours=72)  # outside the 48-hour window
    sender = wechat.CustomerServiceSender(
        wechat.Client(d.config, d.store), d.store, 48, clock=d.clock
    )
    run = _fire(d, _create(d, kind="urgent", run_at=clock.now, text="今晚停气，请关好阀门"))
    Broadcaster(d, {Channel.WECHAT: sender}).deliver_once()
    assert [m["touser"] for m in server_api.sent] == [people[1]]  # the other one is held
    with d.store.unit() as tx:
        assert broadcasts.counts(tx, run.id) == {"sent": 1, "skipped": 1}
    reply = send(d, "你好", sender=people[0], channel=Channel.WECHAT).text
    assert "今晚停气" in reply  # given with the answer to their next message


def test_a_held_urgent_push_expires(deps: Deps, api, clock) -> None:
    from tests.dialog import send

    server_api, url = api
    d = _wechat_deps(deps, url)
    people = _residents(d, 1)
    with d.store.unit() as tx:
        away = tx.session.scalar(select(Resident))
        away.last_inbound_at = clock.now - timedelta(hours=72)
    sender = wechat.CustomerServiceSender(
        wechat.Client(d.config, d.store), d.store, 48, clock=d.clock
    )
    _fire(d, _create(d, kind="urgent", run_at=clock.now, text="今晚停气，请关好阀门"))
    Broadcaster(d, {Channel.WECHAT: sender}).deliver_once()
    assert server_api.sent == []  # held: outside the window
    clock.advance(hours=25)
    reply = send(d, "你好", sender=people[0], channel=Channel.WECHAT).text
    assert "今晚停气" not in reply
    with d.store.unit() as tx:
        held = tx.session.scalar(select(OutboxMessage).where(OutboxMessage.text.contains("停气")))
        assert held.status == "failed" and held.last_error == "expired while held"


def test_rows_claimed_and_not_sent_go_back_at_once(deps: Deps, clock, monkeypatch) -> None:
    clock.now = local(2026, 12, 1, 10, 0)
    people = _residents(deps, 5)
    run = _fire(deps, _create(deps, run_at=clock.now))
    sent = _Sent()
    original = broadcasts.mark
    calls = []

    def failing_mark(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk I/O error")
        return original(*args, **kwargs)

    monkeypatch.setattr(broadcasts, "mark", failing_mark)
    with pytest.raises(RuntimeError):
        Broadcaster(deps, {Channel.WECHAT: sent}).deliver_once()
    with deps.store.unit() as tx:
        counts = broadcasts.counts(tx, run.id)
    assert counts.get("sending", 0) == 0 and counts == {"sent": 1, "pending": 4}
    monkeypatch.undo()
    Broadcaster(deps, {Channel.WECHAT: sent}).deliver_once()
    assert sorted({who for who, _ in sent.to}) == people


def test_a_mass_send_asks_consent_again_and_a_cancelled_run_is_closed(deps: Deps, clock) -> None:
    class Mass:
        def __init__(self) -> None:
            self.to: list[list[str]] = []

        def send_mass(self, *, run_id: int, openids: list[str], text: str) -> str:
            self.to.append(openids)
            return "m1"

    people = _residents(deps, 3)
    clock.now = local(2026, 6, 1, 22, 0)  # held to the morning
    mass_run = _fire(deps, _create(deps, channel="wechat-mass", run_at=clock.now))
    cancelled = _create(deps, run_at=clock.now, text="作废的通知")
    cancelled_run = _fire(deps, cancelled)
    with deps.store.unit() as tx:
        resident = residents.find_identity(tx, channel="wechat", external_id=people[0]).resident
        residents.set_subscription(tx, resident, kind="notice", on=False)
        broadcasts.get(tx, cancelled).status = "cancelled"
    mass = Mass()
    clock.now = local(2026, 6, 2, 8, 0, 30)
    Broadcaster(deps, {Channel.WECHAT: _Sent()}, mass=mass).deliver_once()
    assert mass.to == [people[1:]]
    with deps.store.unit() as tx:
        assert broadcasts.counts(tx, mass_run.id) == {"sent": 2, "skipped": 1}
        closed = tx.session.get(BroadcastRun, cancelled_run.id)
        assert closed.status == "done"  # closed (and reported), not left sending
        assert broadcasts.counts(tx, cancelled_run.id) == {"skipped": 3}


def test_the_quota_counts_each_period_on_its_own(deps: Deps, clock) -> None:
    """A notice fired at 21:30 is held to 08:00 the next day: it is that day's mass send, so an
    urgent one at 22:00 (not held) is the only one on the first day and is accepted."""
    clock.now = local(2026, 6, 1, 21, 30)
    run = _fire(deps, _create(deps, channel="wechat-mass", run_at=clock.now))
    assert run is not None and run.not_before == local(2026, 6, 2, 8, 0)
    _create(deps, channel="wechat-mass", kind="urgent", run_at=local(2026, 6, 1, 22, 0))
    with pytest.raises(rules.BroadcastError):  # but the 2nd has had its one
        _create(deps, channel="wechat-mass", run_at=local(2026, 6, 2, 10, 0))


def test_a_quartz_style_day_of_week_is_refused() -> None:
    for cron in ("0 9 * * mon#1", "0 9 * * monkey"):
        with pytest.raises(rules.BroadcastError):
            rules.cron_trigger(cron, TZ)
