"""Tables. Dialect-neutral: the same models run on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone (portable), returns aware UTC datetimes; refuses naive ones."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: the clock is tz-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Community(Base):
    __tablename__ = "communities"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Grid(Base):
    __tablename__ = "grids"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    community_id: Mapped[str] = mapped_column(ForeignKey("communities.id"))
    name: Mapped[str] = mapped_column(String(200))


class Building(Base):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("grids.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200), unique=True)  # canonical form, e.g. "3号楼"


class Worker(Base):
    __tablename__ = "workers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # worker | leader | admin
    phone: Mapped[str] = mapped_column(String(32), default="")
    telegram_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    on_leave: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WorkerGrid(Base):
    """A worker's tie to a grid: owns it, backs it up, or leads it."""

    __tablename__ = "worker_grids"
    # who owns, backs up or leads a grid (roster.grid_workers): the primary key starts with
    # worker_id, so without this index that lookup walks every worker
    __table_args__ = (Index("ix_worker_grids_grid_relation", "grid_id", "relation"),)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), primary_key=True)
    grid_id: Mapped[str] = mapped_column(ForeignKey("grids.id"), primary_key=True)
    relation: Mapped[str] = mapped_column(String(16), primary_key=True)  # own | backup | lead


class Resident(Base):
    __tablename__ = "residents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    building: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(32), default="")
    room: Mapped[str] = mapped_column(String(32), default="")
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grids.id"))
    subscribe_law: Mapped[bool | None] = mapped_column(Boolean)
    subscribe_notice: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    last_inbound_at: Mapped[datetime | None]
    identities: Mapped[list[Identity]] = relationship(back_populates="resident")

    @property
    def address(self) -> str:
        parts = [self.building, f"{self.unit}单元" if self.unit else "", self.room]
        return "".join(parts)


class Identity(Base):
    """Who a channel's sender id is: a resident, or a worker (linked in chat)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    worker_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id"), index=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)  # follows the account
    created_at: Mapped[datetime]
    resident: Mapped[Resident | None] = relationship(back_populates="identities")


class InboundMessage(Base):
    """Every message, recorded before it is answered; the answer is kept for retries."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(160))
    sender_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="received")  # received|answered|failed
    intent: Mapped[str] = mapped_column(String(32), default="")
    reply_text: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None]


class ConversationState(Base):
    __tablename__ = "conversation_states"
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_resident_status", "resident_id", "status"),
        Index("ix_cases_assignee_status", "assignee_id", "status"),
        Index("ix_cases_status_created", "status", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    filed_by: Mapped[str] = mapped_column(String(64), default="")  # a worker id for 代办
    category: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    building: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[str | None] = mapped_column(ForeignKey("grids.id"), index=True)
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("workers.id"))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    report_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    assigned_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    reopened_at: Mapped[datetime | None]  # the last 重办: the resolve limit runs from it
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    accept_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    alarm_at: Mapped[datetime | None] = mapped_column(index=True)  # the next reminder/escalation
    alarms: Mapped[int] = mapped_column(Integer, default=0)  # bits of reminders already sent
    accepted_late: Mapped[bool | None] = mapped_column(Boolean)
    resolved_late: Mapped[bool | None] = mapped_column(Boolean)
    rating: Mapped[str] = mapped_column(String(16), default="")
    solved: Mapped[bool | None] = mapped_column(Boolean)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    return_count: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )
    attachments: Mapped[list[CaseAttachment]] = relationship(
        back_populates="case", order_by="CaseAttachment.id", cascade="all, delete-orphan"
    )


class CaseEvent(Base):
    """One step of a case's timeline: who, when, from, to, why."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # created|transition|note|merged|attachment|...
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    case: Mapped[Case] = relationship(back_populates="events")


class CaseAttachment(Base):
    __tablename__ = "case_attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # image | voice | location | link
    media_id: Mapped[str] = mapped_column(String(256), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    case: Mapped[Case] = relationship(back_populates="attachments")


class LinkCode(Base):
    """A one-time code an admin gives a worker to link their chat account."""

    __tablename__ = "link_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ResidentTag(Base):
    """Audience tags: elderly, parents, landlords, tenants..."""

    __tablename__ = "resident_tags"
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class Broadcast(Base):
    """An announcement or a law-education push, one-off or recurring."""

    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # law | notice | urgent
    audience: Mapped[str] = mapped_column(String(120))  # all | grid:ID | building:NAME | tag:NAME
    channel: Mapped[str] = mapped_column(String(16))  # wechat-cs | wechat-mass | telegram
    text: Mapped[str] = mapped_column(Text, default="")
    item_id: Mapped[str] = mapped_column(String(80), default="")  # a knowledge/law item
    run_at: Mapped[datetime | None]  # one-off
    cron: Mapped[str] = mapped_column(String(64), default="")  # recurring: "m h dom mon dow"
    skip_holidays: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | done | cancelled
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]


class BroadcastRun(Base):
    """One firing of a broadcast: unique per scheduled time, so a repeat firing resumes it."""

    __tablename__ = "broadcast_runs"
    __table_args__ = (UniqueConstraint("broadcast_id", "scheduled_for"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), index=True)
    scheduled_for: Mapped[datetime]
    not_before: Mapped[datetime]  # after quiet hours
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sending|done
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16), default="")
    mass_msg_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    reported: Mapped[bool] = mapped_column(Boolean, default=False)


class BroadcastDelivery(Base):
    """The per-recipient ledger: a restart resumes it, never repeats a sent row."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "channel", "recipient_id"),
        Index("ix_broadcast_deliveries_run_status", "run_id", "status", "due_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("broadcast_runs.id"))
    channel: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(String(128))
    # pending | sending | sent | failed | skipped
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Counter(Base):
    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(Base):
    """Every outbound message with its delivery state; drained with retries."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(String(128), index=True)
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # buttons, image
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    is_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    # passive (waiting to ride on the HTTP reply) | pending | sending | sent | held | failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class Setting(Base):
    """Small shared values, e.g. the WeChat access token that one owner refreshes."""

    __tablename__ = "settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None]


def utcnow() -> datetime:
    return datetime.now(UTC)
