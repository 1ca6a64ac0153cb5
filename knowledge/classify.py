"""Keyword classification: a message -> intent, category, confidence, matched keywords."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.address import parse_address
from knowledge.text import Tokenizer, default_tokenizer, normalize

HERE = Path(__file__).resolve().parent
LEXICON_DIR = HERE / "lexicon"

INTENTS = (
    "faq",
    "report",
    "progress",
    "rate",
    "greeting",
    "thanks",
    "human",
    "subscribe",
    "unsubscribe",
    "register",
    "cancel",
    "other",
)
CATEGORIES = (
    "environment",
    "repair",
    "noise",
    "neighbor",
    "parking",
    "security",
    "fire",
    "facilities",
    "construction",
    "pets",
    "elderly",
    "assistance",
    "other",
)
CASE_NUMBER = re.compile(r"(?<!\d)(20\d{2})\s*[-－—]?\s*(\d{6})(?!\d)")
MAX_GRAM = 4


@dataclass(frozen=True)
class Lexicon:
    """Weighted keywords per intent and per category, with negation and question markers."""

    intents: Mapping[str, Mapping[str, float]]
    categories: Mapping[str, Mapping[str, float]]
    negations: frozenset[str] = frozenset()
    question_markers: tuple[str, ...] = ()
    urgent: frozenset[str] = frozenset()
    names: Mapping[str, str] = field(default_factory=dict)

    def words(self) -> set[str]:
        found: set[str] = set()
        for table in (*self.intents.values(), *self.categories.values()):
            found.update(table)
        return found

    def merged(self, other: Lexicon) -> Lexicon:
        """This lexicon with another's keywords added (hand-written weights win)."""
        return Lexicon(
            intents=_merge_tables(self.intents, other.intents),
            categories=_merge_tables(self.categories, other.categories),
            negations=self.negations | other.negations,
            question_markers=self.question_markers or other.question_markers,
            urgent=self.urgent | other.urgent,
            names={**other.names, **self.names},
        )


def _merge_tables(
    mine: Mapping[str, Mapping[str, float]], theirs: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    merged = {key: dict(value) for key, value in theirs.items()}
    for key, table in mine.items():
        merged.setdefault(key, {}).update(table)
    return merged


def _read_tables(
    data: Mapping[str, object], kind: str
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    tables: dict[str, dict[str, float]] = {}
    names: dict[str, str] = {}
    for entry in data.get(kind, []) or []:  # type: ignore[attr-defined]
        key = entry["id"]
        keywords = entry.get("keywords", {})
        if isinstance(keywords, Mapping):
            table = {normalize(str(w)): float(v) for w, v in keywords.items()}
        else:  # a learned lexicon lists [{word, weight, ...}] with its evidence
            table = {normalize(str(k["word"])): float(k["weight"]) for k in keywords}
        tables.setdefault(key, {}).update(table)
        if "name" in entry:
            names[key] = str(entry["name"])
    return tables, names


def load_lexicon(paths: Iterable[Path] | None = None) -> Lexicon:
    """Read lexicon TOML files; later files add to earlier ones."""
    if paths is None:
        paths = sorted(LEXICON_DIR.glob("*.toml")) + sorted(LEXICON_DIR.glob("learned/*.toml"))
    intents: dict[str, dict[str, float]] = {}
    categories: dict[str, dict[str, float]] = {}
    negations: set[str] = set()
    markers: list[str] = []
    urgent: set[str] = set()
    names: dict[str, str] = {}
    for path in paths:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
        for kind, target in (("intent", intents), ("category", categories)):
            tables, found_names = _read_tables(data, kind)
            for key, table in tables.items():
                target.setdefault(key, {}).update(table)
            names.update(found_names)
        negations.update(normalize(w) for w in data.get("negations", []))
        markers.extend(normalize(w) for w in data.get("question_markers", []))
        urgent.update(data.get("urgent", []))
    return Lexicon(
        intents=intents,
        categories=categories,
        negations=frozenset(negations),
        question_markers=tuple(dict.fromkeys(markers)),
        urgent=frozenset(urgent),
        names=names,
    )


@dataclass(frozen=True)
class Classification:
    intent: str
    category: str | None
    confidence: float
    keywords: tuple[str, ...]
    case_number: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    word: str
    start: int  # token index
    end: int
    negated: bool


def find_hits(tokens: list[str], vocabulary: set[str], negations: frozenset[str]) -> list[Hit]:
    """Keywords found as tokens or short token phrases, longest first, never overlapping."""
    spans: list[tuple[int, int, str]] = []
    for start in range(len(tokens)):
        for end in range(min(len(tokens), start + MAX_GRAM), start, -1):
            phrase = "".join(tokens[start:end])
            if phrase in vocabulary:
                spans.append((start, end, phrase))
    spans.sort(key=lambda s: (-(len(s[2])), s[0]))
    taken = [False] * len(tokens)
    hits = []
    for start, end, phrase in spans:
        if any(taken[start:end]):
            continue
        for i in range(start, end):
            taken[i] = True
        before = tokens[max(0, start - 2) : start]
        negated = any(t in negations for t in before) and phrase not in negations
        hits.append(Hit(phrase, start, end, negated))
    hits.sort(key=lambda h: h.start)
    return hits


class Classifier:
    def __init__(self, lexicon: Lexicon, tokenizer: Tokenizer | None = None) -> None:
        self.lexicon = lexicon
        self.tokenizer = tokenizer or default_tokenizer()
        self.vocabulary = lexicon.words() | set(lexicon.negations)
        self.tokenizer.add_words(self.vocabulary)

    def score(self, tokens: list[str]) -> tuple[dict[str, float], dict[str, float], list[Hit]]:
        hits = find_hits(tokens, self.vocabulary, self.lexicon.negations)
        intent_scores: dict[str, float] = {}
        category_scores: dict[str, float] = {}
        for hit in hits:
            factor = -0.5 if hit.negated else 1.0
            for scores, tables in (
                (intent_scores, self.lexicon.intents),
                (category_scores, self.lexicon.categories),
            ):
                for key, table in tables.items():
                    weight = table.get(hit.word)
                    if weight:
                        scores[key] = scores.get(key, 0.0) + weight * factor
        return intent_scores, category_scores, hits

    def classify(self, text: str) -> Classification:
        norm = normalize(text)
        tokens = self.tokenizer.cut(norm)
        intents, categories, hits = self.score(tokens)
        keywords = tuple(h.word for h in hits if not h.negated)
        number_match = CASE_NUMBER.search(norm)
        number = f"{number_match.group(1)}-{number_match.group(2)}" if number_match else None
        question = any(m in norm for m in self.lexicon.question_markers)

        if number and intents.get("cancel", 0) > 0:
            return Classification("cancel", None, 0.95, keywords, number, intents)
        if number:
            return Classification("progress", None, 0.9, keywords, number, intents)

        report_signal = intents.get("report", 0.0) + max(categories.values(), default=0.0)
        combined = dict(intents)
        combined["report"] = report_signal
        if question:
            combined["faq"] = combined.get("faq", 0.0) + 2.0
            combined["report"] = combined["report"] - 1.0
        if intents.get("register", 0) > 0 and parse_address(norm) is not None:
            combined["register"] = combined["register"] + 3.0
        positive = {k: v for k, v in combined.items() if v > 0 and k in INTENTS}
        if not positive:
            return Classification("other", None, 0.0, keywords, None, combined)
        ranked = sorted(positive.items(), key=lambda kv: -kv[1])
        intent, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        confidence = round(top / (top + second + 1.0), 3)
        category = None
        if intent == "report":
            best = max(categories.items(), key=lambda kv: kv[1], default=("other", 0.0))
            category = best[0] if best[1] > 0 else "other"
        return Classification(intent, category, confidence, keywords, None, combined)
