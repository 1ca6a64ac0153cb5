"""The terminal channel: type as a resident, read the bot's answers (same pipeline)."""

from __future__ import annotations

import sys
import uuid
from typing import TextIO

from bot.messages import Channel, Incoming, Kind
from bot.pipeline import Deps, handle


def incoming(sender: str, text: str, deps: Deps) -> Incoming:
    return Incoming(
        channel=Channel.CONSOLE,
        sender_id=sender,
        external_id=uuid.uuid4().hex,
        kind=Kind.TEXT,
        received_at=deps.clock(),
        text=text,
    )


def say(sender: str, text: str, deps: Deps) -> str:
    """Send one line as `sender`; the bot's answer as text."""
    # The terminal shows every reply at once: they are delivered as they are answered.
    result = handle(incoming(sender, text, deps), deps, passive=True, claim=lambda _text: True)
    return result.text


def chat(deps: Deps, sender: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    words = deps.knowledge.current.replies
    interactive = stdin.isatty()
    if interactive:
        stdout.write(words.get("console.welcome") + "\n")
    while True:
        if interactive:
            stdout.write(words.get("console.you"))
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        if not text.strip():
            continue
        answer = say(sender, text, deps)
        bot = words.get("console.bot") if interactive else ""
        stdout.write(f"{bot}{answer}\n\n")
        stdout.flush()
