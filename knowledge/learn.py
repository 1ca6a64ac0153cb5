"""`keywords learn`: a reviewable keyword lexicon learned from labelled messages.

The model is the one the classifier scores with: a category's score is its bias plus, for every
keyword found, the keyword's weight times (1 + ln mentions); the opening words of a message count
double. The weights are fitted by L1-regularised logistic regression constrained to be
non-negative (FTRL-proximal), so every category keeps a short list of words that speak *for* it,
and softmax over the scores is a probability. Before fitting, each word is scaled by how rare it is
(idf) and how concentrated it is in one category (1 - normalised entropy of P(category | word)):
frequent or evenly spread words need much more evidence to earn a weight. Words seen in fewer than
`min_df` messages are never keywords, nor are the words of an address (3号楼, 2单元, 五层): they
say where, not what.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from knowledge.address import is_address_word
from knowledge.classify import Lexicon, count_mentions, saturate

SCALE = 10.0  # feature values around 1, where the learning rate below behaves


@dataclass(frozen=True)
class Settings:
    lead: int = 20  # the first tokens (a subject line, the opening sentence) count double
    min_df: int = 2  # document-frequency floor for a keyword
    min_in_category: int = 2  # a label keeps a keyword only if this many of its messages say it
    floor: float = 0.2  # weight of an evenly spread word relative to a concentrated one
    l1: float = 1.0  # sparsity: higher = fewer keywords
    l2: float = 0.0
    alpha: float = 0.5  # FTRL learning rate
    beta: float = 1.0
    epochs: int = 6
    seed: int = 0
    top: int = 0  # keep at most this many keywords per category (0 = every non-zero weight)


@dataclass(frozen=True)
class Keyword:
    word: str
    weight: float
    in_category: int  # messages of this category that mention it
    elsewhere: int  # messages of other categories that mention it


@dataclass(frozen=True)
class Learned:
    labels: tuple[str, ...]
    bias: dict[str, float]
    keywords: dict[str, tuple[Keyword, ...]]  # by label, heaviest first
    lead: int
    messages: int
    kind: str = "category"  # or "intent": what the labels are

    def lexicon(self) -> Lexicon:
        tables = {label: {k.word: k.weight for k in self.keywords[label]} for label in self.labels}
        if self.kind == "intent":
            return Lexicon(intents=tables, categories={}, lead=self.lead)
        return Lexicon(intents={}, categories=tables, bias=dict(self.bias), lead=self.lead)


def term_weights(
    docs: Sequence[Counter[str]], labels: Sequence[int], n_labels: int, settings: Settings
) -> dict[str, float]:
    """idf x (floor + concentration) for every word with at least `min_df` messages."""
    n = len(docs)
    prior = [0.0] * n_labels
    for y in labels:
        prior[y] += 1 / n
    df: Counter[str] = Counter()
    per_label: dict[str, list[int]] = {}
    for doc, y in zip(docs, labels, strict=True):
        for word in doc:
            df[word] += 1
            per_label.setdefault(word, [0] * n_labels)[y] += 1
    weights = {}
    log_labels = math.log(n_labels) if n_labels > 1 else 1.0
    for word, count in df.items():
        if count < settings.min_df:
            continue
        idf = math.log((1 + n) / (1 + count)) + 1
        probs = [(per_label[word][c] + prior[c]) / (count + 1) for c in range(n_labels)]
        entropy = -sum(p * math.log(p) for p in probs if p > 0)
        weights[word] = idf * (settings.floor + 1 - entropy / log_labels)
    return weights


class _Ftrl:
    """Multinomial logistic regression, weights >= 0, L1 by FTRL-proximal (McMahan et al. 2013)."""

    def __init__(self, n_features: int, n_labels: int, settings: Settings) -> None:
        self.k = n_labels
        self.s = settings
        size = n_features * n_labels
        self.z = [0.0] * size
        self.n = [0.0] * size
        self.w = [0.0] * size
        self.bz = [0.0] * n_labels
        self.bn = [0.0] * n_labels

    def _weight(self, z: float, n: float) -> float:
        s = self.s
        if z >= -s.l1:
            return 0.0
        return -(z + s.l1) / ((s.beta + math.sqrt(n)) / s.alpha + s.l2)

    def bias(self) -> list[float]:
        s = self.s
        pairs = zip(self.bz, self.bn, strict=True)
        return [-z / ((s.beta + math.sqrt(n)) / s.alpha) for z, n in pairs]

    def fit(self, rows: Sequence[list[tuple[int, float]]], labels: Sequence[int]) -> None:
        k, alpha = self.k, self.s.alpha
        z, n, w = self.z, self.n, self.w
        order = list(range(len(rows)))
        rng = random.Random(self.s.seed)
        for _ in range(self.s.epochs):
            rng.shuffle(order)
            for i in order:
                row, y = rows[i], labels[i]
                bias = self.bias()
                scores = bias[:]
                for j, value in row:
                    base = j * k
                    for c in range(k):
                        scores[c] += w[base + c] * value
                top = max(scores)
                exps = [math.exp(s - top) for s in scores]
                total = sum(exps)
                grad = [e / total for e in exps]
                grad[y] -= 1.0
                for c in range(k):
                    g = grad[c]
                    sigma = (math.sqrt(self.bn[c] + g * g) - math.sqrt(self.bn[c])) / alpha
                    self.bz[c] += g - sigma * bias[c]
                    self.bn[c] += g * g
                for j, value in row:
                    base = j * k
                    for c in range(k):
                        g = grad[c] * value
                        if -1e-4 < g < 1e-4:  # nothing to learn from a confident right answer
                            continue
                        at = base + c
                        old_n = n[at]
                        new_n = old_n + g * g
                        z[at] += g - (math.sqrt(new_n) - math.sqrt(old_n)) / alpha * w[at]
                        n[at] = new_n
                        w[at] = self._weight(z[at], new_n)


def learn(
    token_lists: Sequence[list[str]],
    labels: Sequence[str],
    *,
    negations: frozenset[str] = frozenset(),
    stopwords: frozenset[str] = frozenset(),
    settings: Settings | None = None,
    kind: str = "category",
) -> Learned:
    """Fit keyword weights per label on tokenized messages."""
    s = settings or Settings()
    names = tuple(sorted(set(labels)))
    index = {label: i for i, label in enumerate(names)}
    ys = [index[label] for label in labels]
    mentions = [count_mentions(tokens, negations, s.lead) for tokens in token_lists]
    for m in mentions:
        for word in [w for w in m if w in stopwords or not _meaningful(w) or is_address_word(w)]:
            del m[word]
    present = [Counter(dict.fromkeys(m, 1)) for m in mentions]
    scale = term_weights(present, ys, len(names), s)
    vocabulary = sorted(scale)
    feature = {word: j for j, word in enumerate(vocabulary)}
    rows = [
        [
            (feature[word], saturate(count) * scale[word] / SCALE)
            for word, count in m.items()
            if word in feature
        ]
        for m in mentions
    ]
    model = _Ftrl(len(vocabulary), len(names), s)
    model.fit(rows, ys)
    in_label: dict[str, list[int]] = {}
    for doc, y in zip(present, ys, strict=True):
        for word in doc:
            in_label.setdefault(word, [0] * len(names))[y] += 1
    keywords: dict[str, tuple[Keyword, ...]] = {}
    for c, label in enumerate(names):
        found = []
        for word, j in feature.items():
            weight = model.w[j * len(names) + c] * scale[word] / SCALE
            if weight > 0 and in_label[word][c] >= s.min_in_category:
                counts = in_label[word]
                found.append(Keyword(word, weight, counts[c], sum(counts) - counts[c]))
        found.sort(key=lambda kw: (-kw.weight, kw.word))
        keywords[label] = tuple(found[: s.top] if s.top else found)
    bias = dict(zip(names, model.bias(), strict=True))
    return Learned(names, bias, keywords, s.lead, len(labels), kind)


def _meaningful(word: str) -> bool:
    """Not punctuation, not a lone digit or letter."""
    return any(ch.isalnum() for ch in word) and not (len(word) == 1 and word.isascii())


def to_toml(learned: Learned, *, source: str, text_column: str, label_column: str) -> str:
    """The learned lexicon as TOML a person can review: heaviest keywords first."""
    q = json.dumps
    lines = [
        f"# Learned by `python -m bot keywords learn` from {source}",
        f"# ({learned.messages} messages, text column {text_column!r}, label {label_column!r}).",
        "# A category's score = bias + for every keyword found: weight x (1 + ln mentions);",
        f"# the first {learned.lead} words of a message count double. The highest score wins and",
        "# softmax over the scores is the confidence. in_category / elsewhere: how many messages",
        "# of this category / of the others mention the word (the evidence behind the weight).",
        "# Review: delete a line to drop a word; where a hand-written lexicon lists the same",
        "# word, the hand-written weight wins.",
        "",
        "[model]",
        f"lead_tokens = {learned.lead}",
        f"messages = {learned.messages}",
        f"source = {q(source, ensure_ascii=False)}",
    ]
    for label in learned.labels:
        lines += [
            "",
            f"[[{learned.kind}]]",
            f"id = {q(label, ensure_ascii=False)}",
        ]
        if learned.kind == "category":
            lines.append(f"bias = {learned.bias[label]:.4f}")
        lines += ["keywords = ["]
        for kw in learned.keywords[label]:
            lines.append(
                f"  {{ word = {q(kw.word, ensure_ascii=False)}, weight = {kw.weight:.4f}, "
                f"in_category = {kw.in_category}, elsewhere = {kw.elsewhere} }},"
            )
        lines.append("]")
    return "\n".join(lines) + "\n"
