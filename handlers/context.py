"""What a handler receives: the request (who said what) and the context (where to act)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.config import Config
from bot.messages import Button, Incoming, Outgoing, Role
from knowledge.base import KnowledgeBase
from knowledge.classify import Classification
from storage import roster
from storage.models import Resident, Worker
from storage.store import Tx


@dataclass
class Request:
    incoming: Incoming
    role: Role
    text: str
    intent: str
    classification: Classification | None = None
    resident: Resident | None = None
    worker: Worker | None = None
    state: str = ""
    state_data: dict[str, Any] = field(default_factory=dict)
    state_at: datetime | None = None  # when the state was set
    argument: str = ""  # from a command or button payload, e.g. a case number

    def state_within(self, now: datetime, minutes: float) -> bool:
        """Whether the conversation state was set at most `minutes` before `now`."""
        return self.state_at is not None and now - self.state_at <= timedelta(minutes=minutes)


@dataclass
class Context:
    tx: Tx
    kb: KnowledgeBase
    config: Config
    now: datetime
    request: Request | None = None
    new_state: tuple[str, dict[str, Any]] | None = None  # set by handlers; None keeps it
    clear_state: bool = False
    over_draft: bool = False

    # -- words ------------------------------------------------------------------------------
    def say(self, key: str, **fields: object) -> str:
        """A reply sentence from knowledge/replies.toml, with the community's details filled."""
        community = self.config.community
        base: dict[str, object] = {
            "community_name": community.name,
            "office_address": community.office_address,
            "office_phone": community.office_phone,
            "office_hours": community.office_hours,
        }
        if "grid_worker" in self.kb.replies.placeholders(key) and "grid_worker" not in fields:
            base["grid_worker"] = self.grid_worker_name()
        base.update(fields)
        return self.kb.replies.get(key, **base)

    def word(self, section: str, key: str) -> str:
        return self.kb.replies.texts.get(f"{section}.{key}", key)

    def category_name(self, category: str) -> str:
        return self.word("category", category)

    def status_name(self, status: str) -> str:
        return self.word("status", status)

    def local_time(self, at: datetime) -> str:
        return at.astimezone(self.config.tz).strftime("%m-%d %H:%M")

    def year(self) -> int:
        return self.now.astimezone(self.config.tz).year

    def ago(self, minutes: float) -> datetime:
        return self.now - timedelta(minutes=minutes)

    # -- the resident's grid ---------------------------------------------------------------
    def grid_worker_name(self) -> str:
        resident = self.request.resident if self.request else None
        if resident is None or not resident.grid_id:
            return self.word("words", "unknown_grid_worker")
        owners = roster.grid_workers(self.tx, resident.grid_id, "own")
        on_duty = [w for w in owners if not w.on_leave]
        backups = [w for w in roster.grid_workers(self.tx, resident.grid_id, "backup")]
        chosen = on_duty or [w for w in backups if not w.on_leave] or owners
        return "、".join(w.name for w in chosen) or self.word("words", "unknown_grid_worker")

    # -- replies ---------------------------------------------------------------------------
    def reply(self, text: str, buttons: tuple[Button, ...] = ()) -> Outgoing:
        assert self.request is not None
        incoming = self.request.incoming
        return Outgoing(incoming.channel, incoming.sender_id, text, buttons, reply=True)

    def reply_key(self, key: str, **fields: object) -> list[Outgoing]:
        return [self.reply(self.say(key, **fields))]

    def set_state(self, state: str, data: dict[str, Any], *, over_draft: bool = False) -> None:
        """The conversation's next state. A report being filled in survives a side question's
        state unless `over_draft` (the resident asked for something that ends it)."""
        self.new_state = (state, data)
        self.clear_state = False
        self.over_draft = over_draft

    def drop_state(self) -> None:
        self.new_state = None
        self.clear_state = True
