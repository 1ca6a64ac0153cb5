"""python -m bot serve | chat | ask | classify | keywords | cases | roster | knowledge ..."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ROOT, Config, ConfigError, load_config

if TYPE_CHECKING:
    from knowledge.base import KnowledgeBase
    from knowledge.faq import FaqEntry

DEMO_ROSTER = ROOT / "knowledge" / "demo_roster.toml"
Command = Callable[[argparse.Namespace, Config], int]


def _deps(config: Config, migrate: bool = True):  # type: ignore[no-untyped-def]
    from bot.runtime import make_deps

    return make_deps(config, migrate=migrate)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from bot.app import serve

    serve(config)
    return 0


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    from storage.store import Store

    Store(config.database_url).migrate()
    print(f"database is at the newest schema: {config.database_url}")
    return 0


def cmd_seed(args: argparse.Namespace, config: Config) -> int:
    from bot import roster_file
    from storage import roster
    from storage.store import Store

    store = Store(config.database_url)
    store.migrate()
    try:
        data = roster_file.read(Path(args.file) if args.file else DEMO_ROSTER)
    except (roster_file.RosterFileError, OSError) as exc:
        print(f"roster not loaded: {exc}", file=sys.stderr)
        return 2
    with store.unit() as tx:
        changes = roster.apply(tx, data)
    print(f"demo community loaded: {len(changes.added)} added, {len(changes.updated)} updated")
    return 0


def cmd_roster(args: argparse.Namespace, config: Config) -> int:
    from bot import roster_file
    from storage import roster
    from storage.store import Store

    store = Store(config.database_url)
    store.migrate()
    path = Path(args.file)
    if args.action == "import":
        try:
            data = roster_file.read(path)
        except (roster_file.RosterFileError, KeyError, OSError) as exc:
            print(f"roster not imported: {exc}", file=sys.stderr)
            return 2
        with store.unit() as tx:
            changes = roster.apply(tx, data)
        for line in changes.added:
            print(f"added {line}")
        for line in changes.updated:
            print(f"updated {line}")
        print(f"{len(changes.added)} added, {len(changes.updated)} updated")
        return 0
    with store.unit() as tx:
        data = roster.export(tx)
    try:
        roster_file.write(data, path)
    except OSError as exc:
        print(f"roster not written: {exc}", file=sys.stderr)
        return 2
    print(f"roster written to {path}")
    return 0


def cmd_chat(args: argparse.Namespace, config: Config) -> int:
    from bot.channels.console import chat
    from bot.runtime import setup_logging

    setup_logging("WARNING")
    who = args.as_ or "resident:访客"
    role, _, name = who.partition(":")
    if role not in ("resident", "worker") or not name:
        print("--as takes resident:NAME or worker:ID", file=sys.stderr)
        return 2
    deps = _deps(config)
    chat(deps, f"console-{role}-{name}")
    return 0


def _lines(text: list[str]) -> list[str]:
    if text:
        return [" ".join(text)]
    return [line.rstrip("\n") for line in sys.stdin if line.strip()]


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    from knowledge.base import load

    kb = load(faq_threshold=config.knowledge.faq_threshold, cache=config.knowledge_cache)
    for question in _lines(args.text):
        match = kb.faq.best_match(question)
        entry = kb.faq.entries.get(match.faq_id) if match.faq_id else None
        answer = _render_plain(kb, entry, config) if entry else None
        if args.json:
            print(
                json.dumps(
                    {
                        "question": question,
                        "faq_id": match.faq_id,
                        "score": match.score,
                        "declined_by": match.declined_by,
                        "answer": answer,
                    },
                    ensure_ascii=False,
                )
            )
        elif match.declined_by is not None:
            print(
                f"{question}\n  (no answer: closer to {match.declined_by!r}, a near miss "
                f"listed in {match.best_id}, than to its phrasings; {match.score:.2f})\n"
            )
        elif entry is None:
            print(
                f"{question}\n  (no answer above the threshold; best {match.best_id} "
                f"{match.score:.2f})\n"
            )
        else:
            print(f"{question}\n  [{entry.id} {match.score:.2f}] {answer}\n")
    return 0


def _render_plain(kb: KnowledgeBase, entry: FaqEntry, config: Config) -> str:
    """The answer as a resident who has not registered an address gets it."""
    from handlers.context import Context
    from handlers.faq import render_answer

    # No database: without a resident, rendering reads configuration and knowledge only.
    ctx = Context(tx=None, kb=kb, config=config, now=datetime.now(UTC))  # type: ignore[arg-type]
    return render_answer(ctx, entry)


def cmd_classify(args: argparse.Namespace, config: Config) -> int:
    from knowledge.base import load
    from knowledge.understand import understand

    kb = load(faq_threshold=config.knowledge.faq_threshold, cache=config.knowledge_cache)
    for text in _lines(args.text):
        found = understand(kb, text)  # what the service makes of it, not the keywords alone
        row = {
            "text": text,
            "intent": found.intent,
            "category": found.category,
            "confidence": found.confidence,
            "keywords": list(found.keywords),
        }
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(
                f"{found.intent:<12} {found.category or '-':<12} {found.confidence:.2f} "
                f"{','.join(found.keywords)}  {text}"
            )
    return 0


def cmd_keywords(args: argparse.Namespace, config: Config) -> int:
    from knowledge import keywords

    data = Path(args.data)
    try:
        if args.action == "learn":
            learned = keywords.learn_file(
                data,
                text_column=args.text_column,
                label_column=args.label_column,
                out=args.out,
                only=args.part,
            )
            sizes = ", ".join(f"{k} {len(v)}" for k, v in learned.keywords.items())
            print(f"lexicon written to {args.out}: {learned.messages} messages; keywords: {sizes}")
            return 0
        report = keywords.evaluate_file(
            data,
            text_column=args.text_column,
            label_column=args.label_column,
            lexicon=args.lexicon,
            k=args.folds,
            only=args.part,
        )
    except (ValueError, KeyError, OSError) as exc:
        print(f"keywords {args.action}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_json(), ensure_ascii=False) if args.json else report.format())
    return 0


def cmd_cases(args: argparse.Namespace, config: Config) -> int:
    from bot import case_view

    deps = _deps(config)
    if args.action == "list":
        return case_view.print_list(
            deps, status=args.status, as_json=args.json, limit=args.limit or None
        )
    if not args.number:
        print("cases show NUMBER", file=sys.stderr)
        return 2
    return case_view.print_case(deps, args.number, as_json=args.json)


def cmd_knowledge(args: argparse.Namespace, config: Config) -> int:
    from knowledge.check import check

    problems, counts = check(cache=config.knowledge_cache)
    if args.law_texts:
        from knowledge.law import load_items, verify_quotes

        problems += verify_quotes(load_items(), Path(args.law_texts))
    for problem in problems:
        print(f"- {problem}")
    status = "ok" if not problems else f"{len(problems)} problems"
    print(f"knowledge check: {counts['faq']} FAQ entries, {counts['law']} law items: {status}")
    return 1 if problems else 0


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    from bot import jobs
    from handlers import rates
    from handlers.context import Context

    deps = _deps(config)
    with deps.store.unit() as tx:
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=config, now=deps.clock())
        try:
            report = rates.weekly(
                tx, config, week=args.week, now=ctx.now, category_names=jobs.category_names(ctx)
            )
        except ValueError:
            print(f"not a week: {args.week!r} (expected YYYY-Www, e.g. 2026-W48)", file=sys.stderr)
            return 2
        text = rates.summary_text(ctx, report)
    if args.xlsx:
        try:
            rates.to_excel(report, Path(args.xlsx), deps.knowledge.current.replies)
        except OSError as exc:
            print(f"workbook not written: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(text)
        if args.xlsx:
            print(f"workbook written to {args.xlsx}")
    return 0


def cmd_link_code(args: argparse.Namespace, config: Config) -> int:
    from handlers import worker
    from handlers.context import Context
    from storage import roster

    deps = _deps(config)
    with deps.store.unit() as tx:
        target = roster.find_worker(tx, args.worker)
        if target is None:
            print(f"no worker {args.worker!r}", file=sys.stderr)
            return 1
        ctx = Context(tx=tx, kb=deps.knowledge.current, config=config, now=deps.clock())
        code = worker.new_link_code(ctx, target.id)
    print(f"{target.name} ({target.id}): send the bot /link {code} within 24 hours")
    return 0


def cmd_broadcast(args: argparse.Namespace, config: Config) -> int:
    from bot import broadcast_cli

    return broadcast_cli.run(args, _deps(config))


def cmd_telegram(args: argparse.Namespace, config: Config) -> int:
    from bot.channels import telegram

    if not config.telegram.token:
        print("set BOT_TELEGRAM__TOKEN first", file=sys.stderr)
        return 2
    ok = telegram.set_webhook(config, args.url)
    print(f"webhook {'set' if ok else 'NOT set'}: {args.url}")
    return 0 if ok else 1


def cmd_menu(args: argparse.Namespace, config: Config) -> int:
    from bot.channels import wechat

    deps = _deps(config)
    menu = wechat.load_menu()
    if args.action == "show":
        print(json.dumps(menu, ensure_ascii=False, indent=2))
        return 0
    wechat.push_menu(deps, menu)
    print("menu pushed to the Official Account")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve HTTP (WeChat, Telegram webhook, /healthz)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    seed = sub.add_parser("seed", help="load the demo community")
    seed.add_argument("--file", help="a roster file instead of the demo community")
    roster = sub.add_parser("roster", help="import or export the grid roster (TOML or .xlsx)")
    roster.add_argument("action", choices=["import", "export"])
    roster.add_argument("file")
    link = sub.add_parser("link-code", help="a one-time code that links a worker's Telegram")
    link.add_argument("worker", help="worker id or name")
    report = sub.add_parser("report", help="the weekly figures (三率)")
    report.add_argument("period", choices=["weekly"])
    report.add_argument("--week", help="YYYY-Www; default: last full week")
    report.add_argument("--json", action="store_true")
    report.add_argument("--xlsx", help="also write an Excel workbook here")
    chat = sub.add_parser("chat", help="talk to the bot in the terminal")
    chat.add_argument("--as", dest="as_", metavar="resident:NAME|worker:ID")
    ask = sub.add_parser("ask", help="answer policy questions from the knowledge base")
    ask.add_argument("--json", action="store_true")
    ask.add_argument("text", nargs="*")
    classify = sub.add_parser("classify", help="classify messages (one a line on stdin)")
    classify.add_argument("--json", action="store_true")
    classify.add_argument("text", nargs="*")
    keywords = sub.add_parser("keywords", help="learn or evaluate a keyword lexicon")
    keywords_sub = keywords.add_subparsers(dest="action", required=True)
    for action, text in (
        ("learn", "learn a reviewable lexicon from labelled messages (CSV)"),
        ("eval", "precision/recall/F1, confusion matrix and worst mistakes on labelled messages"),
    ):
        one = keywords_sub.add_parser(action, help=text)
        one.add_argument("data", help="a CSV file with a header row")
        one.add_argument("--text-column", required=True)
        one.add_argument("--label-column", required=True)
        one.add_argument("--part", choices=["dev", "test"], help="only one part of the data")
    learn, evaluate = keywords_sub.choices["learn"], keywords_sub.choices["eval"]
    learn.add_argument("--out", required=True, type=Path, help="the lexicon TOML to write")
    evaluate.add_argument("--lexicon", type=Path, help="a lexicon TOML (default: the live one)")
    evaluate.add_argument("--json", action="store_true")
    evaluate.add_argument("--folds", type=int, default=0, help="k-fold cross-validation")
    cases = sub.add_parser("cases", help="list cases or show one with its timeline")
    cases.add_argument("action", choices=["list", "show"])
    cases.add_argument("number", nargs="?")
    cases.add_argument("--json", action="store_true")
    cases.add_argument("--status")
    cases.add_argument("--limit", type=_count, default=0, help="list at most this many (0: all)")
    knowledge = sub.add_parser("knowledge", help="validate the knowledge files")
    knowledge.add_argument("action", choices=["check"])
    knowledge.add_argument("--law-texts", help="articles.jsonl: check every quote is verbatim")
    from bot import broadcast_cli

    broadcast_cli.add_parser(sub)
    tg = sub.add_parser("telegram", help="point the Telegram Bot API at this service")
    tg.add_argument("action", choices=["webhook"])
    tg.add_argument("url", help="https://your.host/telegram")
    menu = sub.add_parser("menu", help="the WeChat custom menu")
    menu.add_argument("action", choices=["show", "push"])
    return p


COMMANDS: dict[str, Command] = {
    "serve": cmd_serve,
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "roster": cmd_roster,
    "chat": cmd_chat,
    "ask": cmd_ask,
    "classify": cmd_classify,
    "keywords": cmd_keywords,
    "cases": cmd_cases,
    "knowledge": cmd_knowledge,
    "report": cmd_report,
    "broadcast": cmd_broadcast,
    "telegram": cmd_telegram,
    "link-code": cmd_link_code,
    "menu": cmd_menu,
}


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a count: {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = load_config()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    return COMMANDS[args.command](args, config)


if __name__ == "__main__":
    sys.exit(main())
