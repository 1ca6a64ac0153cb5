"""Keyword classification: a message -> intent, category, confidence, matched keywords."""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
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
EVIDENCE_CAP = 7.0  # problem words say "report" at most this loudly against an explicit intent
DECISIVE = 5.0  # a hand-written weight that decides an intent on its own
ABOUT_A_CASE = ("cancel", "progress", "rate", "subscribe", "unsubscribe")
CASE_NUMBER = re.compile(r"(?<!\d)(20\d{2})\s*[-－—]?\s*(\d{6})(?!\d)")
MAX_GRAM = 4
A_NOT_A = re.compile(r"([\u4e00-\u9fff])不\1")  # 收不收, 管不管: a yes-no question


@dataclass(frozen=True)
class Lexicon:
    """Weighted keywords per intent and per category, with negation and question markers."""

    intents: Mapping[str, Mapping[str, float]]
    categories: Mapping[str, Mapping[str, float]]
    negations: frozenset[str] = frozenset()
    question_markers: tuple[str, ...] = ()
    request_markers: tuple[str, ...] = ()  # words that ask for something to be done
    report_openers: frozenset[str] = frozenset()  # "我要投诉": a report that says nothing yet
    urgent: frozenset[str] = frozenset()
    names: Mapping[str, str] = field(default_factory=dict)
    bias: Mapping[str, float] = field(default_factory=dict)  # per category, from learned files
    lead: int = 0  # learned lexicons: the opening tokens of a message count double
    phrases: frozenset[str] = frozenset()  # hand-written words the tokenizer keeps whole
    stopwords: frozenset[str] = frozenset()  # never learned as keywords
    # [confidence] slope, intercept: the intent's margin read as a probability of being right
    confidence_curve: tuple[float, float] | None = None

    def confidence(self, margin: float) -> float:
        """How likely an intent with this margin over the runner-up is right: the logistic
        curve fitted on the development messages, or the margin itself without one."""
        if self.confidence_curve is None:
            return margin
        slope, intercept = self.confidence_curve
        return 1 / (1 + math.exp(-(slope * margin + intercept)))

    def words(self) -> set[str]:
        found: set[str] = set()
        for table in (*self.intents.values(), *self.categories.values()):
            found.update(table)
        return found

    def merged(self, other: Lexicon) -> Lexicon:
        """This lexicon with another's keywords added (this one's weights win)."""
        return Lexicon(
            intents=_merge_tables(self.intents, other.intents),
            categories=_merge_tables(self.categories, other.categories),
            negations=self.negations | other.negations,
            question_markers=self.question_markers or other.question_markers,
            request_markers=self.request_markers or other.request_markers,
            report_openers=self.report_openers | other.report_openers,
            urgent=self.urgent | other.urgent,
            names={**other.names, **self.names},
            bias={**other.bias, **self.bias},
            lead=self.lead or other.lead,
            phrases=self.phrases | other.phrases,
            stopwords=self.stopwords | other.stopwords,
            confidence_curve=self.confidence_curve or other.confidence_curve,
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
) -> tuple[dict[str, dict[str, float]], dict[str, str], set[str]]:
    """Tables of one kind, their names, and the hand-written words (to keep whole when cutting)."""
    tables: dict[str, dict[str, float]] = {}
    names: dict[str, str] = {}
    phrases: set[str] = set()
    for entry in data.get(kind, []) or []:  # type: ignore[attr-defined]
        key = entry["id"]
        keywords = entry.get("keywords", {})
        if isinstance(keywords, Mapping):
            table = {normalize(str(w)): float(v) for w, v in keywords.items()}
            phrases.update(table)
        else:  # a learned lexicon lists [{word, weight, ...}] with its evidence
            table = {normalize(str(k["word"])): float(k["weight"]) for k in keywords}
        tables.setdefault(key, {}).update(table)
        if "name" in entry:
            names[key] = str(entry["name"])
    return tables, names, phrases


def read_lexicon(path: Path) -> Lexicon:
    """One lexicon file: hand-written (word = weight) or learned ([{word, weight, ...}])."""
    with Path(path).open("rb") as handle:
        data = tomllib.load(handle)
    intents, intent_names, intent_phrases = _read_tables(data, "intent")
    categories, category_names, category_phrases = _read_tables(data, "category")
    negations = frozenset(normalize(w) for w in data.get("negations", []))
    bias = {e["id"]: float(e["bias"]) for e in data.get("category", []) if "bias" in e}
    markers = tuple(dict.fromkeys(normalize(w) for w in data.get("question_markers", [])))
    return Lexicon(
        intents=intents,
        categories=categories,
        negations=negations,
        question_markers=markers,
        request_markers=tuple(normalize(w) for w in data.get("request_markers", [])),
        report_openers=frozenset(normalize(w) for w in data.get("report_openers", [])),
        urgent=frozenset(data.get("urgent", [])),
        names={**intent_names, **category_names},
        bias=bias,
        lead=int(data.get("model", {}).get("lead_tokens", 0)),
        phrases=frozenset(intent_phrases | category_phrases) | negations,
        stopwords=frozenset(normalize(w) for w in data.get("stopwords", [])),
        confidence_curve=_curve(data.get("confidence")),
    )


def _curve(table: object) -> tuple[float, float] | None:
    if not isinstance(table, Mapping):
        return None
    return float(table["slope"]), float(table["intercept"])


def load_lexicon(paths: Iterable[Path] | None = None) -> Lexicon:
    """Read lexicon files; where two list the same word for the same key, the earlier one wins.

    By default the hand-written files come first, then the learned ones (lexicon/learned/).
    """
    if paths is None:
        paths = sorted(LEXICON_DIR.glob("*.toml")) + sorted(LEXICON_DIR.glob("learned/*.toml"))
    merged = Lexicon(intents={}, categories={})
    for path in paths:
        merged = merged.merged(read_lexicon(path))
    return merged


@dataclass(frozen=True)
class Classification:
    intent: str
    category: str | None
    confidence: float
    keywords: tuple[str, ...]
    case_number: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    question: bool = False  # the message is phrased as a question
    request: bool = False  # it asks for something to be done ("派人来看看")
    margin: float = 0.0  # the intent's score against the runner-up's (rules compare this)


@dataclass(frozen=True)
class Hit:
    word: str
    start: int  # token index
    end: int
    negated: bool


def _clauses(text: str, tokens: list[str]) -> list[int]:
    """For every token, the number of the clause (text between punctuation marks) it is in."""
    clauses, position, clause = [], 0, 0
    for token in tokens:
        found = text.find(token, position)
        if found >= 0:
            clause += sum(1 for ch in text[position:found] if not ch.isalnum())
            position = found + len(token)
        clauses.append(clause)
    return clauses


def find_hits(
    tokens: list[str],
    vocabulary: set[str],
    negations: frozenset[str],
    *,
    text: str = "",
    loose: frozenset[str] = frozenset(),
    loose_max: int = 0,
) -> list[Hit]:
    """Keywords found as tokens or short token phrases, longest first, never overlapping.

    A negation word up to two tokens before a keyword, in the same clause, negates it. Words in
    `loose` are also found inside tokens (jieba sometimes cuts a phrase differently).
    """
    spans: list[tuple[int, int, str]] = []
    for start in range(len(tokens)):
        for end in range(min(len(tokens), start + MAX_GRAM), start, -1):
            phrase = "".join(tokens[start:end])
            if phrase in vocabulary:
                spans.append((start, end, phrase))
    if loose:
        spans += _inside_tokens(tokens, loose, loose_max)
    spans.sort(key=lambda s: (-(len(s[2])), s[0]))
    clauses = _clauses(text, tokens) if text else [0] * len(tokens)
    taken = [False] * len(tokens)
    hits = []
    for start, end, phrase in spans:
        if any(taken[start:end]):
            continue
        for i in range(start, end):
            taken[i] = True
        negated = phrase not in negations and any(
            tokens[i] in negations and clauses[i] == clauses[start]
            for i in range(max(0, start - 2), start)
        )
        hits.append(Hit(phrase, start, end, negated))
    hits.sort(key=lambda h: h.start)
    return hits


def _inside_tokens(
    tokens: list[str], words: frozenset[str], longest: int
) -> list[tuple[int, int, str]]:
    """Words found inside one token or across two, where the token cut does not match them."""
    spans = []
    for start in range(len(tokens)):
        joined = "".join(tokens[start : start + 2])
        first = len(tokens[start])
        for offset in range(first):
            for size in range(min(longest, len(joined) - offset), 1, -1):
                word = joined[offset : offset + size]
                if word in words and not (offset == 0 and size in (first, len(joined))):
                    spans.append((start, start + (2 if offset + size > first else 1), word))
                    break
    return spans


def count_mentions(tokens: list[str], negations: frozenset[str], lead: int = 0) -> Counter[str]:
    """Tokens counted as a learned lexicon counts them: negated ones not, opening ones twice."""
    counts: Counter[str] = Counter()
    for i, token in enumerate(tokens):
        if token not in negations and any(t in negations for t in tokens[max(0, i - 2) : i]):
            continue
        counts[token] += 2 if i < lead else 1
    return counts


def saturate(count: float) -> float:
    """What repeated mentions of a keyword are worth: 1, 1.69, 2.10, ... (1 + ln n)."""
    return 1 + math.log(count) if count >= 1 else count


def softmax_top(scores: Mapping[str, float]) -> tuple[str, float]:
    """The best key and its softmax probability."""
    best = max(scores, key=lambda k: (scores[k], k))
    top = scores[best]
    return best, 1 / sum(math.exp(v - top) for v in scores.values())


def _invert(tables: Mapping[str, Mapping[str, float]]) -> dict[str, tuple[tuple[str, float], ...]]:
    index: dict[str, list[tuple[str, float]]] = {}
    for key, table in tables.items():
        for word, weight in table.items():
            index.setdefault(word, []).append((key, weight))
    return {word: tuple(pairs) for word, pairs in index.items()}


class Classifier:
    def __init__(self, lexicon: Lexicon, tokenizer: Tokenizer | None = None) -> None:
        self.lexicon = lexicon
        self.tokenizer = tokenizer or default_tokenizer()
        self.vocabulary = lexicon.words() | set(lexicon.negations)
        self.tokenizer.add_words(lexicon.phrases)
        self._intents = _invert(lexicon.intents)
        self._categories = _invert(lexicon.categories)
        words = {w for table in lexicon.categories.values() for w in table}
        self._loose = frozenset(w for w in lexicon.phrases & words if len(w) > 1)
        self._loose_max = max(map(len, self._loose), default=0)

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer.cut(normalize(text))

    def says_nothing_yet(self, text: str) -> bool:
        """Only words that announce a report ("我要投诉", "有个问题想反映"): what and where are
        still to be asked."""
        said = self.lexicon.report_openers | self.lexicon.stopwords
        words = [t for t in self.tokens(text) if any(ch.isalnum() for ch in t)]
        return bool(said) and all(word in said for word in words)

    def score(
        self, tokens: list[str], text: str = ""
    ) -> tuple[dict[str, float], dict[str, float], list[Hit]]:
        """Intent scores (a negated keyword counts -0.5) and category scores (it counts 0)."""
        hits = find_hits(
            tokens,
            self.vocabulary,
            self.lexicon.negations,
            text=text,
            loose=self._loose,
            loose_max=self._loose_max,
        )
        intent_scores: dict[str, float] = {}
        mentions: Counter[str] = Counter()
        lead = self.lexicon.lead
        for hit in hits:
            factor = -0.5 if hit.negated else 1.0
            for key, weight in self._intents.get(hit.word, ()):
                intent_scores[key] = intent_scores.get(key, 0.0) + weight * factor
            if not hit.negated:
                mentions[hit.word] += 2 if hit.start < lead else 1
        category_scores = dict(self.lexicon.bias)
        for word, count in mentions.items():
            for key, weight in self._categories.get(word, ()):
                category_scores[key] = category_scores.get(key, 0.0) + weight * saturate(count)
        return intent_scores, category_scores, hits

    def categorize(self, text: str) -> tuple[str, float]:
        """The best category and its probability (softmax over every category's score)."""
        norm = normalize(text)
        _, scores, _ = self.score(self.tokenizer.cut(norm), norm)
        return self._best_category(scores)

    def _best_category(self, scores: Mapping[str, float]) -> tuple[str, float]:
        full = dict.fromkeys(self.lexicon.categories, 0.0) | dict(scores)
        if not full or (not self.lexicon.bias and max(full.values()) <= 0):
            return "other", 0.0
        return softmax_top(full)

    def classify(self, text: str) -> Classification:
        norm = normalize(text)
        tokens = self.tokenizer.cut(norm)
        intents, categories, hits = self.score(tokens, norm)
        keywords = tuple(h.word for h in hits if not h.negated)
        number_match = CASE_NUMBER.search(norm)
        number = f"{number_match.group(1)}-{number_match.group(2)}" if number_match else None
        question = any(m in norm for m in self.lexicon.question_markers) or bool(
            A_NOT_A.search(norm)
        )
        asks = any(m in norm for m in self.lexicon.request_markers)

        if number and intents.get("cancel", 0) > max(0.0, intents.get("progress", 0.0)):
            return Classification("cancel", None, 0.95, keywords, number, intents, margin=0.95)
        if number:
            return Classification("progress", None, 0.9, keywords, number, intents, margin=0.9)

        evidence = min(
            EVIDENCE_CAP,
            max((v - self.lexicon.bias.get(k, 0.0) for k, v in categories.items()), default=0.0),
        )
        report_signal = intents.get("report", 0.0) + evidence
        if any(intents.get(k, 0.0) >= DECISIVE for k in ABOUT_A_CASE):
            report_signal /= 2  # "撤销我的报修": the problem words describe a case, not a new one
        combined = dict(intents)
        combined["report"] = report_signal
        if question:
            # A question that asks for nothing to be done is a question even when it is
            # full of problem words ("楼道灯坏了应该找物业还是找居委会？").
            combined["faq"] = combined.get("faq", 0.0) + (2.0 if asks else 3.0)
            combined["report"] = combined["report"] - (1.0 if asks else 1.5)
        if intents.get("register", 0) > 0 and parse_address(norm) is not None:
            combined["register"] = combined["register"] + 3.0
        positive = {k: v for k, v in combined.items() if v > 0 and k in INTENTS}
        if not positive:
            return Classification("other", None, 0.0, keywords, None, combined, question, asks)
        ranked = sorted(positive.items(), key=lambda kv: -kv[1])
        intent, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        margin = round(top / (top + second + 1.0), 3)
        confidence = round(self.lexicon.confidence(margin), 3)
        category = self._best_category(categories)[0] if intent == "report" else None
        return Classification(
            intent, category, confidence, keywords, None, combined, question, asks, margin
        )
