"""`keywords learn` and `keywords eval`: lexicons learned from a CSV file, and measured."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from knowledge.classify import CATEGORIES, INTENTS, Classifier, Lexicon, read_lexicon
from knowledge.evaluate import Report, evaluate, folds, part, read_labelled
from knowledge.learn import Learned, Settings, learn, to_toml


def live_classifier() -> Classifier:
    """The service's classifier; its tokenizer holds every word the live knowledge adds."""
    from knowledge.base import load

    return load().classifier


def learn_file(
    data: Path,
    *,
    text_column: str,
    label_column: str,
    out: Path,
    only: str | None = None,
    settings: Settings | None = None,
) -> Learned:
    """Learn a lexicon from a CSV file and write it as reviewable TOML.

    Labels that are all intents (and not all categories) make an intent lexicon.
    `only` keeps the dev or the test part of the messages.
    """
    rows = read_labelled(data, text_column, label_column)
    if only:
        rows = [row for row in rows if part(row[0]) == only]
    if not rows:
        raise ValueError(f"{data}: no labelled messages")
    live = live_classifier()
    labels = [label for _, label in rows]
    learned = learn(
        [live.tokens(text) for text, _ in rows],
        labels,
        negations=live.lexicon.negations,
        stopwords=live.lexicon.stopwords,
        settings=settings,
        kind="intent" if _intent_labels(labels) else "category",
    )
    out.write_text(
        to_toml(learned, source=data.name, text_column=text_column, label_column=label_column),
        encoding="utf-8",
    )
    return learned


def predict(classifier: Classifier, text: str, *, intents: bool) -> tuple[str, float]:
    """The intent (or the category) of a message and its confidence."""
    if intents:
        found = classifier.classify(text)
        return found.intent, found.confidence
    return classifier.categorize(text)


def _intent_labels(labels: Sequence[str]) -> bool:
    known = set(labels)
    return known <= set(INTENTS) and not known <= set(CATEGORIES)


def _wants_intents(labels: Sequence[str], lexicon: Lexicon) -> bool:
    return bool(lexicon.intents) and _intent_labels(labels)


def evaluate_file(
    data: Path,
    *,
    text_column: str,
    label_column: str,
    lexicon: Path | None = None,
    k: int = 0,
    only: str | None = None,
    settings: Settings | None = None,
    worst: int = 10,
) -> Report:
    """Measure a lexicon on labelled messages; with k >= 2, learn on k-1 folds, test on the other.

    Without `lexicon` the live knowledge lexicon is measured (or, with folds, learned alone);
    with it, that file (with folds: merged with what each fold learns, its own weights winning).
    Intent labels are measured by `classify`, anything else by the best category. `only` keeps
    the dev or the test part of the messages.
    """
    rows = read_labelled(data, text_column, label_column)
    if only:
        rows = [row for row in rows if part(row[0]) == only]
    texts = [text for text, _ in rows]
    gold = [label for _, label in rows]
    live = live_classifier()
    base = read_lexicon(lexicon) if lexicon else None
    predicted = [""] * len(rows)
    confidence = [0.0] * len(rows)
    if k >= 2:
        tokens = [live.tokens(text) for text in texts]
        fold_of = folds(texts, gold, k)
        for fold in range(k):
            train = [i for i in range(len(rows)) if fold_of[i] != fold]
            learned = learn(
                [tokens[i] for i in train],
                [gold[i] for i in train],
                negations=live.lexicon.negations,
                stopwords=live.lexicon.stopwords,
                settings=settings,
                kind="intent" if _intent_labels(gold) else "category",
            ).lexicon()
            model = Classifier(base.merged(learned) if base else learned, live.tokenizer)
            intents = _wants_intents(gold, model.lexicon)
            for i in range(len(rows)):
                if fold_of[i] == fold:
                    predicted[i], confidence[i] = predict(model, texts[i], intents=intents)
    else:
        model = Classifier(base, live.tokenizer) if base else live
        intents = _wants_intents(gold, model.lexicon)
        for i, text in enumerate(texts):
            predicted[i], confidence[i] = predict(model, text, intents=intents)
    return evaluate(gold, predicted, confidence, texts, worst=worst)
