"""A fake Telegram Bot API server speaking the real protocol (what python-telegram-bot sends):
getMe, sendMessage, sendPhoto, editMessageText, answerCallbackQuery, getFile, setWebhook,
deleteWebhook, getUpdates. Tests read what was sent and queue updates for polling."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "123456:TEST-token"


def user(user_id: int, name: str = "用户") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name}


@dataclass
class FakeTelegram:
    token: str = TOKEN
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    webhook: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))  # type: ignore[type-arg]
    update_ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/{method}", self.api, methods=["GET", "POST"])])

    async def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            kind = request.headers.get("content-type", "")
            if kind.startswith("application/json"):
                params.update(await request.json())
            else:  # python-telegram-bot posts url-encoded forms, JSON-encoding objects
                for key, value in parse_qsl((await request.body()).decode()):
                    try:
                        params[key] = json.loads(value)
                    except ValueError:
                        params[key] = value
        return params

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        message = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": int(params["chat_id"]), "type": "private"},
            "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
            **extra,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        return message

    async def api(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        method = request.path_params["method"]
        params = await self._params(request)
        with self.lock:
            self.calls.append((method, params))
        result: Any
        if method == "getMe":
            result = {
                "id": 1,
                "is_bot": True,
                "first_name": "社区小助手",
                "username": "fake_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        elif method == "sendMessage":
            result = self._message(params, text=params.get("text", ""))
        elif method == "sendPhoto":
            result = self._message(
                params,
                caption=params.get("caption", ""),
                photo=[{"file_id": "photo-1", "file_unique_id": "u1", "width": 1, "height": 1}],
            )
        elif method == "editMessageText":
            result = self._message(params, text=params.get("text", ""))
            result["message_id"] = int(params["message_id"])
        elif method == "answerCallbackQuery" or method in ("setWebhook", "deleteWebhook"):
            if method == "setWebhook":
                self.webhook = params.get("url", "")
            result = True
        elif method == "getFile":
            result = {
                "file_id": params["file_id"],
                "file_unique_id": "u",
                "file_size": 1,
                "file_path": "photos/1.jpg",
            }
        elif method == "getUpdates":
            offset = int(params.get("offset") or 0)
            deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.5)
            while True:
                with self.lock:
                    result = [u for u in self.updates if u["update_id"] >= offset]
                if result or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.02)
        else:
            return JSONResponse(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": f"Bad Request: method {method} not found",
                }
            )
        return JSONResponse({"ok": True, "result": result})

    # -- updates a test sends as a user -----------------------------------------------------
    def text_update(self, user_id: int, text: str) -> dict[str, Any]:
        message = {
            "message_id": next(self.message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private"},
            "from": user(user_id),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": next(self.update_ids), "message": message}

    def button_update(self, user_id: int, data: str, message_id: int = 1) -> dict[str, Any]:
        return {
            "update_id": next(self.update_ids),
            "callback_query": {
                "id": str(next(self.message_ids)),
                "from": user(user_id),
                "chat_instance": "c",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": user_id, "type": "private"},
                },
            },
        }

    def queue(self, update: dict[str, Any]) -> None:
        with self.lock:
            self.updates.append(update)

    # -- what the bot sent -------------------------------------------------------------------
    def sent(
        self, method: str = "sendMessage", chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        with self.lock:
            return [
                p
                for m, p in self.calls
                if m == method and (chat_id is None or int(p.get("chat_id", 0)) == chat_id)
            ]

    def texts(self, chat_id: int) -> list[str]:
        return [p.get("text", "") for p in self.sent("sendMessage", chat_id)] + [
            p.get("text", "") for p in self.sent("editMessageText", chat_id)
        ]

    def buttons(self, chat_id: int) -> list[str]:
        found = []
        for method in ("sendMessage", "editMessageText"):
            for p in self.sent(method, chat_id):
                for row in (p.get("reply_markup") or {}).get("inline_keyboard", []):
                    found += [b["callback_data"] for b in row]
        return found
