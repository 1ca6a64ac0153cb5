"""The only objects that cross layers: what came in, what goes out (a leaf module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    WECHAT = "wechat"
    TELEGRAM = "telegram"
    CONSOLE = "console"


class Role(StrEnum):
    RESIDENT = "resident"
    WORKER = "worker"
    LEADER = "leader"
    ADMIN = "admin"
    UNKNOWN = "unknown"


class Kind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    LOCATION = "location"
    LINK = "link"
    EVENT = "event"
    COMMAND = "command"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True)
class Incoming:
    """One message or event from one sender, as any channel delivers it."""

    channel: Channel
    sender_id: str
    external_id: str
    kind: Kind
    received_at: datetime
    text: str = ""
    media_id: str = ""
    media_url: str = ""
    location: Location | None = None
    event: str = ""
    event_key: str = ""
    payload: str = ""  # a button or menu payload, e.g. "intent:progress" or "case:accept:12"
    display_name: str = ""
    message_ref: str = ""  # the chat message a button was pressed on (its notice can be edited)


@dataclass(frozen=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True)
class Outgoing:
    """One message to one recipient; the reply to the sender is marked `reply`."""

    channel: Channel
    recipient_id: str
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    reply: bool = False
    image_media_id: str = ""
    image_url: str = ""
    edit_of: str = ""  # replace this chat message instead of sending a new one
    template: str = ""  # outside WeChat's 48-hour window, send as this template kind if configured
