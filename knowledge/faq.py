"""The FAQ: entries under review in faq/*.toml and an index matching questions to them."""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from knowledge.match import Matcher, Tuning
from knowledge.text import Tokenizer, default_tokenizer, normalize

HERE = Path(__file__).resolve().parent
FAQ_DIR = HERE / "faq"
SYNONYMS = HERE / "synonyms.toml"
MATCHING = HERE / "matching.toml"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")  # {office_phone}: filled from configuration
INDEX_CACHE = "faq-index.pickle"  # in the service's cache directory: see FaqIndex.build
# The code an index is built by: a cached index built by other code is built again.
BUILDERS = tuple(HERE / name for name in ("match.py", "text.py", "faq.py"))

log = logging.getLogger("knowledge.faq")


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
    near_misses: tuple[str, ...] = ()  # close questions the entry does not answer

    def phrasings(self) -> list[str]:
        return [self.title, self.question, *self.alternates]

    def told(self) -> str:
        """What the entry's answers say, without the local details filled in later."""
        return PLACEHOLDER.sub("", f"{self.answer}\n{self.detail}")


@dataclass(frozen=True)
class Match:
    faq_id: str | None  # None when nothing clears the threshold
    score: float
    best_id: str | None  # the best candidate even when below the threshold
    suggestions: tuple[str, ...] = ()  # close runners-up: "你可能还想问"
    declined_by: str | None = None  # the near miss that kept the best entry from answering


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
        near_misses=tuple(data.get("near_misses", ())),
    )


def load_entries(directory: Path = FAQ_DIR) -> list[FaqEntry]:
    return [load_entry(path) for path in sorted(directory.glob("*.toml"))]


def load_synonyms(path: Path = SYNONYMS) -> dict[str, str]:
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {normalize(k): normalize(v) for k, v in data.get("synonyms", {}).items()}


@dataclass(frozen=True)
class MatchingWords:
    """knowledge/matching.toml: filler words and the characters residents usually slip on."""

    fillers: frozenset[str] = frozenset()
    confusions: Mapping[str, str] = field(default_factory=dict)
    off_topic: frozenset[str] = frozenset()
    off_topic_patterns: tuple[str, ...] = ()
    small_talk: tuple[str, ...] = ()  # patterns of small talk with the bot: off-topic too


def load_matching(path: Path = MATCHING) -> MatchingWords:
    if not path.exists():
        return MatchingWords()
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return MatchingWords(
        frozenset(normalize(w) for w in data.get("fillers", ())),
        {normalize(k): normalize(v) for k, v in data.get("confusions", {}).items()},
        frozenset(normalize(w) for w in data.get("off_topic", ())),
        tuple(str(p) for p in data.get("off_topic_patterns", ())),
        tuple(str(p) for p in data.get("small_talk", ())),
    )


DEFAULT_THRESHOLD = 0.30  # config.toml [knowledge] faq_threshold; chosen on the dev questions
SCORES_CACHE = 1024  # recent questions: one message is matched by understanding and answering


@dataclass
class FaqIndex:
    """Every entry's phrasings, matched by how much of the question's information they cover."""

    entries: Mapping[str, FaqEntry]
    threshold: float
    matcher: Matcher
    margin: float = 0.1  # a runner-up this close to the best is offered as "你可能还想问"
    offer_share: float = 0.6  # of the threshold: an unanswered best entry this close is named
    small_talks: tuple[re.Pattern[str], ...] = ()  # matching.toml small_talk
    _scores: dict[tuple[str, bool], dict[str, float]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        entries: Iterable[FaqEntry],
        *,
        threshold: float = DEFAULT_THRESHOLD,
        tokenizer: Tokenizer | None = None,
        synonyms: Mapping[str, str] | None = None,
        matching: MatchingWords | None = None,
        tuning: Tuning | None = None,
        cache: Path | None = None,
    ) -> FaqIndex:
        """Index the entries. With `cache` (a directory the service owns), what the index
        builds is kept there and taken back on the next start when nothing it was built
        from changed: the entries, the words, the tokenizer's dictionary and this code."""
        by_id = {entry.id: entry for entry in entries}
        words = matching or MatchingWords()
        small_talks = tuple(re.compile(p) for p in words.small_talk)
        matcher = Matcher(
            tokenizer or default_tokenizer(),
            dict(synonyms or {}),
            words.fillers,
            words.confusions,
            tuning or Tuning(),
            off_topic=words.off_topic,
            off_topic_patterns=(
                *(re.compile(p) for p in words.off_topic_patterns),
                *small_talks,
            ),
        )
        vocabulary = set(matcher.synonyms) | set(matcher.synonyms.values()) | words.off_topic
        for entry in by_id.values():
            vocabulary.update(normalize(k) for k in entry.keywords)
        matcher.add_words(vocabulary)
        inputs = (
            {e.id: e.phrasings() for e in by_id.values()},
            {e.id: e.keywords for e in by_id.values()},
            {e.id: e.told() for e in by_id.values()},
            {e.id: e.near_misses for e in by_id.values() if e.near_misses},
        )
        key = _index_key(matcher, inputs) if cache is not None else ""
        built = _read_index(cache / INDEX_CACHE, key) if cache is not None else None
        if built is not None:
            matcher.restore(built)
        else:
            matcher.index(*inputs)
            if cache is not None:
                _write_index(cache / INDEX_CACHE, key, matcher.built())
        return cls(by_id, threshold, matcher, small_talks=small_talks)

    def terms(self, text: str) -> list[str]:
        return self.matcher.terms(text)

    def asks_off_topic(self, text: str) -> bool:
        """Whether the text uses a word asking what no entry answers ("牌子", "天气预报")."""
        return self.matcher.asks_off_topic(normalize(text))

    def is_small_talk(self, text: str) -> bool:
        """Whether the text is small talk with the bot ("你叫什么名字"), not a question."""
        found = normalize(text)
        return any(pattern.search(found) for pattern in self.small_talks)

    def forget(self) -> None:
        """Drop remembered questions and cuts (benchmarks time every message as a new one)."""
        self._scores.clear()
        self.matcher.forget()

    def scores(self, query: str, *, by_parts: bool = True) -> dict[str, float]:
        """The closest entries' scores: the share of the question's information they cover
        (with `by_parts`, the best entry's also in each part of a longer message)."""
        found = self._scores.get((query, by_parts))
        if found is None:
            text = normalize(query)
            if by_parts:  # from the whole message's scores, which understanding also asks for
                found = self.matcher.by_parts(text, self.scores(query, by_parts=False))
            else:
                found = self.matcher.scores(text)
            if len(self._scores) >= SCORES_CACHE:
                self._scores.clear()
            self._scores[(query, by_parts)] = found
        return dict(found)

    def offered(self, match: Match) -> str | None:
        """The entry to name as "您是不是想问" when nothing is answered: the best one, if its
        score reaches `offer_share` of the threshold."""
        close = match.score >= self.threshold * self.offer_share
        return match.best_id if match.faq_id is None and close else None

    def best_match(self, query: str, *, by_parts: bool = True) -> Match:
        ranked = sorted(self.scores(query, by_parts=by_parts).items(), key=lambda kv: -kv[1])
        if not ranked:
            return Match(None, 0.0, None)
        best_id, score = ranked[0]
        floor = max(self.threshold, score - self.margin)
        close = tuple(fid for fid, s in ranked[1:3] if s >= floor)
        faq_id = best_id if score >= self.threshold else None
        declined_by = None
        if faq_id is not None:
            text = normalize(query)
            declined_by = self.matcher.declined(text, faq_id)
            if declined_by is not None:
                # A near miss declines one entry: a close runner-up it is not nearer to answers.
                for other, other_score in ranked[1:3]:
                    if other in close and self.matcher.declined(text, other) is None:
                        rest = tuple(fid for fid in close if fid != other)
                        return Match(other, round(other_score, 4), other, rest)
                faq_id = None
        return Match(faq_id, round(score, 4), best_id, close, declined_by)


def _index_key(matcher: Matcher, inputs: tuple[Any, ...]) -> str:
    """A digest of everything an index is built from."""
    digest = hashlib.sha256()
    for path in BUILDERS:
        digest.update(path.read_bytes())
    settings = (
        matcher.tokenizer.signature(),
        sorted(matcher.synonyms.items()),
        sorted(matcher.fillers),
        sorted(matcher.confusions.items()),
        sorted(matcher.off_topic),
        [p.pattern for p in matcher.off_topic_patterns],
        matcher.tuning,
        inputs,
    )
    digest.update(repr(settings).encode("utf-8"))
    return digest.hexdigest()


def _read_index(path: Path, key: str) -> dict[str, object] | None:
    """The kept index built from the same inputs, or None (none kept, other inputs, unreadable)."""
    try:
        with path.open("rb") as handle:
            # The key comes first: an index of other inputs is not read at all. Only the
            # service writes its cache directory.
            if pickle.load(handle) != key:
                return None
            built = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception as exc:  # a torn or foreign file: build again and replace it
        log.warning("FAQ index cache %s unreadable (%s): building the index", path, exc)
        return None
    return built if isinstance(built, dict) else None


def _write_index(path: Path, key: str, built: dict[str, object]) -> None:
    """Keep the index for the next start; a failure only costs that start the time to build."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".faq-index-")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(key, handle, pickle.HIGHEST_PROTOCOL)
                pickle.dump(built, handle, pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)  # whole or not at all, for a reader in another process
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("FAQ index cache %s not written: %s", path, exc)
