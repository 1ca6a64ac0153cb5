"""The Telegram channel for grid workers: Bot API updates <-> Incoming/Outgoing; nothing else.

python-telegram-bot 22 talks to `telegram.base_url` (the real Bot API, a self-hosted one, or a
fake in tests); its AIORateLimiter keeps to Telegram's limits (30 messages a second overall,
20 a minute into one group). Webhook (POST /telegram with the secret header) or polling.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import AIORateLimiter, ExtBot

from bot.config import Config
from bot.messages import Channel, Incoming, Kind, Outgoing
from bot.pipeline import Deps, handle

log = logging.getLogger("bot.channels.telegram")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CALLBACK_BYTES = 64


def make_bot(config: Config) -> ExtBot[int]:
    base = config.telegram.base_url.rstrip("/")
    file_base = base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file"
    return ExtBot(
        config.telegram.token,
        base_url=base,
        base_file_url=file_base,
        rate_limiter=AIORateLimiter(max_retries=2),
    )


def to_incoming(update: Update, received_at: datetime) -> Incoming | None:
    """One update as one Incoming; None for what the bot ignores (edits, channel posts...)."""
    external_id = f"u{update.update_id}"
    query = update.callback_query
    if query is not None and query.from_user is not None:
        ref = str(query.message.message_id) if query.message is not None else ""
        return Incoming(
            Channel.TELEGRAM,
            str(query.from_user.id),
            external_id,
            Kind.COMMAND,
            received_at,
            payload=query.data or "",
            message_ref=ref,
        )
    message = update.message
    if message is None or message.from_user is None:
        return None
    sender = str(message.from_user.id)
    name = message.from_user.full_name
    if message.photo:
        return Incoming(
            Channel.TELEGRAM,
            sender,
            external_id,
            Kind.IMAGE,
            received_at,
            text=message.caption or "",
            media_id=message.photo[-1].file_id,
            display_name=name,
        )
    if message.location is not None:
        return Incoming(
            Channel.TELEGRAM,
            sender,
            external_id,
            Kind.TEXT,
            received_at,
            text="",
            display_name=name,
        )
    return Incoming(
        Channel.TELEGRAM,
        sender,
        external_id,
        Kind.TEXT,
        received_at,
        text=message.text or "",
        display_name=name,
    )


def _well_typed(incoming: Incoming) -> bool:
    """What the pipeline reads of an update has the types the Bot API gives."""
    texts = (incoming.text, incoming.payload, incoming.media_id, incoming.display_name)
    return all(isinstance(v, str) for v in texts) and incoming.sender_id.lstrip("-").isdigit()


def keyboard(message: Outgoing) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    rows, row = [], []
    for button in message.buttons:
        if len(button.payload.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data over 64 bytes: {button.payload!r}")
        row.append(InlineKeyboardButton(button.label, callback_data=button.payload))
        if len(row) == 3:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    return InlineKeyboardMarkup(rows)


async def deliver(bot: ExtBot[int], message: Outgoing) -> None:
    markup = keyboard(message)
    chat_id = int(message.recipient_id)
    if message.edit_of:
        try:
            await bot.edit_message_text(
                message.text, chat_id=chat_id, message_id=int(message.edit_of), reply_markup=markup
            )
            return
        except BadRequest as exc:  # too old, deleted, or unchanged: send it afresh
            log.info("telegram edit failed (%s), sending instead", exc.message)
    if message.image_url:
        await bot.send_photo(
            chat_id, message.image_url, caption=message.text[:1024], reply_markup=markup
        )
        return
    await bot.send_message(chat_id, message.text, reply_markup=markup)


class Sender:
    """The outbox's synchronous Sender, running the async bot on the service's event loop."""

    def __init__(self, bot: ExtBot[int], loop: asyncio.AbstractEventLoop) -> None:
        self.bot = bot
        self.loop = loop

    def send(self, message: Outgoing) -> None:
        future = asyncio.run_coroutine_threadsafe(deliver(self.bot, message), self.loop)
        future.result(timeout=60)


class TelegramChannel:
    """Turns updates into pipeline calls (webhook or polling); answers button presses at once."""

    def __init__(self, deps: Deps, bot: ExtBot[int], wake: Callable[[], None]) -> None:
        self.deps = deps
        self.bot = bot
        self.wake = wake

    def read(self, data: Any) -> tuple[Update, Incoming | None]:
        """An update's JSON as the Update and its Incoming; ValueError when it is none."""
        if not isinstance(data, dict) or "update_id" not in data:
            raise ValueError("not an update")
        try:
            update = Update.de_json(data, self.bot)
            incoming = to_incoming(update, self.deps.clock())
        except (TypeError, KeyError, AttributeError, RecursionError, OverflowError) as exc:
            # A field of the wrong shape ("message": "x"), missing ("date") or out of range.
            raise ValueError(f"malformed update: {type(exc).__name__}") from None
        if incoming is not None and not _well_typed(incoming):
            # python-telegram-bot takes fields as they come: "text": 12345 is not a message
            raise ValueError("malformed update: a field of the wrong type")
        return update, incoming

    async def process(self, update: Update, incoming: Incoming | None) -> None:
        if update.callback_query is not None:
            try:  # stop the button's spinner; what it did arrives as a message
                await update.callback_query.answer()
            except TelegramError as exc:
                log.info("telegram answerCallbackQuery failed: %s", exc)
        if incoming is None:
            return
        await asyncio.to_thread(handle, incoming, self.deps, passive=False)
        self.wake()

    async def endpoint(self, request: Request) -> Response:
        """The update of a webhook call whose secret header was already checked."""
        body = await request.body()
        if len(body) > self.deps.config.server.max_body_bytes:
            return JSONResponse({"ok": False}, status_code=413)
        try:
            update, incoming = self.read(json.loads(body))
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            return JSONResponse({"ok": False}, status_code=400)
        await self.process(update, incoming)
        return JSONResponse({"ok": True})

    async def poll(self, stop: asyncio.Event, timeout: int = 10) -> None:
        """getUpdates in a loop (telegram.mode = "polling")."""
        offset = 0
        while not stop.is_set():
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=timeout, allowed_updates=["message", "callback_query"]
                )
            except TelegramError as exc:
                log.warning("telegram getUpdates failed: %s", exc)
                await _sleep_or_stop(stop, 2.0)
                continue
            for update in updates:
                offset = update.update_id + 1
                try:
                    await self.process(update, to_incoming(update, self.deps.clock()))
                except Exception:
                    log.exception("telegram update %s failed", update.update_id)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


def set_webhook(config: Config, url: str) -> bool:
    """Tell the Bot API where to POST updates, with the secret header it must send."""

    async def main() -> bool:
        bot = make_bot(config)
        async with bot:
            done: bool = await bot.set_webhook(
                url,
                secret_token=config.telegram.webhook_secret,
                allowed_updates=["message", "callback_query"],
            )
            return done

    return asyncio.run(main())
