"""The baseline of the webhook benchmark: a bare wechatpy + Starlette safe-mode echo endpoint.

It does the minimum any WeChat webhook in Python must do, served exactly like `python -m bot
serve` (uvicorn, one process, log level warning, no access log): check the msg_signature and
decrypt (wechatpy.crypto.WeChatCrypto), parse (wechatpy.parse_message), answer a TextReply
echoing the text, encrypt. Nothing else: no database, no understanding.

    .venv/bin/python bench/echo_server.py --port 8001
    (BENCH_WECHAT_TOKEN, BENCH_WECHAT_AES_KEY, BENCH_WECHAT_APP_ID select the account)
"""

from __future__ import annotations

import argparse
import os
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply


def create_app(token: str, aes_key: str, app_id: str, path: str = "/wechat") -> Starlette:
    crypto = WeChatCrypto(token, aes_key, app_id)

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
        reply = TextReply(message=message, content=message.content).render()
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
    args = p.parse_args()
    app = create_app(
        os.environ["BENCH_WECHAT_TOKEN"],
        os.environ["BENCH_WECHAT_AES_KEY"],
        os.environ["BENCH_WECHAT_APP_ID"],
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
