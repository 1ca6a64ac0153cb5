"""Question matching: how much of a question's information one group of phrasings covers.

A query word weighs what it tells: its surprise in general Chinese (jieba's word frequencies)
above a floor, times how few groups in the index use it. Filler words weigh nothing. A group
scores the share of the query's weight that its phrasings contain, half over all of the group's
phrasings and half over its single best one; a small constant in the denominator keeps short,
uninformative questions from scoring high. Words the index does not know are corrected when a
common slip (a confusable character) turns them into one it does. Off-topic words (which
brand, where to buy) are never indexed and weigh more than any other, so a question on a known
topic that asks what no group answers stays below the threshold.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge.text import Tokenizer, default_tokenizer, sound

HEARD = 20_000  # pieces remembered with the word they are a slip of (or none)
NOT_HEARD = "\0"  # no word is this
WEIGHED = 256  # questions remembered with their words' weights: scoring and declining share them
OFF_TOPIC_PHRASE = "\0off-topic"  # no word is this: an off-topic pattern in the question
CLAUSE_BREAK = re.compile(r"[，,。.？?！!；;：:、\s]+")


@dataclass(frozen=True)
class Tuning:
    floor: float = 3.0  # information (nats) below which a word says nothing about the topic
    smoothing: float = 4.0  # added to the query's weight: short vague questions score lower
    sentence_share: float = 0.4  # weight of the best single phrasing against the whole group
    shortlist: int = 8  # groups whose single phrasings are scored
    unknown: float = 1.0  # weight of a word no phrasing uses, against one that only one group uses
    ceiling: float = 12.0  # information above this (rare words, codes) counts as this
    inside: float = 0.5  # centrality of a word a group only has inside longer words
    part: float = 1.0  # what the known words inside a known long word count for
    centrality: float = 0.5  # how much a word counts less when few of a group's phrasings use it
    full_share: float = 0.05  # phrasings share from which a word counts fully for the whole group
    clause: int = 3  # a part of a longer message between punctuation, this long, is scored alone
    clauses: int = 4  # at most this many parts are scored (the longest)
    note: float = 0.035  # phrasings share a word only a group's notes (its answer) use counts as
    off_topic: float = 6.0  # what an off-topic word weighs against the most telling word
    decline: float = 1.0  # a near miss covering more than this times the best phrasing declines


# What `Matcher.index` builds from the phrasings: everything else is configuration or memory.
BUILT = (
    "groups", "sentences", "postings", "slips", "sounds", "_spread", "_keys", "_in_sentences",
    "_arrays", "_counts", "_long_slips", "near_misses", "_near",
)  # fmt: skip


@dataclass
class Matcher:
    """An index of groups (FAQ entries) of phrasings, scored by weighted coverage of the query."""

    tokenizer: Tokenizer = field(default_factory=default_tokenizer)
    synonyms: Mapping[str, str] = field(default_factory=dict)
    fillers: frozenset[str] = frozenset()
    confusions: Mapping[str, str] = field(default_factory=dict)  # character → its usual slips
    tuning: Tuning = field(default_factory=Tuning)
    off_topic: frozenset[str] = frozenset()  # words asking what no group answers ("牌子")
    off_topic_patterns: tuple[re.Pattern[str], ...] = ()  # the same, where no word says it
    groups: dict[str, frozenset[str]] = field(default_factory=dict)
    sentences: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    postings: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # → (group, share)
    slips: dict[str, str] = field(default_factory=dict)  # misspelt word → indexed word
    sounds: dict[str, str] = field(default_factory=dict)  # toneless pinyin → the one word
    _spread: dict[str, float] = field(default_factory=dict)
    _keys: list[str] = field(default_factory=list)  # group number → group key
    _in_sentences: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    # word → (group numbers, what it counts for each group's coverage, and for its rank)
    _arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    # group → word → what the word counts for the group's coverage (share / full_share, at most 1)
    _counts: dict[str, dict[str, float]] = field(default_factory=dict)
    _long_slips: dict[str, list[str]] = field(default_factory=dict)  # 3+ characters, by start
    _heard: dict[str, str | None] = field(default_factory=dict)  # piece → the word it is a slip of
    _weighed: dict[str, dict[str, float]] = field(default_factory=dict)  # text → query(text)
    _splits: dict[str, list[tuple[int, list[str]]]] = field(default_factory=dict)  # → _split
    near_misses: list[tuple[str, str]] = field(default_factory=list)  # (group, text) not answered
    _near: dict[str, np.ndarray] = field(default_factory=dict)  # word → near-miss numbers

    def built(self) -> dict[str, object]:
        """What `index` built, to be kept and given to `restore` (the index cache)."""
        return {name: getattr(self, name) for name in BUILT}

    def restore(self, built: Mapping[str, object]) -> None:
        """Take what `index` built for the same inputs instead of building it again."""
        if set(built) != set(BUILT):
            raise ValueError("not an index of this version")
        for name in BUILT:
            setattr(self, name, built[name])
        self._forget_reads()

    def forget(self) -> None:
        """Drop remembered cuts, slips and weights (benchmarks time every message as new)."""
        self._forget_reads()
        self.tokenizer.forget()

    def _forget_reads(self) -> None:
        """Drop what was remembered of texts read: after the slips change, they read anew."""
        self._heard = {}
        self._weighed = {}
        self._splits = {}

    def add_words(self, words: Iterable[str]) -> None:
        self.tokenizer.add_words(words)

    def terms(self, text: str) -> list[str]:
        """Words of a text with synonyms and slips replaced by the canonical word, and the
        known words inside long words ("居民医保" also gives "医保") so that compounds match."""
        return [term for term, _ in self._expand(self._words(text))]

    def asks_off_topic(self, text: str) -> bool:
        """Whether the text uses a word asking what no group answers ("牌子", "天气预报").
        Off-topic words are dictionary words, cut whole: the (remembered) cut is enough."""
        if any(pattern.search(text) for pattern in self.off_topic_patterns):
            return True
        return bool(self.off_topic) and not self.off_topic.isdisjoint(self.tokenizer.cut(text))

    def _words(self, text: str) -> list[str]:
        return [word for _, words in self._split(text) for word in words]

    def _split(self, text: str) -> list[tuple[int, list[str]]]:
        """The parts of a text between punctuation, in order: each one's length and its words
        (read: synonyms and slips replaced), from the text's own cut (jieba cuts between
        punctuation marks anyway). A slip is read within its part, never across a comma.
        Remembered: a message's words and its parts are asked for one after the other."""
        found = self._splits.get(text)
        if found is not None:
            return found
        mended = self._mend(text) if self._long_slips else text
        breaks = list(CLAUSE_BREAK.finditer(mended))
        starts = [0] + [m.end() for m in breaks]
        ends = [m.start() for m in breaks] + [len(mended)]
        pieces: list[list[str]] = [[] for _ in starts]
        position, part = 0, 0
        for token in self.tokenizer.cut(mended):
            at = mended.find(token, position)
            if at >= 0:  # not found only when the cut normalized the text (index phrasings)
                position = at + len(token)
                part = bisect.bisect_right(starts, at) - 1
            pieces[part].append(token)
        found = [
            (end - start, self._read(words))
            for start, end, words in zip(starts, ends, pieces, strict=True)
        ]
        if len(self._splits) >= WEIGHED:
            self._splits.clear()
        self._splits[text] = found
        return found

    def _read(self, tokens: list[str]) -> list[str]:
        """Cut pieces with synonyms and slips replaced by the words they stand for."""
        tokens = [self.synonyms.get(t, t) for t in tokens]
        return self._correct(tokens) if self.slips or self.sounds else tokens

    def _expand(self, tokens: list[str], *, asked: bool = False) -> list[tuple[str, float]]:
        """Each word with what it counts for, and the known words inside long words: the parts
        of a word the index knows count `part` (the whole says it). Indexing, every part is
        kept, so that compounds match ("居民医保" gives "医保"). In a question (`asked`), only
        the parts the index uses: a long word it does not know weighs as itself, and the
        pieces that only happen to be words ("头子" of "老头子", "动车" of "电动车") weigh
        nothing."""
        out: list[tuple[str, float]] = []
        for token in tokens:
            inner = self._inner(token) if len(token) > 2 else []
            indexed = token in self.postings
            if not self._framed(token):
                out.append((token, 1.0))
            share = self.tuning.part if indexed else 1.0
            out.extend(
                (part, share)
                for part in inner
                if not self._framed(part) and (not asked or part in self.postings)
            )
        return out

    def _framed(self, token: str) -> bool:
        """A question frame around a word ("怎么办理", "要什么"): its parts carry the meaning."""
        return token in self.fillers or any(
            token[:size] in self.fillers or token[-size:] in self.fillers
            for size in range(2, len(token))
        )

    def _inner(self, token: str) -> list[str]:
        found = []
        for size in (2, 3):
            for i in range(len(token) - size + 1):
                part = token[i : i + size]
                if part != token and self.tokenizer.known(part):
                    found.append(self.synonyms.get(part, part))
        return found

    def index(
        self,
        groups: Mapping[str, Sequence[str]],
        extra: Mapping[str, Sequence[str]],
        notes: Mapping[str, str] | None = None,
        near_misses: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Index each group's phrasings; `extra` words (keywords) count as in every phrasing,
        and the words of a group's `notes` (an FAQ answer) that no phrasing uses count as
        used by a `note` share of its phrasings, for the whole group only. `near_misses` are
        questions close to a group that no group answers ("驾驶证丢了怎么补"): they weigh no
        word and rank nothing, and only decline an answer (`declined`)."""
        self._forget_reads()  # texts are read with the slips known so far: none yet
        said: dict[str, list[frozenset[str]]] = {}  # the words as written, no parts
        for key, texts in groups.items():
            bonus = frozenset(t for word in extra.get(key, ()) for t in self.terms(word))
            whole = frozenset(t for word in extra.get(key, ()) for t in self._words(word))
            phrasings = [frozenset(self.terms(text)) - self.off_topic | bonus for text in texts]
            said[key] = [frozenset(self._words(text)) - self.off_topic | whole for text in texts]
            self.sentences[key] = phrasings
            self.groups[key] = frozenset().union(bonus, *phrasings)
        for key, words in self.groups.items():
            phrasings, written = self.sentences[key], said[key]
            for word in sorted(words):
                # How central the word is to the group, for ranking: a word only found inside
                # longer words ("居住证" in "居住证明") counts half.
                share = sum(word in p for p in written) / len(written) or (
                    self.tuning.inside * sum(word in p for p in phrasings) / len(phrasings)
                )
                self.postings.setdefault(word, []).append((key, share))
        # Slips are read as words residents ask with, and only as words a dictionary knows: a
        # piece jieba made up from an odd phrasing ("我该", "能领") is no word a resident
        # misspells, and would swallow common pieces that sound or look like it.
        vocabulary = [word for word in sorted(self.postings) if self.tokenizer.known(word)]
        for key, text in (notes or {}).items():
            if key not in self.groups or self.tuning.note <= 0.0:
                continue
            told = frozenset(self.terms(text)) - self.groups[key] - self.fillers - self.off_topic
            for word in sorted(told):
                self.postings.setdefault(word, []).append((key, self.tuning.note))
            self.groups[key] |= told
        self._keys = list(self.groups)
        for key, phrasings in self.sentences.items():
            where: dict[str, list[int]] = {}
            for i, phrasing in enumerate(phrasings):
                for word in phrasing:
                    where.setdefault(word, []).append(i)
            self._in_sentences[key] = {w: tuple(found) for w, found in where.items()}
        full, central = self.tuning.full_share, self.tuning.centrality
        for word, pairs in self.postings.items():
            for key, share in pairs:
                counts = min(1.0, share / full) if full > 0.0 else 1.0
                self._counts.setdefault(key, {})[word] = counts
        number = {key: i for i, key in enumerate(self._keys)}
        self._arrays = {}
        for word, pairs in self.postings.items():
            self._arrays[word] = (
                np.fromiter((number[k] for k, _ in pairs), dtype=np.int32, count=len(pairs)),
                np.fromiter((self._counts[k][word] for k, _ in pairs), np.float64, len(pairs)),
                np.fromiter((1 - central + central * s for _, s in pairs), np.float64, len(pairs)),
            )
        # How few groups use a word, counting each by how central the word is to it against the
        # group it is most central to: 低保, said by every 低保 phrasing and by one phrasing of
        # six other entries, is nearly as telling as a word only one group uses.
        n = len(self.groups)
        top = math.log((n + 1) / 0.5)
        self._spread = {}
        for word, pairs in self.postings.items():
            most = max(share for _, share in pairs)
            used = sum(share for _, share in pairs) / most
            self._spread[word] = math.log((n + 1) / (used + 0.5)) / top
        self.slips = self._slip_table(vocabulary)
        self._long_slips = {}
        for slip in sorted((w for w in self.slips if len(w) >= 3), key=len, reverse=True):
            self._long_slips.setdefault(slip[:2], []).append(slip)
        self._forget_reads()  # the keywords are read again with the slips
        named = {t for words in extra.values() for word in words for t in self._words(word)}
        self.sounds = self._sound_table(vocabulary, named | set(self.synonyms.values()))
        self._forget_reads()
        first: dict[str, str] = {}  # a near miss listed twice is one (the first group's)
        for key, texts in (near_misses or {}).items():
            for text in texts:
                first.setdefault(text, key)
        self.near_misses = [(key, text) for text, key in first.items()]
        where_near: dict[str, list[int]] = {}
        for i, (_, text) in enumerate(self.near_misses):
            for word in frozenset(self.terms(text)):
                where_near.setdefault(word, []).append(i)
        self._near = {w: np.array(found, dtype=np.int32) for w, found in where_near.items()}

    def declined(self, text: str, key: str) -> str | None:
        """The near miss that declines answering `text` with group `key`, if one does: it
        covers more of the question's information than the group's best phrasing does
        ("驾驶证丢了怎么补" is nearer "驾驶证丢了怎么补办" than "身份证丢了怎么补办")."""
        if not self._near or key not in self.sentences:
            return None
        weights = self.query(text)
        hits = [(t, w) for t, w in weights.items() if w > 0.0]
        shared = [(found, w) for t, w in hits if (found := self._near.get(t)) is not None]
        if not shared:
            return None
        covered = np.bincount(  # each near miss's covered weight, in one pass
            np.concatenate([found for found, _ in shared]),
            weights=np.repeat([w for _, w in shared], [len(found) for found, _ in shared]),
            minlength=len(self.near_misses),
        )
        nearest = int(np.argmax(covered))
        near = float(covered[nearest])
        if near <= self.tuning.decline * self._best_sentence(key, hits):
            return None
        return self.near_misses[nearest][1]

    def weight(self, term: str) -> float:
        """What a query word tells about the topic: 0 for fillers and very common words."""
        if term in self.fillers:
            return 0.0
        if term in self.off_topic:
            return (self.tuning.ceiling - self.tuning.floor) * self.tuning.off_topic
        info = self.tokenizer.information(term)
        spread = self._spread.get(term, self.tuning.unknown)
        return max(0.0, min(info, self.tuning.ceiling) - self.tuning.floor) * spread

    def query(self, text: str) -> dict[str, float]:
        """Distinct query words and their weights (a long word its parts stand for weighs 0);
        remembered, and shared: not to be changed."""
        found = self._weighed.get(text)
        if found is None:
            found = self._weigh(self._words(text))
            if any(pattern.search(text) for pattern in self.off_topic_patterns):
                # what no group answers, asked in a phrase: it weighs as an off-topic word
                found[OFF_TOPIC_PHRASE] = (self.tuning.ceiling - self.tuning.floor) * (
                    self.tuning.off_topic
                )
            if len(self._weighed) >= WEIGHED:
                self._weighed.clear()
            self._weighed[text] = found
        return found

    def _weigh(self, words: list[str]) -> dict[str, float]:
        weights: dict[str, float] = {}
        for term, counts in self._expand(words, asked=True):
            weights[term] = max(weights.get(term, 0.0), counts * self.weight(term))
        return weights

    def by_parts(self, text: str, whole: Mapping[str, float]) -> dict[str, float]:
        """`whole` (the message's scores) with the best group's raised to its best part's.

        A message of several parts ("楼上漏水把我家墙泡了，谁来赔") is also scored part by
        part for the best group, which keeps its best score: the story told before a question
        should not hide the question. The whole message alone decides the order."""
        result = dict(whole)
        if self.asks_off_topic(text):
            return result  # a part must not hide what the message asks that nobody answers
        parts = self._parts(text)
        if result and len(parts) > 1:
            top = max(result, key=lambda k: result[k])
            for words in parts:
                result[top] = max(result[top], self._group_coverage(top, self._weigh(words)))
        return result

    def _group_coverage(self, key: str, weights: Mapping[str, float]) -> float:
        """One group's score for weighted words, as `scores` computes it, without the ranking."""
        total = sum(weights.values()) + self.tuning.smoothing
        counts = self._counts[key]
        whole = sum(w * counts[t] for t, w in weights.items() if w > 0.0 and t in counts)
        best = self._best_sentence(key, [(t, w) for t, w in weights.items() if w > 0.0])
        return self._blend(whole, best, total)

    def _blend(self, whole: float, best: float, total: float) -> float:
        """The score: the weight the group covers, mixed with its best single phrasing's."""
        mix = self.tuning.sentence_share
        return ((1 - mix) * whole + mix * best) / total

    def _parts(self, text: str) -> list[list[str]]:
        """The words of the longest parts of a message (between punctuation), at least `clause`
        characters each, at most `clauses` of them."""
        split = self._split(text)
        longest = sorted(
            (i for i, (size, _) in enumerate(split) if size >= self.tuning.clause),
            key=lambda i: -split[i][0],
        )[: self.tuning.clauses]
        return [split[i][1] for i in longest]

    def scores(self, text: str, *, only: Iterable[str] | None = None) -> dict[str, float]:
        """The shortlisted groups' scores in [0, 1): the share of the query's weight covered."""
        weights = self.query(text)
        total = sum(weights.values()) + self.tuning.smoothing
        # All the query's postings are summed in one pass per figure (with 10,000 entries a
        # common word has thousands), in the query's word order as a word-by-word sum would.
        found_postings = [
            (posting, w)
            for term, w in weights.items()
            if w > 0.0 and (posting := self._arrays.get(term)) is not None
        ]
        n_groups = len(self._keys)
        whole: np.ndarray
        rank: np.ndarray
        if found_postings:
            groups = np.concatenate([posting[0] for posting, _ in found_postings])
            each = np.repeat(
                [w for _, w in found_postings], [len(posting[0]) for posting, _ in found_postings]
            )
            counts = np.concatenate([posting[1] for posting, _ in found_postings])
            ranks = np.concatenate([posting[2] for posting, _ in found_postings])
            whole = np.bincount(groups, weights=each * counts, minlength=n_groups)
            rank = np.bincount(groups, weights=each * ranks, minlength=n_groups)
        else:
            whole = np.zeros(n_groups)
            rank = np.zeros(n_groups)
        if only is not None:
            wanted = set(only)
            keep = np.zeros(len(self._keys), dtype=bool)
            keep[[i for i, key in enumerate(self._keys) if key in wanted]] = True
            rank[~keep] = 0.0
        found = np.flatnonzero(rank)
        size = self.tuning.shortlist
        if len(found) > size:
            found = found[np.argpartition(-rank[found], size - 1)[:size]]
        found = found[np.argsort(-rank[found], kind="stable")]
        shortlist = [self._keys[i] for i in found]
        whole_of = {self._keys[i]: float(whole[i]) for i in found}
        hits = [(t, w) for t, w in weights.items() if w > 0.0]
        result: dict[str, float] = {}
        top = 1.0
        for key in shortlist:
            best = self._best_sentence(key, hits)
            # The ranking decides the order; the coverage is the confidence, kept in that order.
            top = min(top, self._blend(whole_of[key], best, total))
            result[key] = top
        return result

    def _best_sentence(self, key: str, hits: list[tuple[str, float]]) -> float:
        """The query weight the group's best single phrasing covers."""
        where = self._in_sentences[key]
        covered = [0.0] * len(self.sentences[key])
        for term, w in hits:
            for i in where.get(term, ()):
                covered[i] += w
        return max(covered, default=0.0)

    def _slip_table(self, vocabulary: Sequence[str]) -> dict[str, str]:
        """Each indexed word with one character swapped for a usual slip, when that is no word."""
        table: dict[str, str] = {}
        spellings = [(w, w) for w in vocabulary]
        spellings += [(k, v) for k, v in self.synonyms.items() if v in self.postings]
        for written, word in spellings:
            if len(written) < 2:
                continue
            for i, char in enumerate(written):
                for slip in self.confusions.get(char, ""):
                    wrong = written[:i] + slip + written[i + 1 :]
                    if wrong not in self.postings and not self.tokenizer.known(wrong):
                        table.setdefault(wrong, word)
        return table

    def _sound_table(self, vocabulary: Sequence[str], named: set[str]) -> dict[str, str]:
        """Each indexed word of two or more characters by its sound, when no other sounds so,
        or when it is the only one of them that a keyword or synonym names (信访, not 新房)."""
        words: dict[str, set[str]] = {}
        spellings = [(w, w) for w in vocabulary]
        spellings += [(k, v) for k, v in self.synonyms.items() if v in self.postings]
        for written, word in spellings:
            key = sound(written) if len(written) >= 2 else ""
            if key:
                words.setdefault(key, set()).add(word)
        table = {}
        for key, found in words.items():
            chosen = found if len(found) == 1 else found & named
            if len(chosen) == 1:
                table[key] = next(iter(chosen))
        return table

    def _slip_of(self, piece: str) -> str | None:
        """The word a piece is a slip of, if any; remembered (a message's parts repeat it)."""
        heard = self._heard.get(piece, NOT_HEARD)  # one lookup: another thread may clear it
        if heard is not NOT_HEARD:
            return heard
        word = self.slips.get(piece) or self._sounds_like(piece)
        if len(self._heard) >= HEARD:
            self._heard.clear()
        self._heard[piece] = word
        return word

    def _sounds_like(self, piece: str) -> str | None:
        """The indexed word a slip sounds like: a piece no dictionary knows, read aloud."""
        if (
            len(piece) < 2
            or piece in self.postings
            or piece in self.fillers
            or self.tokenizer.known(piece)
        ):
            return None
        key = sound(piece)
        return self.sounds.get(key) if key else None

    def _mend(self, text: str) -> str:
        """Long slips ("残疾正") put right in the text itself: jieba may cut them apart
        ("残疾", "正旧"), and a slip of three or more characters is no word of its own."""
        out: list[str] = []
        i = 0
        while i < len(text):
            for slip in self._long_slips.get(text[i : i + 2], ()):
                if text.startswith(slip, i):
                    out.append(self.slips[slip])
                    i += len(slip)
                    break
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    def _correct(self, tokens: list[str]) -> list[str]:
        """Replace a misspelt word, or two or three pieces jieba cut it into, by the real word:
        a listed slip, or a piece that sounds like one indexed word ("信仿" → 信访)."""
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for width in (3, 2, 1):
                if i + width > len(tokens):
                    continue
                if width > 1 and any(
                    len(t) > 2 or t in self.fillers for t in tokens[i : i + width]
                ):
                    continue  # jieba cuts a slip into short pieces, none a filler ("楼谁")
                piece = "".join(tokens[i : i + width])
                word = self._slip_of(piece)
                if word is not None:
                    out.append(word)
                    i += width
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out
