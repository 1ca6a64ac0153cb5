"""Grid workers end to end: WeChat report -> Telegram notice -> accept, progress, resolve ->
the resident's rating -> closed; reopen; return and reassignment; forged callbacks refused."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import httpx
import pytest
from sqlalchemy import delete, func, select

from bot.app import create_app
from bot.case_view import detail
from bot.pipeline import Deps
from knowledge.replies import Replies
from storage import cases
from storage.models import Case, InboundMessage, Worker, WorkerGrid
from tests.fakes import telegram as tg
from tests.fakes import wechat as wx
from tests.fakes.server import ServerThread

NUMBER = re.compile(r"\d{4}-\d{6}")
W01, W02, W03, LEADER, ADMIN = 1001, 1002, 1003, 2001, 3001
SECRET = "tg-secret"


@dataclass
class Stack:
    deps: Deps
    web: httpx.Client
    platform: wx.Platform
    wechat_api: wx.FakeApi
    telegram: tg.FakeTelegram

    def resident_says(self, openid: str, text: str) -> str:
        params, body = self.platform.request(self.platform.text(openid, text))
        response = self.web.post("/wechat", params=params, content=body)
        assert response.status_code == 200, response.text
        return (
            self.platform.read_reply(response.text)["Content"]
            if response.text != "success"
            else ""
        )

    def worker_sends(self, user_id: int, update: dict) -> httpx.Response:
        return self.web.post(
            "/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )

    def press(self, user_id: int, data: str) -> None:
        assert (
            self.worker_sends(user_id, self.telegram.button_update(user_id, data)).status_code
            == 200
        )

    def type(self, user_id: int, text: str) -> None:
        assert (
            self.worker_sends(user_id, self.telegram.text_update(user_id, text)).status_code == 200
        )


def wait_for(condition: Callable[[], object], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def stack(deps: Deps) -> Iterator[Stack]:
    with deps.store.unit() as tx:
        for worker_id, chat in (
            ("w01", W01),
            ("w02", W02),
            ("w03", W03),
            ("l01", LEADER),
            ("a01", ADMIN),
        ):
            tx.session.get(Worker, worker_id).telegram_id = chat
    wechat_api, telegram = wx.FakeApi(), tg.FakeTelegram()
    with ServerThread(wechat_api.app()) as wapi, ServerThread(telegram.app()) as tapi:
        config = replace(
            deps.config,
            wechat=replace(
                deps.config.wechat,
                token=wx.TOKEN,
                app_id=wx.APP_ID,
                api_base_url=f"{wapi.url}/cgi-bin/",
                app_secret="test-secret",
            ),
            telegram=replace(
                deps.config.telegram,
                token=tg.TOKEN,
                base_url=f"{tapi.url}/bot",
                webhook_secret=SECRET,
            ),
        )
        d = replace(deps, config=config)
        platform = wx.Platform(clock=lambda: d.clock().timestamp())
        with (
            ServerThread(create_app(d, schedule=False)) as app,
            httpx.Client(base_url=app.url, timeout=10) as web,
        ):
            yield Stack(d, web, platform, wechat_api, telegram)


def case_of(stack: Stack, number: str) -> Case:
    with stack.deps.store.unit() as tx:
        case = cases.by_number(tx, number)
        assert case is not None
        return case


def _button_labels(stack: Stack, chat_id: int) -> dict[str, str]:
    labels = {}
    for method in ("sendMessage", "editMessageText"):
        for sent in stack.telegram.sent(method, chat_id):
            for row in (sent.get("reply_markup") or {}).get("inline_keyboard", []):
                labels.update({b["callback_data"]: b["text"] for b in row})
    return labels


def test_report_to_closing_through_wechat_and_telegram(stack: Stack) -> None:
    reply = stack.resident_says("oRes", "3号楼楼道灯坏了，晚上看不见")
    number = NUMBER.search(reply).group()
    case_id = case_of(stack, number).id
    wait_for(lambda: f"case:accept:{case_id}" in stack.telegram.buttons(W01), "the notice to w01")
    notice = stack.telegram.texts(W01)[0]
    assert number in notice and "物业维修" in notice and "3号楼" in notice

    stack.press(W01, f"case:accept:{case_id}")
    wait_for(
        lambda: any("签收" in t for t in stack.wechat_api.texts_to("oRes")), "accepted notice"
    )
    assert stack.telegram.sent("answerCallbackQuery")
    assert f"case:resolve:{case_id}" in stack.telegram.buttons(W01)
    # The buttons read as knowledge/replies.toml words them.
    labels = _button_labels(stack, W01)
    words = Replies.load()
    assert labels[f"case:accept:{case_id}"] == words.get("buttons.accept")
    assert labels[f"case:resolve:{case_id}"] == words.get("buttons.resolve")

    stack.press(W01, f"case:note:{case_id}")
    stack.type(W01, "已联系电工，明天上午更换")
    wait_for(lambda: any("已联系电工" in t for t in stack.wechat_api.texts_to("oRes")), "progress")

    stack.press(W01, f"case:resolve:{case_id}")
    stack.type(W01, "已更换灯泡，恢复照明")
    wait_for(lambda: any("满意" in t for t in stack.wechat_api.texts_to("oRes")), "rating request")
    assert case_of(stack, number).status == "resolved"

    assert "感谢您的评价" in stack.resident_says("oRes", "满意")
    case = case_of(stack, number)
    assert (case.status, case.rating, case.solved) == ("closed", "satisfied", True)
    with stack.deps.store.unit() as tx:
        timeline = detail(cases.by_number(tx, number), stack.deps.config.tz)["events"]
    moves = [(e["from"], e["to"]) for e in timeline if e["to"]]
    assert moves == [
        (None, "new"),
        ("new", "assigned"),
        ("assigned", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
    assert [e["actor"] for e in timeline if e["kind"] == "accept"] == ["worker:w01"]


def test_unsatisfied_rating_reopens_the_case(stack: Stack) -> None:
    number = NUMBER.search(stack.resident_says("oRes2", "5号楼电梯坏了")).group()
    case_id = case_of(stack, number).id
    wait_for(lambda: f"case:accept:{case_id}" in stack.telegram.buttons(W02), "notice to w02")
    stack.press(W02, f"case:accept:{case_id}")
    stack.press(W02, f"case:resolve:{case_id}")
    stack.type(W02, "已通知维保")
    wait_for(lambda: case_of(stack, number).status == "resolved", "resolution")
    assert "重新办理" in stack.resident_says("oRes2", "不满意，电梯还是停着")
    case = case_of(stack, number)
    assert (case.status, case.reopen_count) == ("in_progress", 1)
    wait_for(lambda: any("重办" in t for t in stack.telegram.texts(W02)), "reopen notice")


def _resolve(stack: Stack, worker: int, number: str, note: str) -> None:
    case_id = case_of(stack, number).id
    wait_for(lambda: f"case:accept:{case_id}" in stack.telegram.buttons(worker), "the notice")
    stack.press(worker, f"case:accept:{case_id}")
    stack.press(worker, f"case:resolve:{case_id}")
    stack.type(worker, note)
    wait_for(lambda: case_of(stack, number).status == "resolved", "resolution")


def test_the_rating_goes_to_the_case_it_was_asked_for(stack: Stack) -> None:
    first = NUMBER.search(stack.resident_says("oRes8", "3号楼楼道灯坏了")).group()
    second = NUMBER.search(stack.resident_says("oRes8", "3号楼门口垃圾堆了好几天没人清")).group()
    _resolve(stack, W01, second, "已清运")
    _resolve(stack, W01, first, "已换灯泡")  # asked last: the rating is for this one
    assert "重新办理" in stack.resident_says("oRes8", "不太满意，灯还是不亮")
    assert case_of(stack, first).status == "in_progress"
    assert case_of(stack, second).status == "resolved"


def test_return_then_leader_reassigns(stack: Stack) -> None:
    number = NUMBER.search(stack.resident_says("oRes3", "2号楼下水道堵了")).group()
    case_id = case_of(stack, number).id
    wait_for(lambda: f"case:return:{case_id}" in stack.telegram.buttons(W01), "notice to w01")
    stack.press(W01, f"case:return:{case_id}")
    stack.type(W01, "这是物业的管道，不归网格")
    wait_for(lambda: f"case:to:{case_id}:w02" in stack.telegram.buttons(LEADER), "leader choice")
    case = case_of(stack, number)
    assert (case.status, case.return_count, case.assignee_id) == ("new", 1, None)
    stack.press(LEADER, f"case:to:{case_id}:w02")
    wait_for(lambda: f"case:accept:{case_id}" in stack.telegram.buttons(W02), "notice to w02")
    assert (case_of(stack, number).status, case_of(stack, number).assignee_id) == (
        "assigned",
        "w02",
    )


def test_forged_and_stale_buttons_change_nothing(stack: Stack) -> None:
    number = NUMBER.search(stack.resident_says("oRes4", "3号楼门禁坏了")).group()
    case_id = case_of(stack, number).id
    wait_for(lambda: stack.telegram.buttons(W01), "notice")
    stack.press(666, f"case:accept:{case_id}")  # a stranger
    wait_for(lambda: stack.telegram.texts(666), "answer to the stranger")
    assert "绑定" in stack.telegram.texts(666)[0]
    stack.press(W02, f"case:accept:{case_id}")  # a worker it does not belong to
    stack.press(W01, "case:accept:not-a-number")
    wait_for(lambda: len(stack.telegram.texts(W02)) >= 1, "answer to w02")
    assert case_of(stack, number).status == "assigned"
    stack.press(W01, f"case:accept:{case_id}")
    stack.press(W01, f"case:accept:{case_id}")  # pressed twice: the second is stale
    wait_for(lambda: any("已经不适用" in t for t in stack.telegram.texts(W01)), "stale answer")
    with stack.deps.store.unit() as tx:
        accepts = [e for e in cases.by_number(tx, number).events if e.kind == "accept"]
    assert len(accepts) == 1


def test_a_leader_passes_on_only_the_cases_of_grids_they_lead(stack: Stack) -> None:
    number = NUMBER.search(stack.resident_says("oRes6", "3号楼门口的垃圾没人清")).group()
    case = case_of(stack, number)
    assert (case.grid_id, case.assignee_id) == ("g1", "w01")
    with stack.deps.store.unit() as tx:  # l01 now leads g2 and g3 only
        tx.session.execute(
            delete(WorkerGrid).where(WorkerGrid.worker_id == "l01", WorkerGrid.grid_id == "g1")
        )
    stack.press(LEADER, f"case:to:{case.id}:w03")  # forged: a case of a grid l01 does not lead
    stack.press(LEADER, f"case:reassign:{case.id}")
    wait_for(lambda: len(stack.telegram.texts(LEADER)) >= 2, "answers to the leader")
    assert all("找不到" in t for t in stack.telegram.texts(LEADER)[-2:])
    assert case_of(stack, number).assignee_id == "w01"
    stack.press(ADMIN, f"case:to:{case.id}:w03")  # an admin may
    wait_for(lambda: case_of(stack, number).assignee_id == "w03", "the admin's reassignment")


def test_a_worker_accepts_or_returns_and_only_a_leader_passes_a_case_on(stack: Stack) -> None:
    number = NUMBER.search(stack.resident_says("oRes9", "3号楼2单元水管漏水了")).group()
    case = case_of(stack, number)
    wait_for(lambda: f"case:accept:{case.id}" in stack.telegram.buttons(W01), "the notice")
    assert f"case:reassign:{case.id}" not in stack.telegram.buttons(W01)
    stack.press(W01, f"case:reassign:{case.id}")  # forged: the owner may not pass it on
    stack.press(W01, f"case:to:{case.id}:w02")
    wait_for(lambda: len(stack.telegram.texts(W01)) >= 3, "answers to w01")
    assert all("找不到" in t for t in stack.telegram.texts(W01)[-2:])
    assert case_of(stack, number).assignee_id == "w01"
    stack.type(LEADER, f"/case {number}")
    wait_for(lambda: f"case:reassign:{case.id}" in stack.telegram.buttons(LEADER), "转派")
    stack.press(LEADER, f"case:reassign:{case.id}")
    wait_for(lambda: f"case:to:{case.id}:w02" in stack.telegram.buttons(LEADER), "the choice")
    stack.press(LEADER, f"case:to:{case.id}:w02")
    wait_for(lambda: case_of(stack, number).assignee_id == "w02", "the leader's reassignment")


def test_a_leader_presses_the_owner_of_a_case(stack: Stack) -> None:
    number = NUMBER.search(stack.resident_says("oRes10", "3号楼门口井盖松了")).group()
    case = case_of(stack, number)
    wait_for(lambda: f"case:accept:{case.id}" in stack.telegram.buttons(W01), "the notice")
    stack.type(W02, f"/press {number} 快点")  # a worker cannot press
    wait_for(lambda: stack.telegram.texts(W02), "the answer to w02")
    assert "没有这个命令" in stack.telegram.texts(W02)[-1]
    stack.type(LEADER, f"/press {number} 今天下班前联系居民")
    wait_for(lambda: any("督办" in t for t in stack.telegram.texts(W01)), "the press")
    pressed = next(t for t in stack.telegram.texts(W01) if "督办" in t)
    assert number in pressed and "今天下班前联系居民" in pressed and "赵磊" in pressed
    assert any("已督办" in t for t in stack.telegram.texts(LEADER))
    with stack.deps.store.unit() as tx:
        presses = [
            (e.actor, e.note) for e in cases.by_number(tx, number).events if e.kind == "press"
        ]
    assert presses == [("worker:l01", "今天下班前联系居民")]
    assert "网格长已督办" in stack.resident_says("oRes10", f"查询 {number}")


def test_an_anonymous_report_does_not_say_who_wrote_it(stack: Stack) -> None:
    stack.resident_says("oAnon", "我住5号楼1单元202")  # registered: not used for this report
    reply = stack.resident_says("oAnon", "匿名反映：3号楼有人在楼道里给电动车充电，别说是我说的")
    number = NUMBER.search(reply).group()
    assert "匿名" in reply
    case = case_of(stack, number)
    assert case.anonymous and "5号楼" not in case.address and case.building == "3号楼"
    wait_for(lambda: f"case:accept:{case.id}" in stack.telegram.buttons(W01), "the notice")
    stack.press(W01, f"case:accept:{case.id}")
    stack.press(W01, f"case:phone:{case.id}")
    wait_for(lambda: any("匿名" in t for t in stack.telegram.texts(W01)), "the refusal")
    assert not any("5号楼" in t for t in stack.telegram.texts(W01))  # not the address
    with stack.deps.store.unit() as tx:
        assert "pii_view" not in [e.kind for e in cases.by_number(tx, number).events]


def test_a_leader_merges_two_reports_of_the_same_thing(stack: Stack) -> None:
    stack.resident_says("oFirst", "我住3号楼2单元501")
    first = NUMBER.search(stack.resident_says("oFirst", "门口路灯坏了，打我13712345678")).group()
    second = NUMBER.search(stack.resident_says("oSecond", "3号楼门口那个路灯不亮了")).group()
    stack.type(W01, f"/merge {second} {first}")  # workers cannot merge
    stack.type(LEADER, f"/merge {second} {first}")
    wait_for(lambda: case_of(stack, second).status == "merged", "the merge")
    assert case_of(stack, second).merged_into_id == case_of(stack, first).id
    wait_for(lambda: any("合并" in t for t in stack.wechat_api.texts_to("oSecond")), "told")
    assert first in next(t for t in stack.wechat_api.texts_to("oSecond") if "合并" in t)
    assert first in stack.resident_says("oSecond", "我的工单")  # follows the case it joined
    followed = stack.resident_says("oSecond", f"查询 {first}")
    assert "已并入" in followed  # its timeline, not the other resident's words or address
    assert "5678" not in followed and "501" not in followed and "路灯坏了" not in followed
    assert "路灯坏了" not in stack.resident_says("oSecond", "我的工单")
    assert "撤销" not in stack.resident_says("oSecond", f"撤销 {first}")  # not theirs to withdraw
    assert case_of(stack, first).status == "assigned"
    assert "找不到" in stack.resident_says("oThird", f"查询 {first}") or "没有找到" in (
        stack.resident_says("oThird", f"查询 {first}")
    )
    _resolve(stack, W01, first, "已更换灯泡")
    wait_for(lambda: any("已办结" in t for t in stack.wechat_api.texts_to("oSecond")), "told")
    assert any("评价" in t for t in stack.wechat_api.texts_to("oFirst"))  # the reporter rates
    assert not any("评价" in t for t in stack.wechat_api.texts_to("oSecond"))
    third = NUMBER.search(stack.resident_says("oThird2", "3号楼门口路灯又坏了一盏")).group()
    fourth = NUMBER.search(stack.resident_says("oFourth", "3号楼门口那盏路灯还是黑的")).group()
    stack.type(LEADER, f"/merge {fourth} {third}")  # then the kept one joins another: no chain
    wait_for(lambda: case_of(stack, fourth).status == "merged", "the first merge")
    other = NUMBER.search(stack.resident_says("oFifth", "3号楼门口的灯不亮")).group()
    stack.type(LEADER, f"/merge {third} {other}")
    wait_for(lambda: case_of(stack, third).status == "merged", "the second merge")
    assert case_of(stack, fourth).merged_into_id == case_of(stack, other).id
    assert other in stack.resident_says("oFourth", "我的工单")
    stack.type(LEADER, f"/merge {first} {second}")  # a resolved case cannot be merged
    wait_for(lambda: any("不能并入" in t for t in stack.telegram.texts(LEADER)), "refused")


def test_a_phone_the_resident_wrote_is_masked_in_notices_and_shown_on_request(
    stack: Stack,
) -> None:
    reply = stack.resident_says("oRes7", "3号楼2单元楼道灯坏了，有事打我电话13712345678")
    number = NUMBER.search(reply).group()
    case = case_of(stack, number)
    wait_for(lambda: f"case:accept:{case.id}" in stack.telegram.buttons(W01), "the notice")
    notice = next(t for t in stack.telegram.texts(W01) if number in t)
    assert "137****5678" in notice and "13712345678" not in notice
    stack.press(W01, f"case:phone:{case.id}")
    wait_for(lambda: any("13712345678" in t for t in stack.telegram.texts(W01)), "the phone")
    with stack.deps.store.unit() as tx:
        assert [e.kind for e in cases.by_number(tx, number).events].count("pii_view") == 1


def test_webhook_requires_the_secret_header(stack: Stack) -> None:
    update = stack.telegram.text_update(W01, "/mycases")
    assert stack.web.post("/telegram", json=update).status_code == 403
    bad = stack.web.post(
        "/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
    )
    assert bad.status_code == 403
    assert (
        stack.web.post(
            "/telegram", content=b"{", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        ).status_code
        == 400
    )


def _update(*, text: object = "/mycases", date: object = 1, sender: object = 1001) -> bytes:
    import json

    person = {"id": sender, "is_bot": False, "first_name": "a"}
    chat = {"id": 1001, "type": "private"}
    message = {"message_id": 3, "date": date, "chat": chat, "from": person, "text": text}
    return json.dumps({"update_id": 5, "message": message}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"update_id": 1, "message": "x"}',  # a field of the wrong shape
        b'{"update_id": 2, "message": {"message_id": 1, "chat": {"id": 1, "type": "private"}}}',
        b'{"update_id": 3, "message": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
        b"[1, 2]",
        _update(text=2**70),  # a text that is a number (it reached the database)
        _update(text={"a": 1}),
        _update(date=2**70),  # a date beyond any clock
        _update(sender="x"),  # a user id that is no number
    ],
)
def test_malformed_updates_get_400_and_change_nothing(stack: Stack, body: bytes) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert stack.web.post("/telegram", content=body, headers=headers).status_code == 400
    with stack.deps.store.unit() as tx:
        assert tx.session.scalar(select(func.count()).select_from(InboundMessage)) == 0


def test_the_same_update_well_typed_is_taken(stack: Stack) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert stack.web.post("/telegram", content=_update(), headers=headers).status_code == 200
    with stack.deps.store.unit() as tx:
        assert tx.session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_link_code_links_a_chat_account_once(stack: Stack) -> None:
    from handlers import worker as worker_handlers
    from handlers.context import Context

    with stack.deps.store.unit() as tx:
        tx.session.get(Worker, "w03").telegram_id = None
        ctx = Context(
            tx=tx,
            kb=stack.deps.knowledge.current,
            config=stack.deps.config,
            now=stack.deps.clock(),
        )
        code = worker_handlers.new_link_code(ctx, "w03")
    stack.type(4242, f"/link {code}")
    wait_for(lambda: stack.telegram.texts(4242), "link answer")
    assert "绑定成功" in stack.telegram.texts(4242)[0]
    stack.type(5252, f"/link {code}")  # the code is spent
    wait_for(lambda: stack.telegram.texts(5252), "second answer")
    assert "还没有绑定" in stack.telegram.texts(5252)[0]
    with stack.deps.store.unit() as tx:
        assert tx.session.get(Worker, "w03").telegram_id == 4242


def test_worker_commands_mycases_case_and_report_for_a_resident(stack: Stack) -> None:
    stack.type(W01, "/report 2号楼1单元101 王秀英 13900001111 楼道灯坏了好几天")
    wait_for(lambda: any("代居民登记" in t for t in stack.telegram.texts(W01)), "filed")
    number = NUMBER.search(next(t for t in stack.telegram.texts(W01) if "代居民" in t)).group()
    case = case_of(stack, number)
    assert (case.filed_by, case.assignee_id, case.grid_id) == ("w01", "w01", "g1")
    notice = next(t for t in stack.telegram.texts(W01) if "新工单" in t)
    assert "13900001111" not in notice  # never a full phone number in a notice
    stack.type(W01, "/mycases")
    wait_for(lambda: any("您手上有" in t for t in stack.telegram.texts(W01)), "mycases")
    stack.press(W01, f"case:phone:{case.id}")
    wait_for(lambda: any("13900001111" in t for t in stack.telegram.texts(W01)), "phone")
    with stack.deps.store.unit() as tx:
        assert [e.kind for e in cases.by_number(tx, number).events].count("pii_view") == 1
    stack.type(W02, f"/case {number}")  # not theirs
    wait_for(lambda: stack.telegram.texts(W02), "answer")
    assert "找不到" in stack.telegram.texts(W02)[-1]
    stack.type(LEADER, f"/case {number}")  # the leader of its grid looks: on the record
    wait_for(lambda: any(number in t for t in stack.telegram.texts(LEADER)), "the case view")
    with stack.deps.store.unit() as tx:
        views = [
            (e.actor, e.note) for e in cases.by_number(tx, number).events if e.kind == "pii_view"
        ]
    assert views == [("worker:w01", "phone"), ("worker:l01", "case")]  # w02 saw nothing


def test_leader_queue_and_assign_command(stack: Stack) -> None:
    reply = stack.resident_says("oRes5", "小区东门外的路灯不亮了，在幸福路上")
    if "具体位置" in reply:
        reply = stack.resident_says("oRes5", "东门外面，不在哪栋楼")
        reply = stack.resident_says("oRes5", "就是大门口") or reply
        reply = stack.resident_says("oRes5", "门口马路") or reply
    with stack.deps.store.unit() as tx:
        case = tx.session.scalars(select(Case)).one()
        number, status = case.number, case.status
    assert status == "new"
    stack.type(LEADER, "/queue")
    wait_for(lambda: any(number in t for t in stack.telegram.texts(LEADER)), "queue")
    stack.type(W01, f"/assign {number} w03")  # workers cannot assign
    stack.type(LEADER, f"/assign {number} w03")
    wait_for(lambda: case_of(stack, number).assignee_id == "w03", "assignment")
    wait_for(lambda: any(number in t for t in stack.telegram.texts(W03)), "notice to w03")


def test_the_residents_photo_reaches_the_worker(stack: Stack) -> None:
    number = NUMBER.search(stack.resident_says("oPic", "1号楼楼道灯坏了")).group()
    fields = stack.platform.message(
        "oPic", "image", PicUrl="http://img.example/1.jpg", MediaId="M9"
    )
    params, body = stack.platform.request(fields)
    assert (
        number
        in stack.platform.read_reply(stack.web.post("/wechat", params=params, content=body).text)[
            "Content"
        ]
    )
    wait_for(lambda: stack.telegram.sent("sendPhoto", W01), "the photo to w01")
    photo = stack.telegram.sent("sendPhoto", W01)[0]
    assert photo["photo"] == "http://img.example/1.jpg" and number in photo["caption"]


def test_polling_mode_reads_get_updates(deps: Deps) -> None:
    with deps.store.unit() as tx:
        tx.session.get(Worker, "w01").telegram_id = W01
    telegram = tg.FakeTelegram()
    with ServerThread(telegram.app()) as tapi:
        config = replace(
            deps.config,
            telegram=replace(
                deps.config.telegram, token=tg.TOKEN, base_url=f"{tapi.url}/bot", mode="polling"
            ),
        )
        d = replace(deps, config=config)
        telegram.queue(telegram.text_update(W01, "/mycases"))
        with ServerThread(create_app(d, schedule=False)):
            wait_for(lambda: telegram.texts(W01), "the answer to a polled update")
    assert "没有工单" in telegram.texts(W01)[0]
    assert any(method == "getUpdates" for method, _ in telegram.calls)


def test_set_webhook_sends_the_secret(deps: Deps) -> None:
    from bot.channels.telegram import set_webhook

    telegram = tg.FakeTelegram()
    with ServerThread(telegram.app()) as tapi:
        config = replace(
            deps.config,
            telegram=replace(
                deps.config.telegram,
                token=tg.TOKEN,
                base_url=f"{tapi.url}/bot",
                webhook_secret="s3",
            ),
        )
        assert set_webhook(config, "https://bot.example/telegram")
    (call,) = telegram.sent("setWebhook")
    assert call["url"] == "https://bot.example/telegram" and call["secret_token"] == "s3"


def test_chat_as_a_worker_speaks_as_that_worker_and_presses_buttons(tmp_path) -> None:
    """`python -m bot chat --as worker:ID` (CONTRACT.md): the terminal is that worker of the
    roster; buttons are numbered and typing a number presses one."""
    import json

    from tests.cli import bot as run

    env = {"BOT_STORAGE__URL": f"sqlite:///{tmp_path / 'chat.db'}"}

    def bot(*args: str, stdin: str = "") -> str:
        done = run(*args, stdin=stdin, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    bot("seed")
    filed = bot("chat", "--as", "resident:王阿姨", stdin="3号楼楼道灯坏了\n")
    number = re.search(r"\d{4}-\d{6}", filed).group(0)
    worker = bot("chat", "--as", "worker:w01", stdin=f"/mycases\n/case {number}\n1\n")
    assert "没太明白" not in worker and number in worker
    assert "[1] 接单" in worker and "已接单" in worker
    case = json.loads(bot("cases", "show", number, "--json"))
    assert case["status"] == "in_progress" and case["assignee"]
    # The resident's terminal shows what happened meanwhile with their next message, once.
    later = bot("chat", "--as", "resident:王阿姨", stdin="谢谢\n谢谢\n")
    assert later.count(f"您的工单 {number} 已由网格员") == 1
    assert "还没有绑定网格员身份" in bot("chat", "--as", "worker:nobody", stdin="/mycases\n")


@pytest.mark.parametrize(
    ("who", "command", "says"),
    [
        ("w01", "/case", "用法：/case"),
        ("a01", "/linkcode", "用法：/linkcode"),
        ("a01", "/linkcode w99", "没有找到人员：w99"),
        ("l01", "/merge", "用法：/merge"),
        ("l01", "/assign 2026-000001", "用法：/assign"),
    ],
)
def test_a_command_without_its_arguments_says_how_to_use_it(
    deps: Deps, who: str, command: str, says: str
) -> None:
    from bot.messages import Channel
    from tests.dialog import send

    reply = send(deps, command, sender=f"console-worker-{who}", channel=Channel.CONSOLE).text
    assert says in reply
