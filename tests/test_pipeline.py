"""The pipeline end to end on a real database: dialogs, dedupe, state, failures."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bot.messages import Channel, Incoming, Kind
from bot.pipeline import Deps, handle
from storage import cases
from storage.models import Case, CaseEvent, InboundMessage, OutboxMessage
from tests.dialog import location, send, verify_dialog

NUMBER = re.compile(r"\d{4}-\d{6}")


def count(deps: Deps, model: type) -> int:
    with deps.store.unit() as tx:
        return int(tx.session.scalar(select(func.count()).select_from(model)) or 0)


def test_report_with_building_opens_an_assigned_case(deps: Deps) -> None:
    reply = send(deps, "3号楼2单元楼道灯坏了，晚上黑漆漆的").text
    number = NUMBER.search(reply)
    assert number, reply
    assert "物业维修" in reply and "第一网格" in reply
    with deps.store.unit() as tx:
        case = cases.by_number(tx, number.group())
        assert case is not None
        assert (case.category, case.status, case.grid_id, case.assignee_id) == (
            "repair",
            "assigned",
            "g1",
            "w01",
        )
        assert [e.kind for e in case.events] == ["created", "assign"]


def test_report_without_address_asks_and_files_after_the_answer(deps: Deps) -> None:
    reply = send(deps, "门口的垃圾好几天没人清运了").text
    assert "具体位置" in reply and not NUMBER.search(reply)
    assert count(deps, Case) == 0
    reply = send(deps, "在5号楼东边").text
    assert NUMBER.search(reply) and "环境卫生" in reply and "第二网格" in reply
    # the address is remembered: the next report needs no question
    reply = send(deps, "楼下健身器材坏了，单杠断了").text
    assert NUMBER.search(reply) and "5号楼" in reply


def test_location_answers_the_address_question(deps: Deps) -> None:
    send(deps, "路边井盖没了很危险")
    reply = location(deps, 39.9, 116.4, "幸福路88号附近").text
    assert NUMBER.search(reply) and "幸福路88号附近" in reply


def test_cancel_while_asked_for_address_drops_the_draft(deps: Deps) -> None:
    send(deps, "小区里有人遛狗不拴绳")
    assert "已取消" in send(deps, "取消").text
    assert count(deps, Case) == 0
    assert "没太明白" in send(deps, "随便说点啥").text or count(deps, Case) == 0


def test_a_side_question_keeps_the_report_being_filled_in(deps: Deps) -> None:
    send(deps, "楼上装修太吵了")
    send(deps, "我的工单")
    reply = send(deps, "8号楼3单元").text
    assert NUMBER.search(reply) and "噪音" in reply


def test_urgent_report_is_filed_at_once_even_without_address(deps: Deps) -> None:
    reply = send(deps, "隔壁独居老人三天没开门了，敲门也没人应").text
    assert NUMBER.search(reply), reply
    assert "紧急" in reply or "110" in reply
    with deps.store.unit() as tx:
        case = tx.session.scalars(select(Case)).one()
        assert case.category == "elderly" and case.urgent and case.status == "new"


def test_second_report_of_same_category_joins_the_open_case(deps: Deps, clock) -> None:
    first = NUMBER.search(send(deps, "3号楼电梯坏了").text)
    assert first
    reply = send(deps, "3号楼电梯还是停着，里面好像有人").text
    assert first.group() in reply and "并入" in reply
    assert count(deps, Case) == 1
    clock.advance(hours=2)  # outside the merge window: a new case
    assert NUMBER.search(send(deps, "3号楼电梯又坏了").text).group() != first.group()


def test_retry_of_the_same_msgid_gets_the_same_answer_and_no_second_case(deps: Deps) -> None:
    first = send(deps, "7号楼门口井盖没了", external_id="msg-1")
    again = send(deps, "7号楼门口井盖没了", external_id="msg-1")
    assert again.duplicate and again.text == first.text
    assert count(deps, Case) == 1 and count(deps, InboundMessage) == 1


def test_resident_lists_shows_and_cancels_own_cases(deps: Deps) -> None:
    number = NUMBER.search(send(deps, "3号楼楼道灯不亮").text).group()
    verify_dialog(
        deps,
        [
            ("我的工单", [number, "物业维修"]),
            (f"查询 {number}", [number, "居民反映"]),
            (f"撤销 {number}", [number, "已撤销"]),
            (f"撤销 {number}", ["不能撤销"]),
        ],
    )


def test_a_case_number_that_is_not_yours_reveals_nothing(deps: Deps) -> None:
    number = NUMBER.search(send(deps, "3号楼楼道灯不亮", sender="alice").text).group()
    for text in (f"查询 {number}", f"撤销 {number}"):
        reply = send(deps, text, sender="mallory").text
        assert "没有找到" in reply and "楼道灯" not in reply
    with deps.store.unit() as tx:
        assert cases.by_number(tx, number).status == "assigned"


def test_register_address_names_the_grid_worker(deps: Deps) -> None:
    verify_dialog(deps, [("我住3号楼2单元501", ["3号楼2单元501室", "第一网格", "张敏"])])


def test_backup_worker_takes_cases_when_the_owner_is_on_leave(deps: Deps) -> None:
    from storage.models import Worker

    with deps.store.unit() as tx:
        tx.session.get(Worker, "w01").on_leave = True
    send(deps, "2号楼电梯坏了")
    with deps.store.unit() as tx:
        assert tx.session.scalars(select(Case)).one().assignee_id == "w03"


def test_bad_and_odd_input_gets_a_clear_answer_and_changes_nothing(deps: Deps) -> None:
    assert "没有收到文字" in send(deps, "   ").text
    assert "没有收到文字" in send(deps, "😀😀😀").text
    assert "太长" in send(deps, "漏水" * 2500).text
    assert "图片" in send(deps, "", kind=Kind.UNSUPPORTED).text
    assert count(deps, Case) == 0


def test_a_shopping_question_on_a_report_topic_opens_no_case(deps: Deps) -> None:
    reply = send(deps, "电动车电池哪个牌子好").text
    assert "暂时回答不了" in reply and "人工" in reply
    assert count(deps, Case) == 0


def test_subscribe_and_unsubscribe(deps: Deps) -> None:
    from storage.models import Resident

    verify_dialog(deps, [("订阅普法", ["已为您订阅", "普法"]), ("退订普法", ["已为您退订"])])
    with deps.store.unit() as tx:
        resident = tx.session.scalars(select(Resident)).one()
        assert resident.subscribe_law is False


def test_photo_just_after_a_report_joins_it(deps: Deps) -> None:
    number = NUMBER.search(send(deps, "3号楼楼道堆物太多，堵住了").text).group()
    reply = send(deps, "", kind=Kind.IMAGE, media_id="MEDIA1", media_url="http://img/1.jpg").text
    assert number in reply
    with deps.store.unit() as tx:
        case = cases.by_number(tx, number)
        assert [a.media_id for a in case.attachments] == ["MEDIA1"]


def test_photo_first_then_words_files_one_case_with_the_photo(deps: Deps) -> None:
    assert "说明" in send(deps, "", kind=Kind.IMAGE, media_id="M2").text
    reply = send(deps, "6号楼下水道堵了，污水冒出来").text
    number = NUMBER.search(reply).group()
    with deps.store.unit() as tx:
        assert [a.media_id for a in cases.by_number(tx, number).attachments] == ["M2"]


def test_a_failure_while_answering_rolls_back_and_apologizes(deps: Deps, monkeypatch) -> None:
    from handlers import report

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(report.cases, "open_case", broken)
    reply = send(deps, "3号楼电梯坏了", external_id="boom")
    assert "抱歉" in reply.text
    assert count(deps, Case) == 0 and count(deps, CaseEvent) == 0
    with deps.store.unit() as tx:
        message = tx.session.scalars(select(InboundMessage)).one()
        assert message.status == "failed" and message.text == "3号楼电梯坏了"
    monkeypatch.undo()
    retry = send(deps, "3号楼电梯坏了", external_id="boom")  # WeChat's retry succeeds
    assert NUMBER.search(retry.text) and count(deps, Case) == 1


def test_every_inbound_message_is_recorded_with_its_answer(deps: Deps) -> None:
    send(deps, "你好")
    send(deps, "低保怎么申请")
    with deps.store.unit() as tx:
        rows = list(tx.session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        replies = list(tx.session.scalars(select(OutboxMessage)))
    assert [r.status for r in rows] == ["answered", "answered"]
    assert all(r.reply_text for r in rows)
    assert {r.status for r in replies} == {"sent"}


@pytest.mark.parametrize("event,expected", [("subscribe", "欢迎关注"), ("CLICK", "我的工单")])
def test_menu_and_follow_events(deps: Deps, event: str, expected: str) -> None:
    key = "intent:progress" if event == "CLICK" else ""
    reply = send(deps, "", kind=Kind.EVENT, event=event, event_key=key).text
    assert expected in reply or "没有工单" in reply


@pytest.mark.parametrize(
    "answer,status",
    [("还是没修好", "in_progress"), ("基本满意", "closed"), ("好的谢谢，解决了", "closed")],
)
def test_the_answer_to_the_rating_question(deps: Deps, answer: str, status: str) -> None:
    from handlers import workflow
    from handlers.context import Context
    from storage.models import Worker

    number = NUMBER.search(send(deps, "3号楼电梯坏了").text).group()
    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=deps.config, now=deps.clock())
        case = cases.by_number(tx, number)
        worker = tx.session.get(Worker, "w01")
        workflow.accept(ctx, case, worker)
        workflow.resolve(ctx, case, worker, "修好了")
    send(deps, answer)
    with deps.store.unit() as tx:
        assert cases.by_number(tx, number).status == status


def _text(deps: Deps, text: str, external_id: str) -> Incoming:
    return Incoming(
        channel=Channel.WECHAT,
        sender_id="resident-claim",
        external_id=external_id,
        kind=Kind.TEXT,
        received_at=deps.clock(),
        text=text,
    )


def test_a_claimed_reply_is_recorded_sent_in_the_answers_transaction(deps: Deps) -> None:
    asked: list[str] = []

    def claim(text: str) -> bool:
        asked.append(text)
        return True

    result = handle(_text(deps, "低保怎么申请", "m-claimed"), deps, passive=True, claim=claim)
    assert result.delivered and asked == [result.text] and "低保" in result.text
    unclaimed = handle(_text(deps, "你好", "m-late"), deps, passive=True, claim=lambda _t: False)
    assert not unclaimed.delivered
    with deps.store.unit() as tx:
        rows = {r.id: r for r in tx.session.scalars(select(OutboxMessage))}
    claimed = [rows[i] for i in result.reply_ids]
    assert [(r.status, r.sent_at is not None) for r in claimed] == [("sent", True)]
    # Not claimed (the deadline passed first): it waits to go out by the API.
    assert [rows[i].status for i in unclaimed.reply_ids] == ["passive"]


def test_a_claimed_reply_whose_answer_fails_leaves_only_the_apology(
    deps: Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import inbound

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(inbound, "mark_answered", broken)  # fails after the claim
    result = handle(
        _text(deps, "低保怎么申请", "m-fail"), deps, passive=True, claim=lambda _t: True
    )
    assert "抱歉" in result.text and not result.delivered and result.reply_ids == []
    assert count(deps, OutboxMessage) == 0
    with deps.store.unit() as tx:
        message = tx.session.scalars(select(InboundMessage)).one()
    assert message.status == "failed"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("满意", ("satisfied", True)),
        ("基本满意", ("basic", True)),
        ("不满意", ("unsatisfied", False)),
        ("不太满意", ("unsatisfied", False)),
        ("不是很满意", ("unsatisfied", False)),
        ("很不满意", ("unsatisfied", False)),
        ("不怎么满意，态度一般", ("unsatisfied", False)),
        ("不满意，但问题解决了", ("unsatisfied", True)),
        ("满意，还是你们靠谱", ("satisfied", True)),
        ("没解决", ("unsatisfied", False)),
        ("灯还是不亮", ("unsatisfied", False)),
        ("修好了，谢谢", ("satisfied", True)),
        ("电梯修好了吗", ("", None)),
        ("低保一般多久能批下来", ("", None)),
        ("一般什么时候来修", ("", None)),
        ("一般", ("basic", True)),
        ("好评", ("satisfied", True)),
        ("你好", ("", None)),
    ],
)
def test_a_rating_is_read_from_the_residents_words(text: str, expected: tuple) -> None:
    from handlers.cases import parse_rating

    assert parse_rating(text) == expected


def _chat_notices(deps: Deps) -> dict[str, list[str]]:
    with deps.store.unit() as tx:
        rows = tx.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "telegram"))
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row.recipient_id, []).append(row.text)
    return found


@pytest.mark.parametrize(
    "text,sensitive",
    [
        ("3号楼2单元501，我老公喝了酒就打老婆，今天又动手了", True),
        ("3号楼2单元楼道里有人吵架，好像是家暴", True),
        ("3号楼2单元楼道灯坏了，有事打我电话", False),
        ("3号楼2单元漏水了，有事打老婆电话", False),
        ("3号楼2单元楼道垃圾没人清，居民只能自己动手打扫", False),
        ("3号楼2单元门口，有辆遗弃的电动车停了半年", False),
    ],
)
def test_a_report_of_domestic_violence_is_sensitive(
    deps: Deps, text: str, sensitive: bool
) -> None:
    from dataclasses import replace

    from knowledge.text import normalize
    from storage.models import Worker

    with deps.store.unit() as tx:
        for worker_id, chat in (("w01", 1001), ("l01", 2001)):
            tx.session.get(Worker, worker_id).telegram_id = chat
    routing = replace(deps.config.routing, group_chat_id=-500)
    deps = replace(deps, config=replace(deps.config, routing=routing))
    number = NUMBER.search(send(deps, text).text)
    assert number
    with deps.store.unit() as tx:
        case = cases.by_number(tx, number.group())
        assert case is not None and case.sensitive is sensitive
    notices = _chat_notices(deps)
    words = normalize(text).split(",", 1)[1]  # as recorded: full-width commas made plain
    assert any(words in t for t in notices["1001"]) is not sensitive  # the worker: hidden
    if sensitive:
        assert any(words in t for t in notices["2001"]), notices  # the leader is told, in full
        assert "-500" not in notices  # no group chat hears of it
    else:
        assert "-500" in notices


def test_cases_list_prints_every_case_newest_first(
    deps: Deps, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from bot import case_view

    texts = [f"{n}号楼楼道灯坏了" for n in range(1, 10)] * 25  # 225 cases: over any page size
    for i, text in enumerate(texts):
        send(deps, text, sender=f"lister-{i}")
        deps.clock.advance(minutes=40)  # past the window in which a report joins an open case
    assert count(deps, Case) == len(texts)
    case_view.print_list(deps, status=None, as_json=True)
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == len(texts)
    assert [r["created_at"] for r in rows] == sorted((r["created_at"] for r in rows), reverse=True)
    assert {"number", "status", "category", "grid", "assignee", "created_at"} <= set(rows[0])
    case_view.print_list(deps, status="assigned", as_json=False, limit=3)
    assert len(capsys.readouterr().out.splitlines()) == 3
    from bot.__main__ import parser

    with pytest.raises(SystemExit):  # PostgreSQL refuses LIMIT -1 where SQLite lists all
        parser().parse_args(["cases", "list", "--limit", "-1"])


def test_a_resident_sees_and_erases_what_is_held_about_them(deps: Deps) -> None:
    from storage.models import CaseAttachment, Resident, Worker

    with deps.store.unit() as tx:  # the grid worker's notice of the report is kept, wordless
        tx.session.get(Worker, "w01").telegram_id = 1001
    who = "resident-erase"
    send(deps, "我住3号楼2单元501", sender=who)
    send(deps, "订阅普法", sender=who)
    first = NUMBER.search(send(deps, "3号楼楼道灯坏了，我电话13712345678", sender=who).text)
    assert first
    seen = send(deps, "我的信息", sender=who).text
    assert "3号楼2单元501" in seen and "普法" in seen and "工单 1 件" in seen
    refused = send(deps, "删除我的信息", sender=who).text
    assert first.group() in refused  # an open case: finish or withdraw it first
    send(deps, f"撤销 {first.group()}", sender=who)
    assert "确认删除" in send(deps, "删除我的信息", sender=who).text
    deps.clock.advance(minutes=2)
    assert "已删除" in send(deps, "确认删除", sender=who).text
    with deps.store.unit() as tx:
        (resident,) = tx.session.scalars(select(Resident).where(Resident.building != "x"))
        assert (resident.name, resident.phone, resident.building, resident.room) == (
            "",
            "",
            "",
            "",
        )
        assert resident.subscribe_law is False  # off: not "never chose" (default opt-in)
        case = tx.session.scalars(select(Case)).one()
        assert (case.text, case.address, case.category, case.status) == (
            "",
            "",
            "repair",
            "cancelled",
        )
        assert case.resident_id is None and case.grid_id == "g1"  # unlinked, still counted
        assert tx.session.scalar(select(func.count()).select_from(CaseAttachment)) == 0
        texts = [m.text for m in tx.session.scalars(select(InboundMessage))]
        assert not any("13712345678" in t or "501" in t for t in texts)
        answers = [m.text for m in tx.session.scalars(select(OutboxMessage))]
        assert not any("501" in t or "5678" in t or "楼道灯" in t for t in answers), answers
        notices = tx.session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == "telegram")
        )
        assert [n.text for n in notices] == [""]  # the worker was told; the words are gone
    again = send(deps, "我的信息", sender=who).text
    assert "3号楼" not in again and "未登记" in again and "未订阅" in again
    assert "没有" in send(deps, "我的工单", sender=who).text or "暂无" in (
        send(deps, "我的工单", sender=who).text
    )


def test_an_erase_confirmation_expires_and_is_asked_for(deps: Deps) -> None:
    who = "resident-late"
    send(deps, "我住3号楼2单元501", sender=who)
    assert "确认删除" in send(deps, "删除我的信息", sender=who).text
    deps.clock.advance(minutes=11)
    assert "过期" in send(deps, "确认删除", sender=who).text
    assert "3号楼2单元501" in send(deps, "我的信息", sender=who).text


def test_asking_to_erase_ends_a_report_being_filled_in(deps: Deps) -> None:
    who = "resident-drafting"
    assert "具体位置" in send(deps, "路灯坏了", sender=who).text  # asks where: a draft is open
    assert "确认删除" in send(deps, "删除我的信息", sender=who).text
    assert "已删除" in send(deps, "确认删除", sender=who).text  # not read as the address
    assert count(deps, Case) == 0


def test_a_report_that_says_nothing_yet_is_asked_what_and_where(deps: Deps) -> None:
    for opener in ("我要投诉", "有个问题想反映一下"):
        asked = send(deps, opener, sender="opener").text
        assert "是什么问题、在哪里" in asked
    assert count(deps, Case) == 0  # nothing filed on words that say nothing
    filed = send(deps, "3号楼楼道灯坏了", sender="opener").text
    assert "已为您登记工单" in filed and "3号楼" in filed
    with deps.store.unit() as tx:
        case = tx.session.scalars(select(Case)).one()
        assert (case.category, case.text) == ("repair", "3号楼楼道灯坏了")
    # Words joined to that case end the draft: a later opener is asked again, not merged.
    send(deps, "我要反映问题", sender="opener")
    assert "并入" in send(deps, "楼道灯还是不亮", sender="opener").text
    assert "是什么问题、在哪里" in send(deps, "我要投诉", sender="opener").text


def test_wanting_to_volunteer_is_a_question_not_an_urgent_case(deps: Deps) -> None:
    # 志愿者 is an elderly-care word in the learned lexicon; wanting to be one reports nothing.
    answer = send(deps, "我想当志愿者", sender="helper").text
    assert "志愿服务" in answer and "依据" in answer
    assert count(deps, Case) == 0
