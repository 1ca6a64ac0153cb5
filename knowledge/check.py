"""`knowledge check`: every knowledge file validated as data; problems listed, not raised."""

from __future__ import annotations

import re
import string
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

from knowledge.classify import CATEGORIES, INTENTS
from knowledge.text import normalize

HERE = Path(__file__).resolve().parent
REQUIRED_FAQ = (
    "residence-permit hukou-move-in id-card-replace pension-resident medical-insurance-resident "
    "medical-offsite dibao temporary-assistance elderly-allowance elderly-meal disability-card "
    "disability-subsidy birth-registration childcare-subsidy newborn-hukou "
    "unemployment-registration unemployment-benefit legal-aid mediation garbage-sorting "
    "bulky-waste ebike-charging dog-registration noise-hours renovation-filing elevator-retrofit "
    "property-fee owners-committee rental-registration community-certificate volunteer "
    "family-doctor school-enrollment anti-fraud fire-safety falling-objects water-leak "
    "office-hours my-grid-worker how-to-report case-progress petition domestic-violence "
    "personal-info"
).split()
FAQ_FIELDS = {
    "community_name",
    "office_address",
    "office_phone",
    "office_hours",
    "grid_worker",
    "grid_name",
}
LAW_TAGS = {"everyone", "elderly", "parents", "landlords", "tenants", "workers"}
MIN_ALTERNATES = 5
MAX_SHORT_ANSWER = 200
MAX_PLAIN = 200
OLD_PUBLIC_SECURITY_LAW = "治安管理处罚法"
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")


def _load(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, OSError) as exc:
        problems.append(f"{path.name}: {exc}")
        return None


def _fields(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        return {f"<broken braces: {exc}>"}


def check_faq(
    root: Path,
    problems: list[str],
    off_topic: list[str],
    off_topic_patterns: list[tuple[str, re.Pattern[str]]] | None = None,
) -> set[str]:
    ids: set[str] = set()
    asked: dict[str, str] = {}  # a phrasing, normalized → the entry that answers it
    near: list[tuple[str, str]] = []  # (where, a near miss: a question no entry answers)
    for path in sorted((root / "faq").glob("*.toml")):
        data = _load(path, problems)
        if data is None:
            continue
        where = f"faq/{path.name}"
        faq_id = data.get("id", "")
        if faq_id != path.stem:
            problems.append(f"{where}: id {faq_id!r} must equal the file name")
        if faq_id in ids:
            problems.append(f"{where}: duplicate id {faq_id}")
        ids.add(faq_id)
        phrasings = [data.get("title", ""), data.get("question", "")]
        phrasings += [*data.get("alternates", []), *data.get("keywords", [])]
        for phrasing in phrasings:
            asked.setdefault(normalize(str(phrasing)), faq_id)
        for text in data.get("near_misses", []):
            if not isinstance(text, str) or not text.strip():
                problems.append(f"{where}: a near miss must be a question, not {text!r}")
            else:
                near.append((where, text))
        for word in off_topic:  # no phrasing may use one: questions with it are not answered
            used = [str(p) for p in phrasings if word in str(p)]
            if used:
                problems.append(f"{where}: {used[0]!r} uses {word!r}, off_topic in matching.toml")
        for key, pattern in off_topic_patterns or []:
            used = [str(p) for p in phrasings if pattern.search(normalize(str(p)))]
            if used:
                problems.append(
                    f"{where}: {used[0]!r} matches {pattern.pattern!r}, {key} in matching.toml"
                )
        for key in ("title", "question", "answer", "sources", "checked"):
            if not data.get(key):
                problems.append(f"{where}: missing {key}")
        if len(data.get("alternates", [])) < MIN_ALTERNATES:
            problems.append(f"{where}: needs at least {MIN_ALTERNATES} alternates")
        answer = str(data.get("answer", "")).strip()
        if len(answer) > MAX_SHORT_ANSWER + 40:  # placeholders expand; the text itself stays short
            problems.append(f"{where}: answer has {len(answer)} characters, keep it for a phone")
        for key in ("answer", "detail"):
            unknown = _fields(str(data.get(key, ""))) - FAQ_FIELDS
            if unknown:
                problems.append(f"{where}: {key} uses unknown placeholders {sorted(unknown)}")
            if PHONE.search(str(data.get(key, ""))):
                problems.append(f"{where}: {key} writes a phone number; use {{office_phone}}")
        if not isinstance(data.get("checked"), date):
            problems.append(f"{where}: checked must be a date (YYYY-MM-DD)")
        elif data["checked"] > date.today():
            problems.append(f"{where}: checked date {data['checked']} is in the future")
        for source in data.get("sources", []):
            if not (source.get("doc") or (source.get("law") and source.get("article"))):
                problems.append(f"{where}: a source needs law+article or doc")
            if OLD_PUBLIC_SECURITY_LAW in source.get("law", "") and source.get("article"):
                problems.append(f"{where}: do not cite article numbers of the old 治安管理处罚法")
    for where, text in near:  # a question either is answered or is not
        answered_by = asked.get(normalize(text))
        if answered_by:
            problems.append(f"{where}: near miss {text!r} is a phrasing of {answered_by}")
    for faq_id in REQUIRED_FAQ:
        if faq_id not in ids:
            problems.append(f"faq: required entry {faq_id} is missing")
    return ids


def check_related(root: Path, ids: set[str], problems: list[str]) -> None:
    for path in sorted((root / "faq").glob("*.toml")):
        data = _load(path, [])
        for other in (data or {}).get("related", []):
            if other not in ids:
                problems.append(f"faq/{path.name}: related {other!r} is not an FAQ id")


def check_law(root: Path, problems: list[str]) -> int:
    ids: set[str] = set()
    for path in sorted((root / "law").glob("*.toml")):
        data = _load(path, problems)
        if data is None:
            continue
        where = f"law/{path.name}"
        if data.get("id") != path.stem:
            problems.append(f"{where}: id must equal the file name")
        ids.add(path.stem)
        for key in ("title", "plain", "tip", "quotes", "tags", "topic"):
            if not data.get(key):
                problems.append(f"{where}: missing {key}")
        if len(str(data.get("plain", "")).strip()) > MAX_PLAIN:
            problems.append(f"{where}: plain explanation longer than {MAX_PLAIN} characters")
        unknown_tags = set(data.get("tags", [])) - LAW_TAGS
        if unknown_tags:
            problems.append(f"{where}: unknown tags {sorted(unknown_tags)}")
        for quote in data.get("quotes", []):
            for key in ("law", "article", "text_date", "text"):
                if not quote.get(key):
                    problems.append(f"{where}: a quote needs {key}")
            if OLD_PUBLIC_SECURITY_LAW in quote.get("law", ""):
                problems.append(f"{where}: do not quote the 2012 治安管理处罚法 (revised 2026)")
    return len(ids)


def check_lexicon(root: Path, problems: list[str]) -> None:
    for path in sorted((root / "lexicon").rglob("*.toml")):
        data = _load(path, problems)
        if data is None:
            continue
        for kind, known in (("intent", INTENTS), ("category", CATEGORIES)):
            for entry in data.get(kind, []):
                if entry.get("id") not in known:
                    problems.append(f"lexicon/{path.name}: unknown {kind} {entry.get('id')!r}")
        for category in data.get("urgent", []):
            if category not in CATEGORIES:
                problems.append(f"lexicon/{path.name}: urgent lists unknown {category!r}")
        curve = data.get("confidence")
        if curve is not None and not (
            isinstance(curve, dict)
            and all(isinstance(curve.get(k), int | float) for k in ("slope", "intercept"))
            and curve["slope"] > 0
        ):
            problems.append(
                f"lexicon/{path.name}: [confidence] needs numbers slope (above 0) and intercept"
            )


def check_replies(root: Path, problems: list[str]) -> None:
    data = _load(root / "replies.toml", problems)
    for section, table in (data or {}).items():
        for key, text in table.items():
            fields = _fields(str(text))
            broken = [f for f in fields if f.startswith("<broken")]
            if broken:
                problems.append(f"replies.toml {section}.{key}: {broken[0]}")


def check_sensitive(root: Path, problems: list[str]) -> None:
    """sensitive.toml: `words` and `anonymous`, words of two or more characters (one character
    matches too much)."""
    data = _load(root / "sensitive.toml", problems)
    if data is None:
        return
    for key in ("words", "anonymous"):
        words = data.get(key)
        if not isinstance(words, list) or not words:
            problems.append(f"sensitive.toml: `{key}` must be a non-empty list")
            continue
        for word in words:
            if not isinstance(word, str) or len(normalize(word)) < 2:
                problems.append(
                    f"sensitive.toml: {word!r} is not a word of two or more characters"
                )


def off_topic_patterns(root: Path, problems: list[str]) -> list[tuple[str, re.Pattern[str]]]:
    """matching.toml's off_topic_patterns and small_talk, compiled, each with its key (one that
    does not compile is a problem)."""
    path = root / "matching.toml"
    matching = (_load(path, problems) if path.exists() else None) or {}
    compiled = []
    for key in ("off_topic_patterns", "small_talk"):
        for text in matching.get(key, []):
            try:
                compiled.append((key, re.compile(str(text))))
            except re.error as exc:
                problems.append(f"matching.toml: {key} {text!r}: {exc}")
    return compiled


def off_topic_words(root: Path, problems: list[str]) -> list[str]:
    """matching.toml's off_topic words: they ask what no entry answers."""
    path = root / "matching.toml"
    matching = (_load(path, problems) if path.exists() else None) or {}
    return [str(w) for w in matching.get("off_topic", [])]


def check_near_misses(root: Path, problems: list[str], *, cache: Path | None = None) -> None:
    """No near miss may decline one of its own entry's phrasings: it would keep residents who
    ask exactly that from the answer. Needs the index, so it runs on files that load."""
    from knowledge.base import load  # the index as the service builds it

    index = load(root, cache=cache).faq
    for entry in index.entries.values():
        for phrasing in entry.phrasings():
            near = index.matcher.declined(normalize(phrasing), entry.id)
            if near is not None:
                problems.append(
                    f"faq/{entry.id}.toml: near miss {near!r} declines its phrasing {phrasing!r}"
                )


def check(root: Path = HERE, *, cache: Path | None = None) -> tuple[list[str], dict[str, int]]:
    """Every problem of the knowledge files under `root`. The near-miss check builds the FAQ
    index; with `cache` (the service's cache directory) it keeps it for the service's start."""
    problems: list[str] = []
    ids = check_faq(
        root, problems, off_topic_words(root, problems), off_topic_patterns(root, problems)
    )
    check_related(root, ids, problems)
    laws = check_law(root, problems)
    check_lexicon(root, problems)
    check_replies(root, problems)
    check_sensitive(root, problems)
    if not problems:
        check_near_misses(root, problems, cache=cache)
    return problems, {"faq": len(ids), "law": laws}
