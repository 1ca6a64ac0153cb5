"""Storage at scale: the schema's indexes, the order of a worker's cases, the assign buttons'
candidates, and read-only units that leave the write lock free. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot import roster_file
from storage import cases, roster, settings
from storage.models import Base, Case, Setting, Worker
from storage.store import Store
from tests.conftest import DEMO

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def test_migrations_create_the_worker_grids_index_the_models_declare(store: Store) -> None:
    indexes = {
        i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("worker_grids")
    }
    assert indexes["ix_worker_grids_grid_relation"] == ["grid_id", "relation"]
    with store.engine.connect() as conn:  # the migrations and models.py agree
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_grid_workers_is_served_by_the_index(sqlite_store: Store) -> None:
    with sqlite_store.unit() as tx:
        roster.apply(tx, roster_file.read(DEMO))
    with sqlite_store.engine.connect() as conn:
        plan = " / ".join(
            str(row[-1])
            for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT workers.id FROM workers JOIN worker_grids "
                "ON worker_grids.worker_id = workers.id "
                "WHERE worker_grids.grid_id = 'g1' AND worker_grids.relation = 'lead'"
            )
        )
    assert "ix_worker_grids_grid_relation" in plan, plan


def _case(tx, number: str, **fields: object) -> Case:  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "number": number,
        "category": "repair",
        "status": "assigned",
        "text": number,
        "assignee_id": "w01",
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    case = Case(**values)
    tx.session.add(case)
    tx.session.flush()
    return case


def test_for_assignee_lists_the_soonest_deadline_first_then_the_newest(store: Store) -> None:
    hour = timedelta(hours=1)
    with store.unit() as tx:
        roster.apply(tx, roster_file.read(DEMO))
        _case(tx, "old-no-deadline", created_at=NOW - 9 * hour)
        _case(tx, "new-no-deadline", created_at=NOW - hour)
        _case(tx, "accept-in-3h", accept_due_at=NOW + 3 * hour, created_at=NOW - 5 * hour)
        _case(
            tx,
            "resolve-in-1h",
            status="in_progress",
            accept_due_at=NOW - 8 * hour,  # met long ago: the resolve limit counts now
            resolve_due_at=NOW + hour,
            created_at=NOW - 8 * hour,
        )
        _case(tx, "late-by-2h", accept_due_at=NOW - 2 * hour, created_at=NOW - 4 * hour)
        _case(tx, "same-due-older", accept_due_at=NOW + 5 * hour, created_at=NOW - 3 * hour)
        _case(tx, "same-due-newer", accept_due_at=NOW + 5 * hour, created_at=NOW - 2 * hour)
        _case(tx, "someone-else", accept_due_at=NOW - 9 * hour, assignee_id="w02")
        _case(tx, "resolved", status="resolved", resolve_due_at=NOW - 9 * hour)
    with store.unit() as tx:
        listed = [c.number for c in cases.for_assignee(tx, worker_id="w01")]
        assert listed == [
            "late-by-2h",
            "resolve-in-1h",
            "accept-in-3h",
            "same-due-newer",
            "same-due-older",
            "new-no-deadline",
            "old-no-deadline",
        ]
        assert [c.number for c in cases.for_assignee(tx, worker_id="w01", limit=2)] == listed[:2]


def test_assign_candidates_are_on_duty_the_grids_own_first_and_bounded(store: Store) -> None:
    with store.unit() as tx:
        roster.apply(tx, roster_file.read(DEMO))
        for n in range(12):
            tx.session.add(Worker(id=f"x{n:02d}", name=f"x{n}", role="worker"))
        tx.session.get(Worker, "w01").on_leave = True
        tx.session.get(Worker, "x00").active = False
        tx.session.flush()
        assert [w.id for w in roster.assignable(tx, "g3", limit=8)] == [
            "w03",  # owns g3
            "w02",  # the others by id, on duty and active only, workers only (no l01, a01)
            "x01",
            "x02",
            "x03",
            "x04",
            "x05",
            "x06",
        ]
        assert [w.id for w in roster.assignable(tx, None, limit=3)] == ["w02", "w03", "x01"]
        assert [w.id for w in roster.assignable(tx, "g1", limit=1)] == ["w02"]  # w01 on leave


def test_a_read_only_unit_leaves_the_write_lock_free_and_writes_nothing(db_url: str) -> None:
    store = Store(db_url, busy_timeout_ms=300)
    store.migrate()
    try:
        with store.reading() as tx:
            assert settings.get(tx, "k", now=NOW) is None  # a snapshot is open
            wrote = threading.Event()

            def writer() -> None:  # a message's unit of work, meanwhile
                with store.unit() as other:
                    settings.put(other, "k", "v", expires_at=None)
                wrote.set()

            thread = threading.Thread(target=writer)
            thread.start()
            thread.join(5)
            assert wrote.is_set()
            tx.session.add(Setting(name="ignored", value="x"))  # never flushed or committed
        with store.unit() as tx:
            assert settings.get(tx, "k", now=NOW) == "v"
            assert tx.session.get(Setting, "ignored") is None
    finally:
        store.dispose()


def test_a_database_error_names_no_value_a_resident_sent(store: Store) -> None:
    """Errors are logged with their message: it must not carry the resident's words."""
    from storage import inbound
    from storage.store import IntegrityError

    words = "我是张三，电话13812345678，住3号楼2单元501"
    fields = dict(channel="wechat", external_id="m1", sender_id="o1", kind="text", body={})
    with store.unit() as tx:
        inbound.record(tx, text=words, received_at=NOW, **fields)
    with pytest.raises(IntegrityError) as raised, store.unit() as tx:
        inbound.record(tx, text=words, received_at=NOW, **fields)
    message = str(raised.value)
    assert "INSERT" in message  # the statement is still named, for whoever reads the log
    assert "13812345678" not in message and "张三" not in message and "o1" not in message
