"""The ASGI app: {wechat.path}, /telegram, /healthz; the lifespan runs delivery."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram.error import TelegramError

from bot.broadcaster import Broadcaster
from bot.channels.telegram import SECRET_HEADER, TelegramChannel, make_bot
from bot.channels.telegram import Sender as TelegramSender
from bot.config import Config
from bot.messages import Channel
from bot.outbox import Drainer, Sender
from bot.pipeline import Deps
from bot.runtime import make_deps, setup_logging
from bot.scheduler import Scheduler

log = logging.getLogger("bot.app")


def default_senders(deps: Deps) -> dict[Channel, Sender]:
    from bot.channels import wechat

    senders: dict[Channel, Sender] = {}
    if deps.config.wechat.app_secret or deps.config.wechat.api_base_url.startswith("http://"):
        client = wechat.Client(deps.config, deps.store)
        senders[Channel.WECHAT] = wechat.CustomerServiceSender(
            client,
            deps.store,
            deps.config.wechat.cs_window_hours,
            templates={
                "case_update": deps.config.wechat.template_id_case_update,
                "urgent": deps.config.wechat.template_id_urgent,
            },
            clock=deps.clock,
        )
    return senders


def mass_sender(deps: Deps) -> Any:
    from bot.channels import wechat

    if deps.config.wechat.app_secret or deps.config.wechat.api_base_url.startswith("http://"):
        return wechat.MassSender(wechat.Client(deps.config, deps.store))
    return None


def create_app(
    deps: Deps,
    senders: Mapping[Channel, Sender] | None = None,
    *,
    schedule: bool = True,
    sweep_seconds: int = 60,
) -> Starlette:
    from bot.channels.wechat import Endpoint

    wechat = Endpoint(deps)
    state: dict[str, Any] = {"ready": False, "telegram": None}

    async def healthz(request: Request) -> Response:
        status = 200 if state["ready"] else 503
        body = {
            "status": "ok" if state["ready"] else "starting",
            "database": deps.store.dialect,
            "faq_entries": len(deps.knowledge.current.faq.entries),
            "telegram": state["telegram"] is not None,
        }
        return JSONResponse(body, status_code=status)

    async def telegram_webhook(request: Request) -> Response:
        channel = state["telegram"]
        expected = deps.config.telegram.webhook_secret
        given = request.headers.get(SECRET_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"ok": False}, status_code=403)
        if channel is None:
            return JSONResponse({"ok": False, "error": "telegram not configured"}, status_code=503)
        response: Response = await channel.endpoint(request)
        return response

    async def reload_knowledge(stop: asyncio.Event) -> None:
        interval = deps.config.knowledge.reload_seconds
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if not stop.is_set() and await asyncio.to_thread(deps.knowledge.refresh):
                log.info("knowledge reloaded")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        chosen: dict[Channel, Sender] = dict(default_senders(deps) if senders is None else senders)
        drainer = Drainer(deps.store, chosen, deps.clock)
        tasks = [asyncio.create_task(reload_knowledge(stop))]
        bot = await start_telegram(deps)
        if bot is not None:
            chosen.setdefault(Channel.TELEGRAM, TelegramSender(bot, asyncio.get_running_loop()))
            channel = TelegramChannel(deps, bot, drainer.wake)
            state["telegram"] = channel
            if deps.config.telegram.mode == "polling":
                tasks.append(asyncio.create_task(channel.poll(stop)))
        tasks.append(asyncio.create_task(drainer.run(stop)))
        scheduler = None
        if schedule:
            broadcaster = Broadcaster(deps, chosen, mass=mass_sender(deps))
            scheduler = Scheduler(
                deps, broadcaster=broadcaster, sweep_seconds=sweep_seconds, wake=drainer.wake
            )
            scheduler.start()
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            stop.set()
            if scheduler is not None:
                await scheduler.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(wechat.close)
            if bot is not None:
                with contextlib.suppress(Exception):
                    await bot.shutdown()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route(deps.config.wechat.path, wechat.endpoint, methods=["GET", "POST"]),
        Route("/telegram", telegram_webhook, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def start_telegram(deps: Deps) -> Any:
    """The Telegram bot when a token is configured; the service runs without it otherwise."""
    if not deps.config.telegram.token:
        return None
    bot = make_bot(deps.config)
    try:
        await bot.initialize()
    except TelegramError as exc:
        log.error("telegram unavailable, workers will not get notices: %s", exc)
        return None
    return bot


def serve(config: Config) -> None:
    import uvicorn

    setup_logging(config.server.log_level)
    deps = make_deps(config)
    app = create_app(deps)
    base = f"http://{config.server.host}:{config.server.port}"
    log.info(
        "serving on %s (WeChat at %s%s, health at %s/healthz)",
        base,
        base,
        config.wechat.path,
        base,
    )
    uvicorn.run(
        app,
        host=config.server.host,
        port=config.server.port,
        log_level="warning",
        access_log=False,
    )
