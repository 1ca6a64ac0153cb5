"""Law-education (普法) items under review in law/*.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAW_DIR = HERE / "law"


@dataclass(frozen=True)
class Quote:
    law: str
    article: str
    text_date: str
    text: str


@dataclass(frozen=True)
class LawItem:
    id: str
    title: str
    tags: tuple[str, ...]
    topic: str
    plain: str
    tip: str
    quotes: tuple[Quote, ...]


def load_item(path: Path) -> LawItem:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return LawItem(
        id=data["id"],
        title=data["title"],
        tags=tuple(data.get("tags", ())),
        topic=data.get("topic", ""),
        plain=data["plain"].strip(),
        tip=data["tip"].strip(),
        quotes=tuple(
            Quote(**{k: str(q[k]) for k in ("law", "article", "text_date", "text")})
            for q in data["quotes"]
        ),
    )


def load_items(directory: Path = LAW_DIR) -> dict[str, LawItem]:
    return {item.id: item for item in map(load_item, sorted(directory.glob("*.toml")))}


def verify_quotes(items: dict[str, LawItem], articles_jsonl: Path) -> list[str]:
    """Every quote, split on "……", must be verbatim in the named article of the law texts."""
    import json

    texts: dict[tuple[str, str], str] = {}
    with articles_jsonl.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            key = (row["law"], row["article"])
            texts[key] = texts.get(key, "") + row["text"]
    problems = []
    for item in items.values():
        for quote in item.quotes:
            article = texts.get((quote.law, quote.article))
            if article is None:
                problems.append(f"law/{item.id}: {quote.law} {quote.article} not found")
                continue
            for part in filter(None, (p.strip() for p in quote.text.split("……"))):
                if part not in article:
                    problems.append(f"law/{item.id}: not verbatim in {quote.article}: {part[:30]}")
    return problems
