"""The WeChat webhook over real HTTP, signed and encrypted exactly as WeChat sends it."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.app import create_app
from bot.channels import wechat
from bot.messages import Channel
from bot.pipeline import Deps
from storage.models import Case, InboundMessage, OutboxMessage
from tests.fakes import wechat as fake
from tests.fakes.server import ServerThread

NUMBER = re.compile(r"\d{4}-\d{6}")


@pytest.fixture
def api() -> Iterator[tuple[fake.FakeApi, str]]:
    server_api = fake.FakeApi()
    with ServerThread(server_api.app()) as server:
        yield server_api, f"{server.url}/cgi-bin/"


def wechat_deps(deps: Deps, api_url: str, aes_key: str = "") -> Deps:
    config = replace(
        deps.config,
        wechat=replace(
            deps.config.wechat,
            token=fake.TOKEN,
            app_id=fake.APP_ID,
            encoding_aes_key=aes_key,
            api_base_url=api_url,
            app_secret="test-secret",
        ),
    )
    return replace(deps, config=config)


@pytest.fixture(params=["plaintext", "safe"])
def service(
    request, deps: Deps, api
) -> Iterator[tuple[httpx.Client, fake.Platform, fake.FakeApi, Deps]]:
    server_api, api_url = api
    aes = fake.AES_KEY if request.param == "safe" else ""
    d = wechat_deps(deps, api_url, aes)
    platform = fake.Platform(aes_key=aes, clock=lambda: d.clock().timestamp())
    with (
        ServerThread(create_app(d)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client, platform, server_api, d


def push(client: httpx.Client, platform: fake.Platform, fields, **kw) -> httpx.Response:
    params, body = platform.request(fields, **kw)
    return client.post("/wechat", params=params, content=body)


def count(deps: Deps, model: type) -> int:
    with deps.store.unit() as tx:
        return int(tx.session.scalar(select(func.count()).select_from(model)) or 0)


def test_server_verification_echoes_only_with_a_valid_signature(service) -> None:
    client, platform, _, _ = service
    params, _ = platform.request("<xml/>")
    params["echostr"] = "hello-echo"
    assert client.get("/wechat", params=params).text == "hello-echo"
    params["signature"] = "f" * 40
    assert client.get("/wechat", params=params).status_code == 403


def test_text_message_gets_a_passive_reply(service) -> None:
    client, platform, _, deps = service
    response = push(client, platform, platform.text("oAlice", "3号楼楼道灯坏了"))
    assert response.status_code == 200
    reply = platform.read_reply(response.text)
    assert reply["ToUserName"] == "oAlice" and reply["MsgType"] == "text"
    assert NUMBER.search(reply["Content"]) and "物业维修" in reply["Content"]
    assert count(deps, Case) == 1


def test_retried_msgid_gets_the_same_reply_and_no_second_case(service) -> None:
    client, platform, _, deps = service
    fields = platform.text("oBob", "5号楼门口垃圾没人清运")
    first = platform.read_reply(push(client, platform, fields).text)["Content"]
    second = platform.read_reply(push(client, platform, fields).text)["Content"]
    assert first == second
    assert count(deps, Case) == 0 or count(deps, Case) == 1
    assert count(deps, InboundMessage) == 1


def test_events_subscribe_and_menu_click(service) -> None:
    client, platform, _, _ = service
    welcome = platform.read_reply(
        push(client, platform, platform.event("oCarol", "subscribe")).text
    )
    assert "欢迎关注" in welcome["Content"]
    click = platform.read_reply(
        push(client, platform, platform.event("oCarol", "CLICK", "intent:progress")).text
    )
    assert "工单" in click["Content"]


def test_subscribe_and_click_in_the_same_second_are_two_events(service) -> None:
    client, platform, _, deps = service
    push(client, platform, platform.event("oDan", "subscribe"))
    push(client, platform, platform.event("oDan", "CLICK", "intent:human"))
    assert count(deps, InboundMessage) == 2


def test_voice_with_recognition_is_understood_as_text(service) -> None:
    client, platform, _, _ = service
    fields = platform.message(
        "oEve", "voice", MediaId="V1", Format="amr", Recognition="3号楼电梯坏了"
    )
    assert NUMBER.search(platform.read_reply(push(client, platform, fields).text)["Content"])


def test_image_and_location_and_link_and_unknown_types(service) -> None:
    client, platform, _, _ = service
    image = platform.message("oFay", "image", PicUrl="http://img/x.jpg", MediaId="M1")
    assert "照片" in platform.read_reply(push(client, platform, image).text)["Content"]
    loc = platform.message(
        "oFay", "location", Location_X=39.9, Location_Y=116.4, Scale=15, Label="幸福路"
    )
    assert push(client, platform, loc).status_code == 200
    link = platform.message("oFay", "link", Title="一篇文章", Description="d", Url="http://x")
    assert "链接" in platform.read_reply(push(client, platform, link).text)["Content"]
    video = platform.message("oFay", "shortvideo", MediaId="S1", ThumbMediaId="T1")
    assert "文字" in platform.read_reply(push(client, platform, video).text)["Content"]


def test_bad_signature_is_refused_and_records_nothing(service) -> None:
    client, platform, _, deps = service
    response = push(client, platform, platform.text("oMal", "3号楼电梯坏了"), bad_signature=True)
    assert response.status_code == 403
    assert count(deps, InboundMessage) == 0


def test_stale_timestamp_is_refused(service) -> None:
    client, platform, _, deps = service
    stale = int(deps.clock().timestamp()) - 3600
    response = push(client, platform, platform.text("oMal", "你好"), timestamp=stale)
    assert response.status_code == 403
    assert count(deps, InboundMessage) == 0


@pytest.mark.parametrize(
    "body",
    [
        "<xml><FromUserName>broken",
        "not xml at all",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;">]>'
        "<xml><FromUserName>&lol2;</FromUserName><MsgType>text</MsgType><Content>x</Content></xml>",
        "<xml><Content>no sender</Content></xml>",
    ],
)
def test_malformed_bodies_get_400_and_change_nothing(service, body: str) -> None:
    client, platform, _, deps = service
    assert push(client, platform, body).status_code == 400
    assert count(deps, InboundMessage) == 0


def test_undecodable_envelopes_get_400_and_change_nothing(service) -> None:
    client, platform, _, deps = service
    params, _ = platform.request(platform.text("oMal", "你好"))
    bogus = b'<?xml version="1.0" encoding="bogus"?><xml><Encrypt>x</Encrypt></xml>'
    assert client.post("/wechat", params=params, content=bogus).status_code == 400
    # Signed with the right token, but nothing that decrypts: the sender's fault, not ours.
    for encrypted in ("", "YWJj"):
        params["msg_signature"] = fake.sign(
            platform.token, params["timestamp"], params["nonce"], encrypted
        )
        body = f"<xml><ToUserName>x</ToUserName><Encrypt>{encrypted}</Encrypt></xml>"
        assert client.post("/wechat", params=params, content=body.encode()).status_code == 400
    assert count(deps, InboundMessage) == 0


def test_an_absurd_timestamp_is_refused(service) -> None:
    client, platform, _, deps = service
    response = push(client, platform, platform.text("oMal", "你好"), timestamp=10**400)
    assert response.status_code == 403
    assert count(deps, InboundMessage) == 0


def test_oversized_body_gets_413(service) -> None:
    client, platform, _, deps = service
    response = push(client, platform, platform.text("oBig", "漏水" * 40000))
    assert response.status_code == 413
    assert count(deps, InboundMessage) == 0


def test_slow_answer_says_success_then_sends_by_customer_service_api(
    deps: Deps, api, monkeypatch
) -> None:
    server_api, api_url = api
    d = wechat_deps(deps, api_url)
    d = replace(
        d, config=replace(d.config, server=replace(d.config.server, reply_deadline_seconds=0.2))
    )
    from bot.messages import Role
    from handlers import ROUTES

    original = ROUTES[(Role.RESIDENT, "greeting")]

    def slow(req, ctx):
        time.sleep(0.6)
        return original(req, ctx)

    monkeypatch.setitem(ROUTES, (Role.RESIDENT, "greeting"), slow)
    platform = fake.Platform(clock=lambda: d.clock().timestamp())
    with (
        ServerThread(create_app(d)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        response = push(client, platform, platform.text("oSlow", "你好"))
        assert response.text == "success"
        deadline = time.monotonic() + 10
        while not server_api.texts_to("oSlow") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert any("小助手" in t for t in server_api.texts_to("oSlow"))
    with d.store.unit() as tx:
        assert [r.status for r in tx.session.scalars(select(OutboxMessage))] == ["sent"]


def test_answer_being_marked_delivered_at_the_deadline_still_goes_back_passively(
    deps: Deps, api, monkeypatch
) -> None:
    """The pipeline thread claimed the passive reply just before the deadline: the endpoint
    waits for it and replies with it, instead of `success` plus a customer-service copy."""
    from storage import inbound

    server_api, api_url = api
    d = wechat_deps(deps, api_url)
    d = replace(
        d, config=replace(d.config, server=replace(d.config.server, reply_deadline_seconds=1.5))
    )
    original = inbound.mark_answered

    def slow_finish(*args, **kwargs):
        # Answering "你好" takes far less than the 1.5 s deadline even on a loaded machine; the
        # reply is claimed, and the deadline passes while the answer is being committed.
        time.sleep(2.0)
        return original(*args, **kwargs)

    monkeypatch.setattr(inbound, "mark_answered", slow_finish)
    platform = fake.Platform(clock=lambda: d.clock().timestamp())
    with (
        ServerThread(create_app(d)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        response = push(client, platform, platform.text("oEdge", "你好"))
        assert response.status_code == 200
        assert "小助手" in platform.read_reply(response.text)["Content"]
        time.sleep(1.0)  # a customer-service copy would be out by now
    assert server_api.texts_to("oEdge") == []
    with d.store.unit() as tx:
        assert [r.status for r in tx.session.scalars(select(OutboxMessage))] == ["sent"]


def test_attempt_decides_once_between_thread_and_loop() -> None:
    first = wechat._Attempt()
    assert first.deliver() and first.deliver()
    assert not first.give_up()
    second = wechat._Attempt()
    assert second.give_up() and second.give_up()
    assert not second.deliver()


def test_customer_service_failures_are_retried_and_out_of_window_is_held(deps: Deps, api) -> None:
    from bot.outbox import Drainer
    from storage import outbox as outbox_store
    from tests.dialog import send

    server_api, api_url = api
    d = wechat_deps(deps, api_url)
    send(d, "你好", sender="oRetry")
    send(d, "你好", sender="oGone")
    client = wechat.Client(d.config, d.store)
    sender = wechat.CustomerServiceSender(client, d.store, 48)
    drainer = Drainer(d.store, {Channel.WECHAT: sender}, d.clock)
    with d.store.unit() as tx:
        for who in ("oRetry", "oGone"):
            outbox_store.enqueue(
                tx,
                channel="wechat",
                recipient_id=who,
                text=f"通知{who}",
                payload={},
                status="pending",
                now=d.clock(),
            )
    server_api.fail_next = 1
    server_api.out_of_window.add("oGone")
    drainer.drain_once()
    d.clock.advance(seconds=5)
    drainer.drain_once()
    assert server_api.texts_to("oRetry") == ["通知oRetry"]
    with d.store.unit() as tx:
        statuses = {
            r.recipient_id: r.status
            for r in tx.session.scalars(
                select(OutboxMessage).where(OutboxMessage.is_reply.is_(False))
            )
        }
    assert statuses == {"oRetry": "sent", "oGone": "held"}
    # the held notice reaches the resident with their next message
    reply = send(d, "谢谢", sender="oGone").text
    assert "通知oGone" in reply


def test_access_token_is_fetched_once_for_many_clients(deps: Deps, api) -> None:
    server_api, api_url = api
    server_api.delay_token = 0.2
    d = wechat_deps(deps, api_url)
    clients = [wechat.Client(d.config, d.store) for _ in range(4)]
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda c=c: results.append(c.access_token)) for c in clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server_api.tokens_issued == 1
    assert set(results) == {"TOKEN-1"}


def test_menu_push_sends_the_configured_menu(deps: Deps, api) -> None:
    server_api, api_url = api
    d = wechat_deps(deps, api_url)
    wechat.push_menu(d, wechat.load_menu())
    names = [b["name"] for b in server_api.menus[0]["button"]]
    assert names == ["报事报修", "政策咨询", "我的"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=12), st.text(max_size=12))
def test_signature_check_accepts_only_the_real_signature(token: str, ts: str, nonce: str) -> None:
    good = fake.sign(token, ts, nonce)
    assert (
        wechat.verify_url(
            {"signature": good, "timestamp": ts, "nonce": nonce, "echostr": "e"}, token
        )
        == "e"
    )
    with pytest.raises(wechat.Forbidden):
        wechat.verify_url(
            {
                "signature": good[::-1] if good != good[::-1] else "x",
                "timestamp": ts,
                "nonce": nonce,
            },
            token,
        )


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parse_xml_never_crashes_on_garbage(body: bytes) -> None:
    with contextlib.suppress(wechat.BadRequest):
        wechat.parse_xml(body)


def test_outside_the_window_a_case_update_goes_as_a_template(deps: Deps, api) -> None:
    from bot.messages import Outgoing
    from tests.dialog import send

    server_api, api_url = api
    d = wechat_deps(deps, api_url)
    send(d, "你好", sender="oOld")
    d.clock.advance(hours=49)
    sender = wechat.CustomerServiceSender(
        wechat.Client(d.config, d.store),
        d.store,
        48,
        templates={"case_update": "TPL1"},
        clock=d.clock,
    )
    sender.send(
        Outgoing(
            Channel.WECHAT, "oOld", "您的工单 2026-000001 已签收\n正在处理", template="case_update"
        )
    )
    assert server_api.templates[0]["template_id"] == "TPL1"
    assert server_api.templates[0]["touser"] == "oOld"
    with pytest.raises(Exception, match="window"):  # not a case update: held for later
        sender.send(Outgoing(Channel.WECHAT, "oOld", "普法：..."))
