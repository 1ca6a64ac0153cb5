"""Knowledge files tested as data; every reply key the code uses exists and is filled."""

from __future__ import annotations

import re
from pathlib import Path

from knowledge.base import load
from knowledge.check import REQUIRED_FAQ, check
from knowledge.replies import Replies

ROOT = Path(__file__).resolve().parents[2]


def test_knowledge_check_passes() -> None:
    problems, counts = check()
    assert problems == []
    assert counts["faq"] >= len(REQUIRED_FAQ)


def test_check_catches_a_broken_entry(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "knowledge", tmp_path / "k")
    entry = tmp_path / "k" / "faq" / "dibao.toml"
    text = entry.read_text(encoding="utf-8")
    entry.write_text(
        text.replace("checked = ", "checked_was = ", 1).replace(
            'answer = """', 'answer = """请拨打13912345678 {unknown_field}', 1
        ),
        encoding="utf-8",
    )
    (tmp_path / "k" / "sensitive.toml").write_text('words = ["家暴", "打"]\n', encoding="utf-8")
    intents = tmp_path / "k" / "lexicon" / "intents.toml"
    text = intents.read_text(encoding="utf-8")
    intents.write_text(text.replace("slope = ", 'slope = "8" # ', 1), encoding="utf-8")
    problems, _ = check(tmp_path / "k")
    joined = "\n".join(problems)
    assert "dibao.toml: missing checked" in joined
    assert "unknown placeholders" in joined and "phone number" in joined
    assert "sensitive.toml: '打'" in joined and "'家暴'" not in joined
    assert "intents.toml: [confidence] needs numbers" in joined


def test_every_reply_key_used_in_code_exists() -> None:
    replies = Replies.load()
    pattern = re.compile(r"""(?:say|reply_key|fixed|get)\(\s*"([a-z_]+\.[a-z_]+)\"""")
    used = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        used.update(pattern.findall(path.read_text(encoding="utf-8")))
    assert used, "no reply keys found: the pattern is wrong"
    missing = sorted(k for k in used if k not in replies.texts)
    assert missing == []


def test_every_broadcast_refusal_has_its_sentence() -> None:
    """A refused broadcast reaches admins as `broadcast.refusal_KEY` (handlers.broadcast)."""
    replies = Replies.load()
    literal = r"""(?:\s*f?"[^"]*"|\s*f?'[^']*')+"""  # one or more adjacent string literals
    pattern = re.compile(rf'BroadcastError\({literal}\s*,\s*"([a-z_]+)"')
    keys = set()
    for path in (ROOT / "handlers" / "broadcast.py", ROOT / "bot" / "broadcast_cli.py"):
        keys.update(pattern.findall(path.read_text(encoding="utf-8")))
    assert {"kind", "audience", "quota", "cron", "at"} <= keys, keys
    assert sorted(k for k in keys if f"broadcast.refusal_{k}" not in replies.texts) == []


def test_faq_answers_fill_every_placeholder() -> None:
    kb = load()
    fields = dict.fromkeys(
        [
            "community_name",
            "office_address",
            "office_phone",
            "office_hours",
            "grid_worker",
            "grid_name",
        ],
        "X",
    )
    for entry in kb.faq.entries.values():
        assert "{" not in entry.answer.format_map(fields), entry.id
        assert entry.sources and entry.checked, entry.id
        assert len(entry.alternates) >= 5, entry.id


def test_every_case_event_kind_has_its_words_for_residents() -> None:
    """A resident's timeline names each event in words ([event] of replies.toml), never by id."""
    from storage.lifecycle import Action

    replies = Replies.load()
    literal = re.compile(r'kind="([a-z_]+)"')
    kinds = {a.value for a in Action} | {"remind", "escalate"}  # transitions; escalation.py
    for path in [*ROOT.glob("handlers/**/*.py"), ROOT / "storage" / "cases.py"]:
        text = path.read_text(encoding="utf-8")
        if "add_event(" in text:
            kinds.update(literal.findall(text))
    kinds -= {"image", "location"}  # attachment kinds (the note of an "attachment" event)
    assert {"help", "pii_view", "created", "note"} <= kinds
    assert sorted(k for k in kinds if f"event.{k}" not in replies.texts) == []
