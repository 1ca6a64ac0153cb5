"""Everything the bot knows, loaded together and reloaded when the files change."""

from __future__ import annotations

import re
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from knowledge.classify import Classifier, Lexicon, load_lexicon
from knowledge.faq import (
    DEFAULT_THRESHOLD,
    FaqEntry,
    FaqIndex,
    load_entries,
    load_matching,
    load_synonyms,
)
from knowledge.replies import Replies
from knowledge.text import Tokenizer, default_tokenizer, normalize

HERE = Path(__file__).resolve().parent
CALL = re.compile(r"打[^,.!?;:，。！？；：\s]{0,3}?(?:电话|手机)")


@dataclass(frozen=True)
class KnowledgeBase:
    lexicon: Lexicon
    classifier: Classifier
    faq: FaqIndex
    replies: Replies
    sensitive_words: tuple[str, ...] = ()  # sensitive.toml: a report with one is sensitive
    anonymous_words: tuple[str, ...] = ()  # sensitive.toml: a report with one is anonymous

    def mentions_sensitive(self, text: str) -> bool:
        """Whether a resident's words make a report sensitive (家暴, 猥亵...)."""
        words = CALL.sub("", normalize(text))  # "有事打老婆电话" calls, it does not strike
        return any(word in words for word in self.sensitive_words)

    def asks_anonymity(self, text: str) -> bool:
        """Whether a resident asks that a report not name them (匿名, 别说是我...)."""
        words = normalize(text)
        return any(word in words for word in self.anonymous_words)

    @property
    def entries(self) -> dict[str, FaqEntry]:
        return dict(self.faq.entries)


def load(
    root: Path = HERE,
    *,
    faq_threshold: float = DEFAULT_THRESHOLD,
    tokenizer: Tokenizer | None = None,
    cache: Path | None = None,
) -> KnowledgeBase:
    tokenizer = tokenizer or default_tokenizer()
    lexicon = load_lexicon()
    # The classifier adds its phrases to the shared tokenizer: it comes first, so the FAQ's
    # phrasings are cut with the same words as the questions they are matched against.
    classifier = Classifier(lexicon, tokenizer)
    faq = FaqIndex.build(
        load_entries(root / "faq"),
        threshold=faq_threshold,
        tokenizer=tokenizer,
        synonyms=load_synonyms(root / "synonyms.toml"),
        matching=load_matching(root / "matching.toml"),
        cache=cache,
    )
    return KnowledgeBase(
        lexicon=lexicon,
        classifier=classifier,
        faq=faq,
        replies=Replies.load(root / "replies.toml"),
        **load_sensitive_words(root / "sensitive.toml"),
    )


def load_sensitive_words(path: Path) -> dict[str, tuple[str, ...]]:
    """sensitive.toml, read once: the words that make a report sensitive, and anonymous."""
    data: dict[str, object] = {}
    if path.exists():
        with path.open("rb") as handle:
            data = tomllib.load(handle)

    def words(key: str) -> tuple[str, ...]:
        found = data.get(key, [])
        listed = found if isinstance(found, list) else []
        return tuple(sorted({normalize(str(w)) for w in listed if str(w).strip()}))

    return {"sensitive_words": words("words"), "anonymous_words": words("anonymous")}


def fingerprint(root: Path = HERE) -> tuple[tuple[str, float], ...]:
    """Names and modification times of every knowledge file."""
    files = [p for p in root.rglob("*") if p.suffix in (".toml", ".txt") and p.is_file()]
    return tuple(sorted((str(p), p.stat().st_mtime) for p in files))


class Live:
    """The current knowledge base; `refresh()` reloads it when a file changed (no restart)."""

    def __init__(
        self,
        root: Path = HERE,
        *,
        faq_threshold: float = DEFAULT_THRESHOLD,
        cache: Path | None = None,
    ) -> None:
        self.root = root
        self.faq_threshold = faq_threshold
        self.cache = cache
        self._lock = threading.Lock()
        self._stamp = fingerprint(root)
        self.current = load(root, faq_threshold=faq_threshold, cache=cache)
        self.checked_at = time.monotonic()

    def refresh(self) -> bool:
        """Reload if any file changed; keep the old knowledge when the new files are broken."""
        stamp = fingerprint(self.root)
        if stamp == self._stamp:
            return False
        with self._lock:
            try:
                fresh = load(self.root, faq_threshold=self.faq_threshold, cache=self.cache)
            except (ValueError, KeyError, OSError):
                return False
            self.current, self._stamp = fresh, stamp
        return True
