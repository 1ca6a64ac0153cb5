"""FAQ matching figures (issue 3): top-1 and out-of-scope error, AFQMC pairs, latency.

    .venv/bin/python bench/faq.py                 # everything
    .venv/bin/python bench/faq.py --no-afqmc      # without the AFQMC pairs (no scikit-learn)
    .venv/bin/python bench/faq.py --misses dev    # list the dev questions it gets wrong

Accuracy on tests/data/faq_queries.csv (its `dev` and `test` parts, split by
knowledge.evaluate.part) and on the independently written tests/data/faq_holdout.csv. An in-scope
question answered with its id is right, with another id wrong, unanswered a miss; an
out-of-scope question (empty faq_id) that gets any answer is wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from knowledge.base import load  # noqa: E402
from knowledge.evaluate import part  # noqa: E402
from knowledge.faq import FaqEntry, FaqIndex, load_entries, load_matching, load_synonyms  # noqa: E402
from knowledge.match import Matcher  # noqa: E402

DATA = ROOT / "tests" / "data"
QUERIES = DATA / "faq_queries.csv"
HOLDOUT = DATA / "faq_holdout.csv"
AFQMC = ROOT.parent / "shared" / "data" / "paraphrase" / "afqmc_dev.jsonl"
MESSAGES = DATA / "community_messages.csv"


def read_queries(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [
            (row["question"].strip(), (row["faq_id"] or "").strip())
            for row in csv.DictReader(handle)
            if (row["question"] or "").strip()
        ]


def accuracy(index: FaqIndex, rows: Sequence[tuple[str, str]]) -> dict[str, object]:
    inside = [(q, g) for q, g in rows if g]
    outside = [q for q, g in rows if not g]
    right = wrong = missed = offered = 0
    misses = []
    for question, gold in inside:
        match = index.best_match(question)
        if match.faq_id == gold:
            right += 1
            continue
        if match.faq_id is None:
            missed += 1
            offered += index.offered(match) == gold  # "您是不是想问：X？", answered on a yes
        else:
            wrong += 1
        misses.append(f"  {gold:<27} got {match.faq_id or '-':<27} {match.score:.2f} {question}")
    answered = []
    asked_back = 0
    for question in outside:
        match = index.best_match(question)
        asked_back += index.offered(match) is not None
        if match.faq_id is not None:
            answered.append(
                f"  {'(out of scope)':<27} got {match.faq_id:<27} {match.score:.2f} {question}"
            )
    return {
        "in_scope": len(inside),
        "top1": right / max(len(inside), 1),
        "wrong_id": wrong / max(len(inside), 1),
        "unanswered": missed / max(len(inside), 1),
        "out_of_scope": len(outside),
        "oos_wrong": len(answered) / max(len(outside), 1),
        "offered_right": offered / max(len(inside), 1),
        "oos_offered": asked_back / max(len(outside), 1),
        "misses": misses + answered,
    }


COPY = 0.6  # character-pair overlap (Jaccard) from which a question counts as a near copy


def pairs(text: str) -> frozenset[str]:
    chars = "".join(ch for ch in text if ch.isalnum())
    return frozenset(chars[i : i + 2] for i in range(len(chars) - 1)) or frozenset({chars})


def near_copies(index: FaqIndex, questions: Sequence[str]) -> set[str]:
    """Questions that nearly copy a phrasing or a near miss of the knowledge base. Short
    canonical questions coincide ("残疾证怎么办"), and content writers and evaluation writers
    share habits: the figures are also given without these."""
    known = [pairs(t) for e in index.entries.values() for t in (*e.phrasings(), *e.near_misses)]
    having: dict[str, list[int]] = {}
    for i, found in enumerate(known):
        for pair in found:
            having.setdefault(pair, []).append(i)
    copies = set()
    for question in questions:
        mine = pairs(question)
        for i in {i for pair in mine for i in having.get(pair, ())}:
            if len(mine & known[i]) / len(mine | known[i]) >= COPY:
                copies.add(question)
                break
    return copies


def report_accuracy(index: FaqIndex, show: str | None) -> dict[str, dict[str, object]]:
    rows = read_queries(QUERIES)
    sets: dict[str, list[tuple[str, str]]] = {
        "dev": [r for r in rows if part(r[0]) == "dev"],
        "test": [r for r in rows if part(r[0]) == "test"],
    }
    if HOLDOUT.exists():
        sets["holdout"] = read_queries(HOLDOUT)
    print(f"FAQ matching, threshold {index.threshold} ({len(index.entries)} entries)")
    print(
        f"{'set':<8} {'in-scope':>8} {'top-1':>6} {'wrong id':>8} {'no answer':>9} "
        f"{'OOS':>4} {'OOS wrong':>9}   {'copies':>6} {'top-1':>6} {'OOS wrong':>9} without"
    )
    results = {}
    for name, data in sets.items():
        r = accuracy(index, data)
        copies = near_copies(index, [q for q, _ in data])
        rest = accuracy(index, [(q, g) for q, g in data if q not in copies])
        r["copies"], r["rest"] = len(copies), {k: v for k, v in rest.items() if k != "misses"}
        results[name] = r
        print(
            f"{name:<8} {r['in_scope']:>8} {r['top1']:>6.3f} {r['wrong_id']:>8.3f} "
            f"{r['unanswered']:>9.3f} {r['out_of_scope']:>4} {r['oos_wrong']:>9.1%}   "
            f"{len(copies):>6} {rest['top1']:>6.3f} {rest['oos_wrong']:>9.1%}"
        )
    print(
        f"unanswered, the right entry offered ('您是不是想问', a yes answers it; score >= "
        f"{index.offer_share} x threshold):"
    )
    for name, r in results.items():
        print(
            f"  {name:<8} offered right {r['offered_right']:.3f}, answered or offered right "
            f"{r['top1'] + r['offered_right']:.3f}; out of scope offered an entry "  # type: ignore[operator]
            f"{r['oos_offered']:.1%}"
        )
    if not HOLDOUT.exists():
        print(f"holdout: {HOLDOUT.relative_to(ROOT)} is not there yet: not measured")
    print("targets: top-1 >= 0.90, OOS wrong <= 10% (on test and holdout; tuned on dev only)")
    print(
        f"copies: questions within {COPY} character-pair overlap of a phrasing or a near miss; "
        "'without' leaves them out"
    )
    if show and show in results:
        print(f"\nmistakes on {show}:")
        print("\n".join(results[show]["misses"]))  # type: ignore[arg-type]
    return results


def best_threshold_accuracy(scores: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """Accuracy at the best cut between 'paraphrase' and 'not', and that cut."""
    pairs = sorted(zip(scores, labels, strict=True), reverse=True)
    positives = sum(labels)
    best, cut = (len(labels) - positives) / len(labels), float("inf")
    true_pos = false_pos = 0
    for i, (score, label) in enumerate(pairs):
        true_pos += label
        false_pos += 1 - label
        if i + 1 < len(pairs) and pairs[i + 1][0] == score:
            continue
        correct = true_pos + (len(labels) - positives - false_pos)
        if correct / len(labels) > best:
            best, cut = correct / len(labels), score
    return best, cut


def report_afqmc(index: FaqIndex) -> dict[str, float] | None:
    if not AFQMC.exists():
        print(f"\nAFQMC: {AFQMC} not found: not measured")
        return None
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.metrics import roc_auc_score
    except ImportError:
        print("\nAFQMC: scikit-learn missing (pip install -r bench/requirements.txt)")
        return None
    pairs = []
    with AFQMC.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            pairs.append((row["sentence1"], row["sentence2"], int(row["label"])))
    labels = [label for _, _, label in pairs]
    template = index.matcher
    forward = Matcher(
        template.tokenizer,
        template.synonyms,
        template.fillers,
        template.confusions,
        template.tuning,
    )
    backward = Matcher(
        template.tokenizer,
        template.synonyms,
        template.fillers,
        template.confusions,
        template.tuning,
    )
    forward.index({str(i): [b] for i, (_, b, _) in enumerate(pairs)}, {})
    backward.index({str(i): [a] for i, (a, _, _) in enumerate(pairs)}, {})
    ours = []
    for i, (a, b, _) in enumerate(pairs):
        one = forward.scores(a, only=[str(i)]).get(str(i), 0.0)
        two = backward.scores(b, only=[str(i)]).get(str(i), 0.0)
        ours.append((one + two) / 2)
    tokens = template.tokenizer.cut
    vectorizer = TfidfVectorizer(tokenizer=tokens, token_pattern=None, lowercase=False)
    vectorizer.fit([s for a, b, _ in pairs for s in (a, b)])
    left = vectorizer.transform([a for a, _, _ in pairs])
    right = vectorizer.transform([b for _, b, _ in pairs])
    cosine = [float(v) for v in left.multiply(right).sum(axis=1).A1]
    acc_ours, cut_ours = best_threshold_accuracy(ours, labels)
    acc_tfidf, cut_tfidf = best_threshold_accuracy(cosine, labels)
    share = sum(labels) / len(labels)
    print(
        f"\nAFQMC dev ({len(pairs)} pairs, {share:.1%} paraphrases; always 'no' = {1 - share:.3f})"
    )
    # With 31% paraphrases, the best cut may be "always no": the area under the ROC curve says
    # how well the scores rank paraphrases above the rest, whatever the cut.
    auc_ours = float(roc_auc_score(labels, ours))
    auc_tfidf = float(roc_auc_score(labels, cosine))
    print(
        f"  matcher coverage (both ways)   accuracy {acc_ours:.3f} at score >= {cut_ours:.3f}, "
        f"ROC AUC {auc_ours:.3f}"
    )
    print(
        f"  TF-IDF cosine, same jieba words accuracy {acc_tfidf:.3f} at cosine >= "
        f"{cut_tfidf:.3f}, ROC AUC {auc_tfidf:.3f}"
    )
    return {"matcher": acc_ours, "tfidf": acc_tfidf, "auc": auc_ours, "tfidf_auc": auc_tfidf}


def percentiles(timings: list[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed(fn: Callable[[str], object], texts: Sequence[str], rounds: int) -> list[float]:
    for text in texts:  # warm caches as a running service has them
        fn(text)
    timings = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            fn(text)
            timings.append(time.perf_counter() - start)
    return timings


def synthetic(
    entries: list[FaqEntry], count: int, words: list[str], seed: int = 7
) -> list[FaqEntry]:
    """`count` entries recombined from real ones: each phrasing of a real entry with a few of its
    words swapped for words from residents' messages, so the vocabulary grows like a big KB."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        base = rng.choice(entries)
        other = rng.choice(entries)
        phrasings = []
        for text in [*base.alternates, *other.alternates[:2]]:
            chars = list(text)
            for _ in range(2):
                at = rng.randrange(len(chars) + 1)
                chars[at:at] = rng.choice(words)
            phrasings.append("".join(chars))
        out.append(
            replace(
                base,
                id=f"{base.id}-{n}",
                title=base.title + rng.choice(words),
                alternates=tuple(phrasings),
                keywords=base.keywords[:1],
            )
        )
    return out


def report_latency(rounds: int) -> dict[str, float]:
    config = load_config(env={})
    kb = load(faq_threshold=config.knowledge.faq_threshold)
    questions = [q for q, _ in read_queries(QUERIES)]
    with MESSAGES.open(encoding="utf-8-sig", newline="") as handle:
        messages = [row["text"] for row in csv.DictReader(handle)]
    texts = questions + messages

    # Every message is timed as a new one: the tokenizer's remembered cuts are dropped first
    # (within a message, classify and the FAQ match share one cut, as in the service).
    def both(text: str) -> None:
        kb.faq.forget()  # the classifier shares the FAQ's tokenizer
        kb.classifier.classify(text)
        kb.faq.best_match(text)

    def faq_alone(text: str) -> None:
        kb.faq.forget()
        kb.faq.best_match(text)

    print(f"\nlatency per message ({len(texts)} messages x {rounds}, one thread)")
    p50, p99 = percentiles(timed(both, texts, rounds))
    print(
        f"  classify + FAQ match, {len(kb.faq.entries)}: p50 {p50:.3f} ms  p99 {p99:.3f} ms"
        "  (target p99 < 2 ms)"
    )
    result = {"both_p50": p50, "both_p99": p99}
    p50f, p99f = percentiles(timed(faq_alone, texts, rounds))
    print(f"  FAQ match alone, {len(kb.faq.entries)}:    p50 {p50f:.3f} ms  p99 {p99f:.3f} ms")
    words = sorted({w for t in messages for w in kb.faq.matcher.tokenizer.cut(t) if len(w) > 1})
    entries = load_entries()
    start = time.perf_counter()
    big = FaqIndex.build(
        [*entries, *synthetic(entries, 10_000 - len(entries), words)],
        threshold=kb.faq.threshold,
        synonyms=load_synonyms(),
        matching=load_matching(),
    )
    built = time.perf_counter() - start

    def big_alone(text: str) -> None:
        big.forget()
        big.best_match(text)

    p50b, p99b = percentiles(timed(big_alone, texts, max(1, rounds // 2)))
    print(
        f"  FAQ match, {len(big.entries)} entries:          p50 {p50b:.3f} ms  p99 {p99b:.3f} ms"
        f"  (target p99 < 5 ms; index built in {built:.1f} s)"
    )
    result.update({"faq_p50": p50f, "faq_p99": p99f, "big_p50": p50b, "big_p99": p99b})
    return result


def report_near_misses(index: FaqIndex, folds: int = 5) -> float:
    """Out-of-scope figure from the knowledge base's own near misses, no evaluation file read:
    each fifth of them is left out of the index in turn and asked; answered = wrong."""
    entries = list(index.entries.values())
    answered = total = 0
    for fold in range(folds):
        kept, asked = [], []
        for entry in entries:
            near = entry.near_misses
            asked += [q for i, q in enumerate(near) if i % folds == fold]
            kept.append(
                replace(
                    entry, near_misses=tuple(q for i, q in enumerate(near) if i % folds != fold)
                )
            )
        held = FaqIndex.build(
            kept,
            threshold=index.threshold,
            tokenizer=index.matcher.tokenizer,
            synonyms=index.matcher.synonyms,
            matching=load_matching(),
        )
        answered += sum(held.best_match(q).faq_id is not None for q in asked)
        total += len(asked)
    share = answered / max(total, 1)
    print(
        f"near misses left out and asked ({folds} folds): {answered} of {total} answered", end=""
    )
    print(f" ({share:.1%}; no evaluation file read)")
    return share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, help="instead of config.toml's faq_threshold")
    parser.add_argument("--misses", choices=["dev", "test", "holdout"], help="list mistakes")
    parser.add_argument("--no-afqmc", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds over the messages")
    args = parser.parse_args(argv)
    config = load_config(env={})
    threshold = args.threshold if args.threshold is not None else config.knowledge.faq_threshold
    kb = load(faq_threshold=threshold)
    report_accuracy(kb.faq, args.misses)
    report_near_misses(kb.faq)
    if not args.no_afqmc:
        report_afqmc(kb.faq)
    if not args.no_latency:
        report_latency(args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
