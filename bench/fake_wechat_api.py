"""The WeChat API as bench/webhook.py's service under test sees it: a local fake on 127.0.0.1.

Serves tests.fakes.wechat.FakeApi (access token, customer-service and template messages, tags,
mass send, menu) with uvicorn, plus `GET /stats` (what it received), so that
`wechat.api_base_url` points here and nothing reaches the internet.

    .venv/bin/python bench/fake_wechat_api.py --port 8002 --secret SECRET
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.wechat import FakeApi  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", required=True, help="the app secret the service must present")
    args = p.parse_args()
    api = FakeApi(secret=args.secret)
    app = api.app()

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "tokens_issued": api.tokens_issued,
                "customer_service": len(api.sent),
                "template": len(api.templates),
                "mass": len(api.mass),
            }
        )

    app.router.routes.append(Route("/stats", stats, methods=["GET"]))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
