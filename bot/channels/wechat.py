"""The WeChat Official Account channel: signed XML <-> Incoming/Outgoing; nothing else.

Plaintext, compatible and safe (AES) mode; the passive reply when the answer is ready in time,
else `success` and the customer-service message API. Every API call, the token fetch included,
goes to `wechat.api_base_url`; one process at a time refreshes the access token.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import re
import struct
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from wechatpy import WeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import (
    InvalidAppIdException,
    InvalidSignatureException,
    WeChatClientException,
)
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot import outbox
from bot.config import ROOT, Config
from bot.messages import Channel, Incoming, Kind, Location, Outgoing
from bot.pipeline import Deps, Handled, handle
from storage import residents, settings
from storage.store import Store

log = logging.getLogger("bot.channels.wechat")
MENU = ROOT / "knowledge" / "menu.toml"
TOKEN = "wechat_access_token"
TOKEN_LEASE = "wechat_access_token_refresh"
OUT_OF_WINDOW = {45015, 45047}  # response out of time limit; out of response count limit
CHUNK = 600  # characters per customer-service text (the API takes 2048 bytes)


class BadRequest(ValueError):
    """The body is not a WeChat message we can read (answered with 400)."""


class Forbidden(ValueError):
    """Bad signature or stale timestamp (answered with 403)."""


# -- inbound ------------------------------------------------------------------------------------


def parse_xml(body: bytes) -> dict[str, str]:
    """Flat <xml> children as a dict; DTDs and entities refused (no expansion attacks)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, LookupError) as exc:
        # LookupError: an XML declaration naming an encoding that does not exist
        raise BadRequest(f"unreadable XML: {type(exc).__name__}") from None
    if root.tag != "xml":
        raise BadRequest("the root element is not <xml>")
    return {child.tag: (child.text or "") for child in root}


def check_fresh(timestamp: str, now: datetime, skew_seconds: int) -> None:
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        raise Forbidden("timestamp missing or not a number") from None
    if abs(int(now.timestamp()) - sent) > skew_seconds:  # ints: a 400-digit one cannot overflow
        raise Forbidden("stale timestamp")


def verify_url(params: dict[str, str], token: str) -> str:
    """Server verification: echo `echostr` when the signature is ours."""
    try:
        check_signature(
            token,
            params.get("signature", ""),
            params.get("timestamp", ""),
            params.get("nonce", ""),
        )
    except InvalidSignatureException:
        raise Forbidden("bad signature") from None
    return params.get("echostr", "")


def to_incoming(fields: dict[str, str], received_at: datetime) -> Incoming:
    sender = fields.get("FromUserName", "")
    msg_type = fields.get("MsgType", "").lower()
    if not sender or not msg_type:
        raise BadRequest("FromUserName or MsgType missing")
    base: dict[str, Any] = {
        "channel": Channel.WECHAT,
        "sender_id": sender,
        "external_id": fields.get("MsgId", ""),
        "received_at": received_at,
    }
    if msg_type == "event":
        event, key = fields.get("Event", ""), fields.get("EventKey", "")
        # Events carry no MsgId: one resident can subscribe and click in the same second.
        base["external_id"] = f"{sender}:{fields.get('CreateTime', '')}:{event}:{key}"
        return Incoming(kind=Kind.EVENT, event=event, event_key=key, **base)
    if not base["external_id"]:
        base["external_id"] = f"{sender}:{fields.get('CreateTime', '')}:{msg_type}"
    if msg_type == "text":
        return Incoming(kind=Kind.TEXT, text=fields.get("Content", ""), **base)
    if msg_type == "image":
        return Incoming(
            kind=Kind.IMAGE,
            media_id=fields.get("MediaId", ""),
            media_url=fields.get("PicUrl", ""),
            **base,
        )
    if msg_type == "voice":
        return Incoming(
            kind=Kind.VOICE,
            text=fields.get("Recognition", ""),
            media_id=fields.get("MediaId", ""),
            **base,
        )
    if msg_type == "location":
        try:
            location = Location(
                float(fields.get("Location_X", "")),
                float(fields.get("Location_Y", "")),
                fields.get("Label", ""),
            )
        except ValueError:
            raise BadRequest("location without coordinates") from None
        return Incoming(kind=Kind.LOCATION, location=location, **base)
    if msg_type == "link":
        text = " ".join(filter(None, (fields.get("Title"), fields.get("Description"))))
        return Incoming(kind=Kind.LINK, text=text, media_url=fields.get("Url", ""), **base)
    return Incoming(kind=Kind.UNSUPPORTED, **base)


class Codec:
    """Signature checks, decryption and encryption for one Official Account."""

    def __init__(self, config: Config) -> None:
        self.config = config
        wechat = config.wechat
        self.crypto = (
            WeChatCrypto(wechat.token, wechat.encoding_aes_key, wechat.app_id)
            if wechat.encoding_aes_key
            else None
        )

    def decode(
        self, params: dict[str, str], body: bytes, now: datetime
    ) -> tuple[dict[str, str], bool]:
        """The message fields and whether the reply must be encrypted."""
        wechat = self.config.wechat
        check_fresh(params.get("timestamp", ""), now, wechat.max_clock_skew_seconds)
        if params.get("encrypt_type", "raw").lower() == "aes":
            if self.crypto is None:
                raise BadRequest("encrypted message but no encoding_aes_key configured")
            outer = parse_xml(body)  # defused first: wechatpy parses it again itself
            if "Encrypt" not in outer:
                raise BadRequest("encrypted message without Encrypt")
            try:
                plain = self.crypto.decrypt_message(
                    body,
                    params.get("msg_signature", ""),
                    params.get("timestamp", ""),
                    params.get("nonce", ""),
                )
            except InvalidSignatureException:
                raise Forbidden("bad msg_signature") from None
            except (
                InvalidAppIdException,
                ValueError,
                KeyError,
                TypeError,
                IndexError,  # an empty or too short Encrypt
                struct.error,
            ) as exc:
                raise BadRequest(f"cannot decrypt: {type(exc).__name__}") from None
            return parse_xml(plain.encode("utf-8") if isinstance(plain, str) else plain), True
        verify_url(params, wechat.token)
        return parse_xml(body), False

    def reply(
        self, fields: dict[str, str], text: str, encrypt: bool, params: dict[str, str]
    ) -> str:
        xml: str = TextReply(
            source=fields.get("ToUserName", ""), target=fields["FromUserName"], content=text
        ).render()
        if encrypt and self.crypto is not None:
            nonce = params.get("nonce") or os.urandom(8).hex()
            encrypted: str = self.crypto.encrypt_message(xml, nonce, str(int(time.time())))
            return encrypted
        return xml


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise OverflowError
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise OverflowError
    return bytes(body)


def pipeline_threads(store: Store) -> int:
    """Threads that run messages through the pipeline.

    SQLite has one writer and every unit of work begins with BEGIN IMMEDIATE, so threads only
    take turns; with several, the waiting ones sit in SQLite's busy handler, which sleeps up to
    100 ms between tries while the lock may long be free, and fight over the GIL. One thread
    queues the messages in Python instead, in arrival order. Other databases lock rows and
    answer several messages at once."""
    return 1 if store.dialect == "sqlite" else 8


class Endpoint:
    """GET and POST {wechat.path}: the adapter between WeChat's HTTP and the pipeline."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.codec = Codec(deps.config)
        self.pending: set[asyncio.Future[Handled]] = set()
        self.executor = ThreadPoolExecutor(
            max_workers=pipeline_threads(deps.store), thread_name_prefix="wechat"
        )

    def close(self) -> None:
        """Let a message being answered finish, then stop the threads."""
        self.executor.shutdown(wait=True)

    async def _run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Database work off the event loop, on the pipeline's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def endpoint(self, request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "GET":
            try:
                return PlainTextResponse(verify_url(params, self.deps.config.wechat.token))
            except Forbidden:
                return PlainTextResponse("forbidden", status_code=403)
        try:
            body = await read_body(request, self.deps.config.server.max_body_bytes)
        except OverflowError:
            return PlainTextResponse("request body too large", status_code=413)
        except ClientDisconnect:
            return PlainTextResponse("client went away", status_code=400)
        now = self.deps.clock()
        try:
            fields, encrypt = self.codec.decode(params, body, now)
            incoming = to_incoming(fields, now)
        except Forbidden as exc:
            log.warning("wechat refused: %s", exc)
            return PlainTextResponse("forbidden", status_code=403)
        except BadRequest as exc:
            log.warning("wechat bad request: %s", exc)
            return PlainTextResponse("bad request", status_code=400)
        return await self._answer(incoming, fields, encrypt, params)

    async def _answer(
        self, incoming: Incoming, fields: dict[str, str], encrypt: bool, params: dict[str, str]
    ) -> Response:
        loop = asyncio.get_running_loop()
        attempt = _Attempt()
        task: asyncio.Future[Handled] = loop.run_in_executor(
            self.executor, self._handle, incoming, attempt
        )
        deadline = self.deps.config.server.reply_deadline_seconds
        try:
            result = await asyncio.wait_for(asyncio.shield(task), timeout=deadline)
        except TimeoutError:
            if not attempt.give_up():
                result = await task  # the reply was just being marked delivered: send it
            else:
                # Too slow for WeChat's 5 seconds: say `success` now, send the answer by the API.
                self.pending.add(task)
                task.add_done_callback(self._late)
                return PlainTextResponse("success")
        text = result.text
        if not passive_fits(text):
            if result.reply_ids:
                await self._run(
                    outbox.passive_missed, self.deps.store, result.reply_ids, self.deps.clock()
                )
            return PlainTextResponse("success")
        return Response(
            self.codec.reply(fields, text, encrypt, params), media_type="application/xml"
        )

    def _handle(self, incoming: Incoming, attempt: _Attempt) -> Handled:
        """On a pipeline thread: answer, and while still in time claim the passive reply, so
        that the answer and its delivery are recorded in one transaction."""

        def claim(text: str) -> bool:
            return passive_fits(text) and attempt.deliver()

        result = handle(incoming, self.deps, passive=True, claim=claim)
        if result.reply_ids and not result.delivered and claim(result.text):
            # A retry's recorded answer (or one the first attempt could not claim) goes back now.
            outbox.passive_delivered(self.deps.store, result.reply_ids, self.deps.clock())
        return result

    def _late(self, task: asyncio.Future[Handled]) -> None:
        self.pending.discard(task)
        if task.cancelled() or task.exception() is not None:
            return
        ids = task.result().reply_ids
        if ids:
            with contextlib.suppress(Exception):  # the outbox sweep releases them anyway
                self.executor.submit(
                    outbox.passive_missed, self.deps.store, ids, self.deps.clock()
                )


def passive_fits(text: str) -> bool:
    """Whether an answer can go back as the passive reply (WeChat takes up to 2048 bytes)."""
    return bool(text) and len(text.encode("utf-8")) <= 2000


class _Attempt:
    """Who decides a message's fate at the deadline: the pipeline thread, about to mark the
    passive reply delivered, or the event loop, about to answer `success` instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "running"  # running -> delivering | late

    def deliver(self) -> bool:
        with self._lock:
            if self._state == "running":
                self._state = "delivering"
            return self._state == "delivering"

    def give_up(self) -> bool:
        with self._lock:
            if self._state == "running":
                self._state = "late"
            return self._state == "late"


# -- outbound -----------------------------------------------------------------------------------


class Client(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with every URL under api_base_url and one shared access token."""

    def __init__(self, config: Config, store: Store, *, holder: str | None = None) -> None:
        wechat = config.wechat
        super().__init__(wechat.app_id, wechat.app_secret, timeout=5)
        self.API_BASE_URL = wechat.api_base_url.rstrip("/") + "/"
        self.store = store
        self.holder = holder or f"{os.getpid()}-{id(self)}"

    @property
    def access_token(self) -> str:
        now = datetime.now(UTC)
        with self.store.unit() as tx:
            token = settings.get(tx, TOKEN, now=now + timedelta(seconds=60))
        return token if token is not None else self.refresh_token()

    def fetch_access_token(self) -> dict[str, Any]:
        """Called by wechatpy when WeChat says the token is invalid: refresh it once for all."""
        self.refresh_token(force=True)
        return {}

    def refresh_token(self, *, force: bool = False, wait_seconds: float = 5.0) -> str:
        """Refresh under a lease so processes never invalidate each other's tokens."""
        deadline = time.monotonic() + wait_seconds
        seen = self._current()
        while True:
            now = datetime.now(UTC)
            with self.store.unit() as tx:
                current = settings.get(tx, TOKEN, now=now + timedelta(seconds=60))
                if current is not None and (not force or current != seen):
                    return current
                leased = settings.take_lease(
                    tx, TOKEN_LEASE, holder=self.holder, now=now, ttl=timedelta(seconds=15)
                )
            if leased:
                break
            if time.monotonic() > deadline:
                raise WeChatClientException(None, "access token refresh timed out", client=self)
            time.sleep(0.1)
        try:
            result = self._fetch_access_token(
                url=f"{self.API_BASE_URL}token",
                params={
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret,
                },
            )
            token = str(result["access_token"])
            expires = datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 7200)))
            with self.store.unit() as tx:
                settings.put(tx, TOKEN, token, expires_at=expires)
            return token
        finally:
            with self.store.unit() as tx:
                settings.release_lease(tx, TOKEN_LEASE, holder=self.holder)

    def _current(self) -> str | None:
        with self.store.unit() as tx:
            return settings.get(tx, TOKEN, now=datetime.now(UTC))


def chunks(text: str, size: int = CHUNK) -> list[str]:
    """Split long texts on line breaks where possible."""
    pieces = [
        line[i : i + size] for line in text.split("\n") for i in range(0, len(line) or 1, size)
    ]
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n{piece}" if current else piece
        if current and len(candidate) > size:
            parts.append(current)
            current = piece
        else:
            current = candidate
    parts.append(current)
    return parts


class CustomerServiceSender:
    """Outgoing -> the customer-service message API, within the 48-hour window."""

    def __init__(
        self,
        client: Client,
        store: Store,
        window_hours: int,
        templates: dict[str, str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clock = clock
        self.client = client
        self.store = store
        self.window = timedelta(hours=window_hours)
        self.templates = {k: v for k, v in (templates or {}).items() if v}

    def send(self, message: Outgoing) -> None:
        """Within the window a customer-service text; outside it a template where configured."""
        with self.store.unit() as tx:
            identity = residents.find_identity(
                tx, channel="wechat", external_id=message.recipient_id
            )
            last = identity.resident.last_inbound_at if identity and identity.resident else None
        if last is None or self.clock() - last > self.window:
            template_id = self.templates.get(message.template)
            if template_id is None:
                raise outbox.Hold("outside the customer-service window")
            first, _, rest = message.text.partition("\n")
            data = {"first": {"value": first[:200]}, "remark": {"value": rest[:400]}}
            self.client.message.send_template(message.recipient_id, template_id, data)
            return
        for part in chunks(message.text):
            try:
                self.client.message.send_text(message.recipient_id, part)
            except WeChatClientException as exc:
                if exc.errcode in OUT_OF_WINDOW:
                    raise outbox.Hold(f"wechat errcode {exc.errcode}") from None
                raise


class MassSender:
    """One mass send per broadcast run: tag the consenting followers, send to the tag.

    `clientmsgid` is the run, so a resumed run never sends twice (WeChat answers 45065). A tag
    name is unique (45157), so a resumed run takes back its own tag; an account has at most 100
    tags (45056) and a follower at most 20 (45059), so the tags of earlier runs are deleted
    before a new one is made (their sends were submitted at least one run ago)."""

    DUPLICATE = 45065
    TAG_BATCH = 50
    RUN_TAG = re.compile(r"run\d+")

    def __init__(self, client: Client) -> None:
        self.client = client

    def send_mass(self, *, run_id: int, openids: list[str], text: str) -> str:
        tag_id = self._run_tag(f"run{run_id}")
        for start in range(0, len(openids), self.TAG_BATCH):
            batch = openids[start : start + self.TAG_BATCH]
            self.client.post(
                "tags/members/batchtagging", data={"openid_list": batch, "tagid": tag_id}
            )
        data = {
            "filter": {"is_to_all": False, "tag_id": tag_id},
            "msgtype": "text",
            "text": {"content": text},
            "send_ignore_reprint": 0,
            "clientmsgid": f"run{run_id}",
        }
        try:
            result = self.client.post("message/mass/sendall", data=data)
        except WeChatClientException as exc:
            if exc.errcode == self.DUPLICATE:
                return "duplicate"
            raise
        return str(result.get("msg_id", ""))

    def _run_tag(self, name: str) -> int:
        """This run's tag: taken back if a first attempt made it, else made after the tags of
        earlier runs are deleted. The account's own tags (elderly, landlords...) are left."""
        tags = self.client.get("tags/get").get("tags", [])
        for tag in tags:
            if tag["name"] == name:
                return int(tag["id"])
        for tag in tags:
            if self.RUN_TAG.fullmatch(str(tag["name"])):
                try:
                    self.client.post("tags/delete", data={"tag": {"id": tag["id"]}})
                except WeChatClientException as exc:  # 45057: over 100,000 followers
                    log.warning("wechat tag %s not deleted: errcode %s", tag["name"], exc.errcode)
        created = self.client.post("tags/create", data={"tag": {"name": name}})
        return int(created["tag"]["id"])


def load_menu(path: Path = MENU) -> dict[str, Any]:
    with path.open("rb") as handle:
        return dict(tomllib.load(handle))


def push_menu(deps: Deps, menu: dict[str, Any]) -> None:
    Client(deps.config, deps.store).menu.create(menu)
