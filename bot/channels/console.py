"""The terminal channel: type as a resident or a worker, read the bot's answers (same
pipeline). A worker's buttons are shown numbered; typing the number presses one."""

from __future__ import annotations

import sys
import uuid
from typing import TextIO

from bot.messages import Button, Channel, Incoming, Kind
from bot.pipeline import Deps, handle


def incoming(sender: str, text: str, deps: Deps, payload: str = "") -> Incoming:
    return Incoming(
        channel=Channel.CONSOLE,
        sender_id=sender,
        external_id=uuid.uuid4().hex,
        kind=Kind.TEXT,
        received_at=deps.clock(),
        text=text,
        payload=payload,
    )


def say(sender: str, text: str, deps: Deps) -> str:
    """Send one line as `sender`; the bot's answer as text."""
    return exchange(sender, text, deps)[0]


def exchange(sender: str, text: str, deps: Deps, payload: str = "") -> tuple[str, list[Button]]:
    """Send one line (or press a button: `payload`); the answer with its buttons numbered,
    and the buttons in that order."""
    # The terminal shows every reply at once: they are delivered as they are answered.
    message = incoming(sender, text, deps, payload)
    result = handle(message, deps, passive=True, claim=lambda _text: True)
    buttons = [button for reply in result.replies for button in reply.buttons]
    shown = "  ".join(f"[{n}] {button.label}" for n, button in enumerate(buttons, 1))
    return (f"{result.text}\n{shown}" if shown else result.text), buttons


def chat(deps: Deps, sender: str, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
    words = deps.knowledge.current.replies
    interactive = stdin.isatty()
    buttons: list[Button] = []
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
        choice = text.strip().strip("[]")
        payload = ""
        if choice.isdigit() and 0 < int(choice) <= len(buttons):
            text, payload = buttons[int(choice) - 1].label, buttons[int(choice) - 1].payload
        answer, buttons = exchange(sender, text, deps, payload)
        bot = words.get("console.bot") if interactive else ""
        stdout.write(f"{bot}{answer}\n\n")
        stdout.flush()
