"""The FAQ: entries under review in faq/*.toml and a BM25-style index over their phrasings."""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from knowledge.text import Tokenizer, default_tokenizer, normalize

HERE = Path(__file__).resolve().parent
FAQ_DIR = HERE / "faq"
SYNONYMS = HERE / "synonyms.toml"
K1, B = 1.2, 0.75


@dataclass(frozen=True)
class Source:
    law: str = ""
    article: str = ""
    text_date: str = ""
    doc: str = ""

    def cite(self) -> str:
        if self.law:
            name = self.law if self.law.startswith("《") else f"《{self.law}》"
            return f"{name}{self.article}"
        return self.doc


@dataclass(frozen=True)
class FaqEntry:
    id: str
    title: str
    question: str
    alternates: tuple[str, ...]
    answer: str
    detail: str
    sources: tuple[Source, ...]
    checked: date
    keywords: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    city_varies: bool = False

    def phrasings(self) -> list[str]:
        return [self.title, self.question, *self.alternates]


@dataclass(frozen=True)
class Match:
    faq_id: str | None  # None when nothing clears the threshold
    score: float
    best_id: str | None  # the best candidate even when below the threshold
    suggestions: tuple[str, ...] = ()  # close runners-up: "你可能还想问"


def load_entry(path: Path) -> FaqEntry:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    checked = data["checked"]
    if not isinstance(checked, date):
        checked = date.fromisoformat(str(checked))
    return FaqEntry(
        id=data["id"],
        title=data["title"],
        question=data["question"],
        alternates=tuple(data.get("alternates", ())),
        answer=data["answer"].strip(),
        detail=data.get("detail", "").strip(),
        sources=tuple(Source(**{k: str(v) for k, v in s.items()}) for s in data["sources"]),
        checked=checked,
        keywords=tuple(data.get("keywords", ())),
        related=tuple(data.get("related", ())),
        city_varies=bool(data.get("city_varies", False)),
    )


def load_entries(directory: Path = FAQ_DIR) -> list[FaqEntry]:
    return [load_entry(path) for path in sorted(directory.glob("*.toml"))]


def load_synonyms(path: Path = SYNONYMS) -> dict[str, str]:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {normalize(k): normalize(v) for k, v in data.get("synonyms", {}).items()}


@dataclass
class _Doc:
    faq_id: str
    terms: Counter[str]
    length: int


@dataclass
class FaqIndex:
    """Sentence-level BM25 over every phrasing; an entry scores as its best sentence."""

    entries: Mapping[str, FaqEntry]
    threshold: float = 0.5
    tokenizer: Tokenizer = field(default_factory=default_tokenizer)
    synonyms: Mapping[str, str] = field(default_factory=dict)
    docs: list[_Doc] = field(default_factory=list)
    idf: dict[str, float] = field(default_factory=dict)
    avg_length: float = 1.0
    max_idf: float = 1.0
    postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        entries: Iterable[FaqEntry],
        *,
        threshold: float = 0.5,
        tokenizer: Tokenizer | None = None,
        synonyms: Mapping[str, str] | None = None,
    ) -> FaqIndex:
        by_id = {entry.id: entry for entry in entries}
        index = cls(by_id, threshold, tokenizer or default_tokenizer(), dict(synonyms or {}))
        words = set(index.synonyms) | set(index.synonyms.values())
        for entry in by_id.values():
            words.update(normalize(k) for k in entry.keywords)
        index.tokenizer.add_words(words)
        for entry in by_id.values():
            keywords = [t for k in entry.keywords for t in index.terms(k)]
            for sentence in entry.phrasings():
                terms = index.terms(sentence) + keywords
                index.docs.append(_Doc(entry.id, Counter(terms), len(terms)))
        n = len(index.docs)
        df: Counter[str] = Counter()
        for doc_index, doc in enumerate(index.docs):
            df.update(doc.terms.keys())
            for term, tf in doc.terms.items():
                index.postings.setdefault(term, []).append((doc_index, tf))
        index.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        index.max_idf = max(index.idf.values(), default=1.0)
        index.avg_length = sum(d.length for d in index.docs) / max(n, 1)
        return index

    def terms(self, text: str) -> list[str]:
        return [self.synonyms.get(t, t) for t in self.tokenizer.cut(text)]

    def scores(self, query: str) -> dict[str, float]:
        """Each entry's best sentence score, as the share of the query's weight it matches."""
        terms = list(dict.fromkeys(self.terms(query)))
        if not terms:
            return {}
        weights = {t: self.idf.get(t, self.max_idf) for t in terms}
        total = sum(weights.values())
        per_doc: dict[int, float] = {}
        for term in terms:
            for doc_index, tf in self.postings.get(term, ()):
                length = self.docs[doc_index].length
                norm = tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / self.avg_length))
                per_doc[doc_index] = per_doc.get(doc_index, 0.0) + weights[term] * min(norm, 1.0)
        best: dict[str, float] = {}
        for doc_index, score in per_doc.items():
            faq_id = self.docs[doc_index].faq_id
            if score > best.get(faq_id, 0.0):
                best[faq_id] = score
        return {faq_id: s / total for faq_id, s in best.items()}

    def best_match(self, query: str) -> Match:
        ranked = sorted(self.scores(query).items(), key=lambda kv: -kv[1])
        if not ranked:
            return Match(None, 0.0, None)
        best_id, score = ranked[0]
        close = tuple(fid for fid, s in ranked[1:3] if s >= max(self.threshold, score - 0.1))
        faq_id = best_id if score >= self.threshold else None
        return Match(faq_id, round(score, 4), best_id, close)
