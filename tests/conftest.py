"""Shared fixtures: a real database (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set),
the real knowledge base, a controllable clock, and the demo community."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import roster_file
from bot.config import Config, Storage, load_config
from bot.pipeline import Deps
from knowledge.base import Live
from storage import roster
from storage.store import Store

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "knowledge" / "demo_roster.toml"
PG_URL = os.environ.get("TEST_DATABASE_URL", "")


class Clock:
    """A clock the test moves; tz-aware UTC."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture(scope="session")
def knowledge() -> Live:
    return Live(faq_threshold=load_config(env={}).knowledge.faq_threshold)


def _pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def _backends() -> list[str]:
    return ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """SQLite only: for tests of SQLite-specific behaviour."""
    s = Store(f"sqlite:///{tmp_path / 'bot.db'}")
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def seeded(store: Store) -> Store:
    with store.unit() as tx:
        roster.apply(tx, roster_file.read(DEMO))
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config(db_url: str) -> Config:
    base = load_config(env={})
    return replace(base, storage=Storage(url=db_url))


@pytest.fixture
def deps(seeded: Store, knowledge: Live, config: Config, clock: Clock) -> Deps:
    return Deps(store=seeded, knowledge=knowledge, config=config, clock=clock)
