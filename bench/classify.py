"""Keyword classification measured like a classifier (issue 3).

1. The government message board data (../shared/data/tipdm2020c/train.csv, 7 labels): k-fold
   cross-validated macro-F1 of the learned keyword lexicon beside a TF-IDF + linear SVM over the
   same jieba tokens and the same folds, on the dev part; then both learned on the whole dev part
   and measured on the held-out test part (knowledge.evaluate.part: a stable hash of the text).
2. The community taxonomy with the live lexicon (hand-written + knowledge/lexicon/learned/):
   intent accuracy and category accuracy on reports, on the dev part of
   tests/data/community_messages.csv (what the lexicon was tuned and learned on), its test part,
   and tests/data/community_holdout.csv (written independently, never tuned on).
3. Latency of `Classifier.classify` per message, p50/p99.

    .venv/bin/pip install -r bench/requirements.txt   # scikit-learn, for the baseline only
    .venv/bin/python bench/classify.py [--folds 5] [--skip-tipdm]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge.base import KnowledgeBase, load  # noqa: E402
from knowledge.classify import Classifier  # noqa: E402
from knowledge.evaluate import (  # noqa: E402
    DEV,
    TEST,
    calibration_error,
    evaluate,
    folds,
    part,
    read_labelled,
)
from knowledge.keywords import live_classifier  # noqa: E402
from knowledge.learn import Settings, learn  # noqa: E402
from knowledge.understand import understand  # noqa: E402

TIPDM = ROOT.parent / "shared" / "data" / "tipdm2020c" / "train.csv"
COMMUNITY = ROOT / "tests" / "data" / "community_messages.csv"
HOLDOUT = ROOT / "tests" / "data" / "community_holdout.csv"


def svm_predict(
    train_tokens: list[list[str]], train_labels: list[str], test_tokens: list[list[str]]
) -> list[str]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(
        analyzer=lambda tokens: tokens, sublinear_tf=True, min_df=1, ngram_range=(1, 1)
    )
    features = vectorizer.fit_transform(train_tokens)
    model = LinearSVC(C=1.0)
    model.fit(features, train_labels)
    return [str(label) for label in model.predict(vectorizer.transform(test_tokens))]


def lexicon_predict(
    live: Classifier,
    train_tokens: list[list[str]],
    train_labels: list[str],
    test_texts: list[str],
    settings: Settings | None = None,
) -> list[tuple[str, float]]:
    learned = learn(
        train_tokens,
        train_labels,
        negations=live.lexicon.negations,
        stopwords=live.lexicon.stopwords,
        settings=settings,
    ).lexicon()
    model = Classifier(learned, live.tokenizer)
    return [model.categorize(text) for text in test_texts]


GRID = [Settings(l1=l1, lead=lead) for l1 in (0.5, 1.0, 2.0) for lead in (0, 20)]


def cross_validate(
    live: Classifier,
    texts: list[str],
    gold: list[str],
    tokens: dict[str, list[str]],
    fold_of: list[int],
    *,
    settings: Settings | None,
) -> list[tuple[str, float]]:
    predicted = [("", 0.0)] * len(texts)
    for fold in sorted(set(fold_of)):
        train = [i for i in range(len(texts)) if fold_of[i] != fold]
        held = [i for i in range(len(texts)) if fold_of[i] == fold]
        found = lexicon_predict(
            live,
            [tokens[texts[i]] for i in train],
            [gold[i] for i in train],
            [texts[i] for i in held],
            settings,
        )
        for i, one in zip(held, found, strict=True):
            predicted[i] = one
    return predicted


def tipdm(folds_k: int, tune: bool) -> None:
    if not TIPDM.exists():
        print(f"tipdm: {TIPDM} not found, skipped")
        return
    live = live_classifier()
    rows = read_labelled(TIPDM, "text", "label")
    dev = [row for row in rows if part(row[0]) == DEV]
    test = [row for row in rows if part(row[0]) == TEST]
    print(f"tipdm2020c: {len(rows)} messages, 7 labels; dev {len(dev)}, test {len(test)}")
    started = time.perf_counter()
    tokens = {text: live.tokens(text) for text, _ in rows}
    print(f"  tokenized in {time.perf_counter() - started:.1f} s")

    texts = [text for text, _ in dev]
    gold = [label for _, label in dev]
    fold_of = folds(texts, gold, folds_k)
    settings = Settings()
    if tune:
        print(f"  tuning the learner on {folds_k} dev folds:")
        best = -1.0
        for candidate in GRID:
            found = cross_validate(live, texts, gold, tokens, fold_of, settings=candidate)
            score = evaluate(gold, [p for p, _ in found], [c for _, c in found], texts).macro_f1
            print(f"    l1 {candidate.l1:<4} lead {candidate.lead:<3} macro-F1 {score:.3f}")
            if score > best:
                best, settings = score, candidate
        print(f"  chosen: l1 {settings.l1}, lead {settings.lead}")
    lexicon_pred = cross_validate(live, texts, gold, tokens, fold_of, settings=settings)
    svm_pred = [""] * len(dev)
    for fold in range(folds_k):
        train = [i for i in range(len(dev)) if fold_of[i] != fold]
        held = [i for i in range(len(dev)) if fold_of[i] == fold]
        train_tokens = [tokens[texts[i]] for i in train]
        train_labels = [gold[i] for i in train]
        for i, label in zip(
            held,
            svm_predict(train_tokens, train_labels, [tokens[texts[i]] for i in held]),
            strict=True,
        ):
            svm_pred[i] = label
    lex = evaluate(gold, [p for p, _ in lexicon_pred], [c for _, c in lexicon_pred], texts)
    svm = evaluate(gold, svm_pred, [1.0] * len(dev), texts)
    print(f"  {folds_k}-fold cross-validation on dev ({len(dev)} messages, same folds):")
    print(f"    keyword lexicon   macro-F1 {lex.macro_f1:.3f}   accuracy {lex.accuracy:.3f}")
    print(f"    TF-IDF + SVM      macro-F1 {svm.macro_f1:.3f}   accuracy {svm.accuracy:.3f}")

    test_texts = [text for text, _ in test]
    test_gold = [label for _, label in test]
    dev_tokens = [tokens[text] for text in texts]
    lexicon_test = lexicon_predict(live, dev_tokens, gold, test_texts, settings)
    svm_test = svm_predict(dev_tokens, gold, [tokens[text] for text in test_texts])
    lex = evaluate(
        test_gold, [p for p, _ in lexicon_test], [c for _, c in lexicon_test], test_texts
    )
    svm = evaluate(test_gold, svm_test, [1.0] * len(test), test_texts)
    print(f"  learned on dev, measured on the held-out test part ({len(test)} messages):")
    print(f"    keyword lexicon   macro-F1 {lex.macro_f1:.3f}   accuracy {lex.accuracy:.3f}")
    print(f"    TF-IDF + SVM      macro-F1 {svm.macro_f1:.3f}   accuracy {svm.accuracy:.3f}")


def community(kb: KnowledgeBase, *, calibrate: bool = False) -> None:
    live = kb.classifier
    sets: list[tuple[str, list[tuple[str, str, str]]]] = []
    rows = _community_rows(COMMUNITY)
    sets.append(("community dev (tuned on)", [r for r in rows if part(r[0]) == DEV]))
    sets.append(("community test", [r for r in rows if part(r[0]) == TEST]))
    if HOLDOUT.exists():
        sets.append(("independent holdout", _community_rows(HOLDOUT)))
    else:
        print(f"  {HOLDOUT.name} not found: no independent holdout figure")
    print("community taxonomy, live lexicon (targets: intent >= 0.90, category >= 0.85):")
    for name, items in sets:
        intents = [understand(kb, text) for text, _, _ in items]
        intent_ok = sum(
            found.intent == intent for found, (_, intent, _) in zip(intents, items, strict=True)
        )
        reports = [(text, category) for text, intent, category in items if intent == "report"]
        category_ok = sum(live.categorize(text)[0] == category for text, category in reports)
        both_ok = sum(
            found.intent == "report" and found.category == category
            for found, (_, intent, category) in zip(intents, items, strict=True)
            if intent == "report"
        )
        print(
            f"  {name:<26} intent {intent_ok / len(items):.3f} ({len(items)})   "
            f"category on reports {category_ok / max(len(reports), 1):.3f} ({len(reports)})   "
            f"report and category both right {both_ok / max(len(reports), 1):.3f}"
        )
        right = [
            found.intent == intent for found, (_, intent, _) in zip(intents, items, strict=True)
        ]
        print(
            f"  {'':<26} intent confidence: calibration error "
            f"{calibration_error(right, [f.confidence for f in intents]):.3f} "
            f"(the margin itself: {calibration_error(right, [f.margin for f in intents]):.3f})"
        )
        if calibrate and name.startswith("community dev"):
            fit_curve([f.margin for f in intents], right)


def fit_curve(margins: list[float], right: list[bool]) -> None:
    """The logistic curve from an intent's margin to the chance it is right, fitted on dev:
    what knowledge/lexicon/intents.toml [confidence] holds."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6).fit([[m] for m in margins], right)
    slope, intercept = float(model.coef_[0][0]), float(model.intercept_[0])
    print(
        f"  fitted on dev, for intents.toml: [confidence] slope = {slope:.3f}, "
        f"intercept = {intercept:.3f}"
    )


def _community_rows(path: Path) -> list[tuple[str, str, str]]:
    intents = dict(read_labelled(path, "text", "intent"))
    categories = dict(read_labelled(path, "text", "category"))
    return [(text, intent, categories.get(text, "")) for text, intent in intents.items()]


def latency(live: Classifier) -> None:
    texts = [text for text, _, _ in _community_rows(COMMUNITY)]
    if HOLDOUT.exists():
        texts += [text for text, _, _ in _community_rows(HOLDOUT)]
    for text in texts:
        live.classify(text)  # warm: jieba's dictionary, caches
    times = []
    for _ in range(5):
        for text in texts:
            live.tokenizer.forget()  # every message is new to the tokenizer
            started = time.perf_counter_ns()
            live.classify(text)
            times.append((time.perf_counter_ns() - started) / 1e6)
    times.sort()
    p99 = times[int(len(times) * 0.99)]
    print(
        f"classify latency over {len(times)} calls: p50 {statistics.median(times):.3f} ms, "
        f"p99 {p99:.3f} ms, max {times[-1]:.3f} ms"
    )


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--folds", type=int, default=5)
    args.add_argument("--skip-tipdm", action="store_true")
    args.add_argument(
        "--calibrate", action="store_true", help="fit the intent confidence curve on dev"
    )
    args.add_argument("--tune", action="store_true", help="choose the learner's settings on folds")
    options = args.parse_args()
    kb = load()
    live = kb.classifier
    community(kb, calibrate=options.calibrate)
    latency(live)
    if not options.skip_tipdm:
        tipdm(options.folds, options.tune)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
