"""Normalize and tokenize Chinese text: the only importer of jieba."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import re
import threading
import unicodedata
import warnings
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

import jieba
import zhconv

HERE = Path(__file__).resolve().parent
USERDICT = HERE / "userdict.txt"
SPACES = re.compile(r"\s+")
# Zero-width and other invisible characters residents paste in from other apps.
INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

jieba.setLogLevel(logging.WARNING)


@lru_cache(maxsize=1)
def _load_zhconv() -> None:
    # zhconv reads its dictionary without closing the file; load it once, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        zhconv.loaddict()


HAN = re.compile(r"^[\u4e00-\u9fff]+$")


def sound(word: str) -> str:
    """The toneless pinyin of a word of Chinese characters ("底保" and "低保": "di bao"), the
    way a pinyin keyboard sees it; "" for anything else."""
    if not HAN.match(word):
        return ""
    return " ".join(map(_syllable, word))


@cache  # bounded by the characters there are
def _syllable(char: str) -> str:
    # pypinyin's phrase dictionary costs ~45 MiB and only tells heteronyms apart in phrases; a
    # slip and its word are read character by character alike without it.
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
    from pypinyin import lazy_pinyin

    return lazy_pinyin(char)[0]


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Half-width, simplified, lower-case Latin, single spaces, trimmed."""
    _load_zhconv()
    text = unicodedata.normalize("NFKC", text).translate(INVISIBLE)
    text = zhconv.convert(text, "zh-cn")
    return SPACES.sub(" ", text).strip().lower()


CUT_CACHE = 2048  # recent texts and their tokens


class Tokenizer:
    """A jieba tokenizer with the community user dictionary and any lexicon words added."""

    def __init__(self, userdict: Path | None = USERDICT) -> None:
        self._jieba = jieba.Tokenizer()
        self._lock = threading.Lock()
        self._ready = False
        self._userdict = userdict
        self._extra: set[str] = set()
        self._cache: dict[str, tuple[str, ...]] = {}  # classifier and FAQ cut the same text
        # What jieba's own dictionary said of the words we add: the frequency we give them only
        # keeps them whole when cutting, it says nothing about how rare they are.
        self._dictionary: dict[str, int] = {}

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self._jieba.initialize()
            if self._userdict is not None and self._userdict.exists():
                raw = self._userdict.read_bytes()
                for line in raw.decode("utf-8").splitlines():
                    word = line.split(" ", 1)[0].strip()
                    if word:
                        self._dictionary.setdefault(word, self._jieba.FREQ.get(word, 0))
                self._jieba.load_userdict(io.BytesIO(raw))
            self._ready = True

    def add_words(self, words: Iterable[str]) -> None:
        """Keep these words whole (lexicon keywords, FAQ keywords)."""
        self._ensure()
        for word in words:
            if len(word) > 1 and " " not in word and word not in self._extra:
                self._dictionary.setdefault(word, self._jieba.FREQ.get(word, 0))
                self._jieba.add_word(word, freq=20000)
                self._extra.add(word)
                self._cache.clear()

    def signature(self) -> str:
        """What decides how texts are cut: jieba's version, the user dictionary, the words
        added."""
        self._ensure()
        digest = hashlib.sha256(jieba.__version__.encode("ascii"))
        if self._userdict is not None and self._userdict.exists():
            digest.update(self._userdict.read_bytes())
        digest.update("\n".join(sorted(self._extra)).encode("utf-8"))
        return digest.hexdigest()

    def forget(self) -> None:
        """Drop the remembered cuts (benchmarks time every message as a new one)."""
        self._cache.clear()

    def known(self, word: str) -> bool:
        """Whether jieba's dictionary (with the user dictionary and added words) has the word."""
        self._ensure()
        return bool(self._jieba.FREQ.get(word, 0))

    def information(self, word: str) -> float:
        """How surprising a word is in general Chinese (-log frequency in jieba's dictionary).

        A word jieba does not know scores as its rarest known character; one with no known
        character (a Latin code, a rare name) as a word seen once. Words of the user dictionary
        and the lexicons count with jieba's own frequency, not the one that keeps them whole.
        """
        self._ensure()
        total = float(self._jieba.total)
        freq = self._dictionary.get(word, self._jieba.FREQ.get(word, 0))
        if not freq and len(word) > 1:
            freq = min((f for f in map(self._jieba.FREQ.get, word) if f), default=0)
        return math.log(total / max(freq, 1))

    def cut(self, text: str) -> list[str]:
        """Tokens of normalized text, without whitespace or punctuation-only tokens.

        Only dictionary words and single characters: jieba's guessing of new words (its HMM)
        is off. The words it made up ("人交" of "一个人交", "哪补" of "去哪补") are cut one
        way in one message and another way in the next, and weigh as rare words: the FAQ
        matched less of a question, and the lexicons learned less from their data (see
        bench/README.md, ninth session)."""
        found = self._cache.get(text)
        if found is None:
            self._ensure()
            words = self._jieba.lcut(normalize(text), HMM=False)
            found = tuple(t for t in words if _is_word(t))
            if len(self._cache) >= CUT_CACHE:
                self._cache.clear()
            self._cache[text] = found
        return list(found)


def _is_word(token: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


_default: Tokenizer | None = None
_default_lock = threading.Lock()


def default_tokenizer() -> Tokenizer:
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Tokenizer()
    return _default


def tokenize(text: str) -> list[str]:
    return default_tokenizer().cut(text)


def is_meaningful(text: str) -> bool:
    """False for empty, whitespace-, punctuation- or emoji-only text."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in normalize(text))
