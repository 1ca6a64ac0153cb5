"""Build what the service runs on from its configuration: one place, no import-time state."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.config import Config, load_config
from bot.pipeline import Deps
from knowledge.base import Live
from storage.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_deps(config: Config | None = None, *, migrate: bool = True) -> Deps:
    config = config or load_config()
    store = Store(config.database_url, busy_timeout_ms=config.storage.busy_timeout_ms)
    if migrate:
        store.migrate()
    knowledge = Live(faq_threshold=config.knowledge.faq_threshold, cache=config.knowledge_cache)
    return Deps(store=store, knowledge=knowledge, config=config, clock=utc_now)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # Third-party clients log request URLs (with tokens) at INFO: keep them quiet.
    for noisy in ("httpx", "httpcore", "urllib3", "telegram", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
