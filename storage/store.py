"""The one door to the database: an engine, units of work, migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError as _IntegrityError
from sqlalchemy.exc import OperationalError as _OperationalError
from sqlalchemy.orm import Session, sessionmaker

READ_ONLY = "community_bot_read_only"  # an execution option: see Store.reading
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

IntegrityError = _IntegrityError
StorageError = _OperationalError


@dataclass
class Tx:
    """One unit of work. Data functions take it first: `open_case(tx, *, ...)`."""

    session: Session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name


class Store:
    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}),
            expire_on_commit=False,
            autoflush=False,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit(self) -> Iterator[Tx]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        with self._sessions() as session, session.begin():
            yield Tx(session)

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A read-only transaction, always rolled back. On SQLite it begins DEFERRED, so it
        takes no write lock and (WAL) runs beside a writer on its own snapshot; on PostgreSQL
        it is READ ONLY. For long reads such as the weekly report."""
        with self._readers() as session:
            session.begin()
            try:
                if self.dialect == "postgresql":
                    session.execute(text("SET TRANSACTION READ ONLY"))
                yield Tx(session)
            finally:
                session.rollback()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command

        command.upgrade(alembic_config(self.url), "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def make_engine(url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    # hide_parameters: a database error's message names the statement but not the values, so
    # a logged exception never carries a resident's words, name, phone or address.
    if not url.startswith("sqlite"):
        return create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
        )
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin" below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Every unit of work reads then writes: take the write lock up front so two writers
        # never deadlock on a lock upgrade (SQLite's answer to SELECT ... FOR UPDATE).
        # Store.reading() only reads: a deferred BEGIN takes no lock.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
