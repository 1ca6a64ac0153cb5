"""WeChat, faked at its boundary: the platform that pushes signed (and encrypted) XML to us,
and the API server we call (token, customer-service messages, menu, tags, mass send).

The encryption is written here from the protocol description (AES-256-CBC, PKCS#7 to 32 bytes,
random(16) + length(4, big-endian) + message + appid), independently of wechatpy."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

APP_ID = "wx1234567890abcdef"
TOKEN = "test-wechat-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters
ACCOUNT = "gh_testaccount"
TAG_LIMIT = 100  # tags an account may have (45056)
TAGS_PER_FOLLOWER = 20  # tags one follower may carry (45059)


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _pad(data: bytes) -> bytes:
    n = 32 - len(data) % 32
    return data + bytes([n]) * n


def encrypt(xml: str, aes_key: str = AES_KEY, app_id: str = APP_ID) -> str:
    key = base64.b64decode(aes_key + "=")
    body = xml.encode()
    plain = os.urandom(16) + struct.pack(">I", len(body)) + body + app_id.encode()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(_pad(plain)) + encryptor.finalize()).decode()


def decrypt(encrypted: str, aes_key: str = AES_KEY) -> tuple[str, str]:
    key = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    length = struct.unpack(">I", plain[16:20])[0]
    return plain[20 : 20 + length].decode(), plain[20 + length :].decode()


def message_xml(fields: dict[str, Any]) -> str:
    parts = []
    for name, value in fields.items():
        if isinstance(value, int | float):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


@dataclass
class Platform:
    """Builds requests exactly as the Official Account platform sends them."""

    token: str = TOKEN
    aes_key: str = ""
    app_id: str = APP_ID
    clock: Any = time.time
    msg_id: int = 10_000_000_000

    def text(self, openid: str, content: str, **extra: Any) -> dict[str, Any]:
        self.msg_id += 1
        return {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(self.clock()),
            "MsgType": "text",
            "Content": content,
            "MsgId": self.msg_id,
            **extra,
        }

    def message(self, openid: str, msg_type: str, **fields: Any) -> dict[str, Any]:
        self.msg_id += 1
        return {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(self.clock()),
            "MsgType": msg_type,
            **fields,
            "MsgId": self.msg_id,
        }

    def event(self, openid: str, event: str, key: str = "") -> dict[str, Any]:
        return {
            "ToUserName": ACCOUNT,
            "FromUserName": openid,
            "CreateTime": int(self.clock()),
            "MsgType": "event",
            "Event": event,
            "EventKey": key,
        }

    def request(
        self,
        fields: dict[str, Any] | str,
        *,
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        """(query params, body) of one push; safe mode when aes_key is set."""
        xml = fields if isinstance(fields, str) else message_xml(fields)
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = str(int.from_bytes(os.urandom(4), "big"))
        params = {
            "timestamp": ts,
            "nonce": nonce,
            "signature": sign(self.token, ts, nonce),
            "openid": "o",
        }
        if bad_signature:
            params["signature"] = "0" * 40
        if not self.aes_key:
            return params, xml.encode()
        encrypted = encrypt(xml, self.aes_key, self.app_id)
        params["encrypt_type"] = "aes"
        params["msg_signature"] = sign(self.token, ts, nonce, encrypted)
        if bad_signature:
            params["msg_signature"] = "0" * 40
        body = (
            f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        return params, body.encode()

    def read_reply(self, body: str) -> dict[str, str]:
        """The fields of a passive reply; decrypted (and its signature checked) in safe mode."""
        import xml.etree.ElementTree as ET

        root = ET.fromstring(body)
        fields = {child.tag: child.text or "" for child in root}
        if "Encrypt" in fields:
            expected = sign(self.token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
            assert fields["MsgSignature"] == expected, "reply signature does not verify"
            inner, app_id = decrypt(fields["Encrypt"], self.aes_key)
            assert app_id == self.app_id
            fields = {child.tag: child.text or "" for child in ET.fromstring(inner)}
        return fields


@dataclass
class FakeApi:
    """The WeChat API server: tokens (a new one invalidates the old), messages, menu, tags."""

    secret: str = "test-secret"
    tokens_issued: int = 0
    valid_token: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)
    menus: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[int, dict[str, Any]] = field(default_factory=dict)
    tags_made: int = 0
    mass: list[dict[str, Any]] = field(default_factory=list)
    mass_ids: dict[str, int] = field(default_factory=dict)
    out_of_window: set[str] = field(default_factory=set)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay_token: float = 0.0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/cgi-bin/token", self.token, methods=["GET"]),
                Route("/cgi-bin/message/custom/send", self.custom_send, methods=["POST"]),
                Route("/cgi-bin/menu/create", self.menu_create, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self.template_send, methods=["POST"]),
                Route("/cgi-bin/tags/create", self.tag_create, methods=["POST"]),
                Route("/cgi-bin/tags/get", self.tag_list, methods=["GET"]),
                Route("/cgi-bin/tags/delete", self.tag_delete, methods=["POST"]),
                Route("/cgi-bin/tags/members/batchtagging", self.tag_members, methods=["POST"]),
                Route("/cgi-bin/message/mass/sendall", self.mass_sendall, methods=["POST"]),
            ]
        )

    async def token(self, request: Request) -> JSONResponse:
        q = request.query_params
        if q.get("grant_type") != "client_credential" or q.get("secret") != self.secret:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        if self.delay_token:
            import asyncio

            await asyncio.sleep(self.delay_token)
        with self.lock:
            self.tokens_issued += 1
            self.valid_token = f"TOKEN-{self.tokens_issued}"
            return JSONResponse({"access_token": self.valid_token, "expires_in": 7200})

    def _check(self, request: Request) -> JSONResponse | None:
        if request.query_params.get("access_token") != self.valid_token or not self.valid_token:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        return None

    async def custom_send(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused:
            return refused
        data = await request.json()
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"errcode": -1, "errmsg": "system error"})
        if data.get("touser") in self.out_of_window:
            return JSONResponse({"errcode": 45015, "errmsg": "response out of time limit"})
        with self.lock:
            self.sent.append(data)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def template_send(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused:
            return refused
        data = await request.json()
        with self.lock:
            self.templates.append(data)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(self.templates)})

    async def tag_create(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused:
            return refused
        name = (await request.json())["tag"]["name"]
        with self.lock:
            if any(tag["name"] == name for tag in self.tags.values()):
                return JSONResponse({"errcode": 45157, "errmsg": "invalid tag name"})
            if len(self.tags) >= TAG_LIMIT:
                return JSONResponse({"errcode": 45056, "errmsg": "too many tags"})
            self.tags_made += 1
            tag_id = 100 + self.tags_made
            self.tags[tag_id] = {"name": name, "members": set()}
        return JSONResponse({"tag": {"id": tag_id, "name": name}})

    async def tag_list(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused:
            return refused
        with self.lock:
            tags = [
                {"id": i, "name": t["name"], "count": len(t["members"])}
                for i, t in self.tags.items()
            ]
        return JSONResponse({"tags": tags})

    async def tag_delete(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused:
            return refused
        tag_id = int((await request.json())["tag"]["id"])
        with self.lock:
            if self.tags.pop(tag_id, None) is None:
                return JSONResponse({"errcode": 45159, "errmsg": "invalid tag id"})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def tag_members(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused:
            return refused
        data = await request.json()
        if len(data["openid_list"]) > 50:
            return JSONResponse({"errcode": 45159, "errmsg": "invalid tag size"})
        with self.lock:
            tag = self.tags.get(int(data["tagid"]))
            if tag is None:
                return JSONResponse({"errcode": 45159, "errmsg": "invalid tag id"})
            for openid in data["openid_list"]:
                held = sum(openid in t["members"] for t in self.tags.values() if t is not tag)
                if held >= TAGS_PER_FOLLOWER:
                    return JSONResponse({"errcode": 45059, "errmsg": "tag count exceeds limit"})
            tag["members"].update(data["openid_list"])
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def mass_sendall(self, request: Request) -> JSONResponse:
        """Mass send by tag; a repeated clientmsgid is refused (45065) as WeChat does."""
        refused = self._check(request)
        if refused:
            return refused
        data = await request.json()
        with self.lock:
            key = data.get("clientmsgid")
            if key and key in self.mass_ids:
                return JSONResponse(
                    {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": self.mass_ids[key]}
                )
            tag = self.tags.get(int(data["filter"]["tag_id"]))
            if tag is None:
                return JSONResponse({"errcode": 45159, "errmsg": "invalid tag id"})
            members = sorted(tag["members"])
            msg_id = 9000 + len(self.mass)
            self.mass.append({"to": members, "text": data["text"]["content"], "msg_id": msg_id})
            if key:
                self.mass_ids[key] = msg_id
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "send job submission success",
                "msg_id": msg_id,
                "msg_data_id": msg_id,
            }
        )

    async def menu_create(self, request: Request) -> JSONResponse:
        refused = self._check(request)
        if refused:
            return refused
        self.menus.append(await request.json())
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    def texts_to(self, openid: str) -> list[str]:
        return [m["text"]["content"] for m in self.sent if m.get("touser") == openid]
