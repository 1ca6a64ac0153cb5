"""The ASGI app: {wechat.path}, /telegram, /healthz; the lifespan runs delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import Config
from bot.messages import Channel
from bot.outbox import Drainer, Sender
from bot.pipeline import Deps
from bot.runtime import make_deps, setup_logging

log = logging.getLogger("bot.app")


def default_senders(deps: Deps) -> dict[Channel, Sender]:
    from bot.channels import wechat

    senders: dict[Channel, Sender] = {}
    if deps.config.wechat.app_secret or deps.config.wechat.api_base_url.startswith("http://"):
        client = wechat.Client(deps.config, deps.store)
        senders[Channel.WECHAT] = wechat.CustomerServiceSender(
            client, deps.store, deps.config.wechat.cs_window_hours
        )
    return senders


def create_app(deps: Deps, senders: Mapping[Channel, Sender] | None = None) -> Starlette:
    from bot.channels.wechat import Endpoint

    wechat = Endpoint(deps)
    state: dict[str, Any] = {"ready": False}

    async def healthz(request: Request) -> Response:
        status = 200 if state["ready"] else 503
        body = {
            "status": "ok" if state["ready"] else "starting",
            "database": deps.store.dialect,
            "faq_entries": len(deps.knowledge.current.faq.entries),
        }
        return JSONResponse(body, status_code=status)

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
        chosen = default_senders(deps) if senders is None else senders
        drainer = Drainer(deps.store, chosen, deps.clock)
        tasks = [asyncio.create_task(reload_knowledge(stop))]
        if chosen:
            tasks.append(asyncio.create_task(drainer.run(stop)))
        state["ready"] = True
        try:
            yield
        finally:
            state["ready"] = False
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route(deps.config.wechat.path, wechat.endpoint, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


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
