"""The baseline of the webhook benchmark: a bare wechatpy + Starlette safe-mode echo endpoint.

It does the minimum any WeChat webhook in Python must do, served exactly like `python -m bot
serve` (uvicorn, one process, log level warning, no access log): check the msg_signature and
decrypt (wechatpy.crypto.WeChatCrypto), parse (wechatpy.parse_message), answer a TextReply
echoing the text, encrypt. Nothing else: no database, no understanding.

With --record PATH it is the *floor* instead: the same, plus what any webhook that keeps its
promise "every message is recorded before it is answered" must add at the least: one INSERT of
the message into a SQLite file (WAL, synchronous=NORMAL, as the service) through SQLAlchemy Core
and its COMMIT, on one worker thread, before the reply. `bench/webhook.py --floor` measures it.

With --understand it also does what any bot that answers must do with the text, and nothing
more: the service's own understanding (normalize, jieba, keyword classification, the FAQ check
of `knowledge.understand`) and, for a question, the FAQ's best match and its answer with the
source, on the event loop, with no database, no resident, no state and no case. It stands for
the least CPU the service's answers cost beside the echo. `bench/webhook.py --floor` measures it
alone ("understand") and with --record ("understand + record").

    .venv/bin/python bench/echo_server.py --port 8001 [--record /tmp/floor.db] [--understand]
    (BENCH_WECHAT_TOKEN, BENCH_WECHAT_AES_KEY, BENCH_WECHAT_APP_ID select the account)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply


def recorder(path: str) -> Any:
    """One INSERT + COMMIT per message through SQLAlchemy Core, on one thread."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi: Any, _record: Any) -> None:
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    meta = sa.MetaData()
    table = sa.Table(
        "inbound",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("external_id", sa.String(64), nullable=False, unique=True),
        sa.Column("sender_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    meta.create_all(engine)
    insert = table.insert()
    pool = ThreadPoolExecutor(max_workers=1)

    def record(message: Any) -> None:
        with engine.begin() as conn:
            conn.execute(
                insert,
                {
                    "external_id": str(message.id),
                    "sender_id": message.source,
                    "text": message.content,
                    "received_at": time.time(),
                },
            )

    async def run(message: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(pool, record, message)

    return run


def answerer() -> Any:
    """The service's understanding and FAQ answer for a text, without storage: the answer as
    `python -m bot ask` renders it (configuration and knowledge only)."""
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bot.__main__ import _render_plain
    from bot.config import load_config
    from handlers.context import Context
    from knowledge.base import load
    from knowledge.text import normalize
    from knowledge.understand import understand

    config = load_config()
    kb = load(faq_threshold=config.knowledge.faq_threshold, cache=config.knowledge_cache)

    def answer(text: str) -> str:
        text = normalize(text)
        found = understand(kb, text)
        if found.intent != "faq":
            return f"{found.intent} {found.category or ''}"
        match = kb.faq.best_match(text)
        if match.faq_id is None:
            ctx = Context(tx=None, kb=kb, config=config, now=datetime.now(UTC))  # type: ignore[arg-type]
            return ctx.say("resident.faq_unknown")
        return _render_plain(kb, kb.faq.entries[match.faq_id], config)

    return answer


def create_app(
    token: str,
    aes_key: str,
    app_id: str,
    *,
    path: str = "/wechat",
    record_path: str = "",
    understand: bool = False,
) -> Starlette:
    crypto = WeChatCrypto(token, aes_key, app_id)
    record = recorder(record_path) if record_path else None
    answer = answerer() if understand else None

    async def wechat(request: Request) -> Response:
        q = request.query_params
        body = await request.body()
        try:
            xml = crypto.decrypt_message(
                body, q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")
            )
        except (InvalidSignatureException, InvalidAppIdException):
            return PlainTextResponse("forbidden", status_code=403)
        message = parse_message(xml)
        if message.type != "text":
            return PlainTextResponse("success")
        if record is not None:
            await record(message)
        content = answer(message.content) if answer is not None else message.content
        reply = TextReply(message=message, content=content).render()
        encrypted = crypto.encrypt_message(reply, q.get("nonce", ""), str(int(time.time())))
        return Response(encrypted, media_type="application/xml")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route(path, wechat, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8001)
    p.add_argument(
        "--record", default="", help="the floor: record each message in this SQLite file"
    )
    p.add_argument(
        "--understand",
        action="store_true",
        help="answer with the service's understanding and FAQ match instead of echoing",
    )
    args = p.parse_args()
    app = create_app(
        os.environ["BENCH_WECHAT_TOKEN"],
        os.environ["BENCH_WECHAT_AES_KEY"],
        os.environ["BENCH_WECHAT_APP_ID"],
        record_path=args.record,
        understand=args.understand,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
