"""Dialog tests through the real pipeline (after zulip_bots' verify_dialog)."""

from __future__ import annotations

import uuid

from bot.messages import Channel, Incoming, Kind, Location
from bot.pipeline import Deps, Handled, handle


def send(
    deps: Deps,
    text: str,
    *,
    sender: str = "resident-1",
    external_id: str | None = None,
    kind: Kind = Kind.TEXT,
    channel: Channel = Channel.WECHAT,
    **extra: object,
) -> Handled:
    incoming = Incoming(
        channel=channel,
        sender_id=sender,
        external_id=external_id or uuid.uuid4().hex,
        kind=kind,
        received_at=deps.clock(),
        text=text,
        **extra,
    )  # type: ignore[arg-type]
    # As a channel that shows every reply at once: the replies are delivered as answered.
    return handle(incoming, deps, passive=True, claim=lambda _text: True)


def location(
    deps: Deps, lat: float, lon: float, label: str, *, sender: str = "resident-1"
) -> Handled:
    return send(deps, "", sender=sender, kind=Kind.LOCATION, location=Location(lat, lon, label))


def verify_dialog(
    deps: Deps, dialog: list[tuple[str, list[str]]], *, sender: str = "resident-1"
) -> None:
    """Each message gets a reply containing every expected fragment."""
    for message, expected in dialog:
        reply = send(deps, message, sender=sender).text
        for fragment in expected:
            assert fragment in reply, f"{message!r} -> {reply!r}: missing {fragment!r}"
