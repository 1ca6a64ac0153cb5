"""Many realistic messages in random order through the real pipeline: none is lost or fails.

Residents send the evaluation questions and messages, the words that change a conversation's
state (是, 详细, 确认删除, ratings, case numbers) and odd input; staff in the terminal channel
send commands and press buttons on cases that may not be theirs, in any order and at any time.
Every message must be recorded and answered, and none may get the apology for a failure."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from sqlalchemy import func, select

from bot.messages import Channel
from bot.pipeline import Deps
from storage.models import Case, InboundMessage
from tests.dialog import send

DATA = Path(__file__).resolve().parent / "data"
STATE_WORDS = [
    "是", "不是", "详细", "1", "取消", "我的工单", "满意", "基本满意", "不满意，没修好",
    "查询 2026-000001", "撤销 2026-000002", "我的信息", "删除我的信息", "确认删除",
    "订阅普法", "退订", "人工", " ", "😀", "那要带什么材料", "a" * 3000,
]  # fmt: skip
COMMANDS = [
    "/mycases", "/queue", "/overdue", "/help", "/nosuch", "/case 2026-{n:06d}",
    "/press 2026-{n:06d} 请尽快", "/merge 2026-{n:06d} 2026-{m:06d}", "/assign 2026-{n:06d} w0{k}",
    "/report 3号楼 张大爷 13912345678 楼道灯坏了", "/linkcode w0{k}", "已经修好了", "随便说点",
]  # fmt: skip
BUTTONS = ["accept", "return", "reassign", "note", "resolve", "help", "phone", "to"]
FAILED = "系统暂时出了点问题"  # the apology of knowledge/replies.toml resident.error


def _texts() -> list[str]:
    texts = []
    for name, column in (("faq_queries.csv", "question"), ("community_messages.csv", "text")):
        with (DATA / name).open(encoding="utf-8-sig", newline="") as handle:
            texts += [row[column] for row in csv.DictReader(handle)]
    return texts


def test_residents_and_staff_in_any_order_are_all_answered(deps: Deps, clock) -> None:
    rng = random.Random(3)
    pool = _texts() + STATE_WORDS * 20
    failed = []
    for _ in range(1500):
        clock.advance(minutes=rng.choice([0, 1, 5, 30, 600]))
        if rng.random() < 0.7:
            text = rng.choice(pool)
            out = send(deps, text, sender=f"resident-{rng.randrange(12)}").text
        else:
            staff = f"console-worker-{rng.choice(['w01', 'w02', 'w03', 'l01', 'a01', 'x9'])}"
            n, m, k = rng.randrange(1, 60), rng.randrange(1, 60), rng.randrange(1, 4)
            if rng.random() < 0.5:
                action = rng.choice(BUTTONS)
                text = f"case:{action}:{n}" + (f":w0{k}" if action == "to" else "")
                out = send(deps, "", sender=staff, channel=Channel.CONSOLE, payload=text).text
            else:
                text = rng.choice(COMMANDS).format(n=n, m=m, k=k)
                out = send(deps, text, sender=staff, channel=Channel.CONSOLE).text
        if FAILED in out:
            failed.append(text[:40])
    assert failed == []
    with deps.store.unit() as tx:
        statuses = dict(
            tx.session.execute(
                select(InboundMessage.status, func.count()).group_by(InboundMessage.status)
            ).all()
        )
        opened = tx.session.scalar(select(func.count()).select_from(Case))
    assert statuses == {"answered": 1500}
    assert opened > 50  # the reports among them were filed
