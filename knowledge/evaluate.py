"""Measuring a classifier like one: a reproducible dev/test split, k folds, P/R/F1, confusion."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEV, TEST = "dev", "test"
TEST_PERCENT = 40
CALIBRATION_BINS = 10


def _hash(text: str, salt: str = "") -> int:
    digest = hashlib.sha256(f"{salt}{text.strip()}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def part(text: str) -> str:
    """`test` for about 40% of texts, `dev` for the rest: decided by a stable hash of the text."""
    return TEST if _hash(text) % 100 < TEST_PERCENT else DEV


def read_labelled(
    path: Path, text_column: str, label_column: str, *, keep_unlabelled: bool = False
) -> list[tuple[str, str]]:
    """(text, label) rows of a CSV file; rows without text (or label) are skipped."""
    with Path(path).open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {text_column, label_column} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))}")
        rows = []
        for row in reader:
            text, label = (row[text_column] or "").strip(), (row[label_column] or "").strip()
            if text and (label or keep_unlabelled):
                rows.append((text, label))
    return rows


def folds(texts: Sequence[str], labels: Sequence[str], k: int) -> list[int]:
    """A fold number for every item: stratified by label, ordered by a stable hash of the text."""
    if k < 2:
        raise ValueError("k-fold cross-validation needs at least 2 folds")
    assigned = [0] * len(texts)
    offset = 0
    for label in sorted(set(labels)):
        members = sorted(
            (i for i, lab in enumerate(labels) if lab == label),
            key=lambda i: (_hash(texts[i], "fold"), i),
        )
        for rank, i in enumerate(members):
            assigned[i] = (rank + offset) % k
        offset += len(members)
    return assigned


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Mistake:
    text: str
    gold: str
    predicted: str
    confidence: float


@dataclass(frozen=True)
class Report:
    labels: tuple[str, ...]
    per_class: tuple[ClassScore, ...]
    accuracy: float
    macro_f1: float
    confusion: tuple[tuple[int, ...], ...]  # rows: gold label, columns: predicted label
    mistakes: tuple[Mistake, ...]  # the most confident first
    calibration_error: float  # expected calibration error of the confidences (0 = perfect)
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "calibration_error": round(self.calibration_error, 4),
            "per_class": {
                c.label: {
                    "precision": round(c.precision, 4),
                    "recall": round(c.recall, 4),
                    "f1": round(c.f1, 4),
                    "support": c.support,
                }
                for c in self.per_class
            },
            "labels": list(self.labels),
            "confusion": [list(row) for row in self.confusion],
            "mistakes": [
                {
                    "text": m.text,
                    "gold": m.gold,
                    "predicted": m.predicted,
                    "confidence": round(m.confidence, 3),
                }
                for m in self.mistakes
            ],
        }

    def format(self) -> str:
        width = max(12, *(len(label) * 2 for label in self.labels))
        lines = [f"{'category':<{width}} precision  recall      f1  support"]
        for c in self.per_class:
            lines.append(
                f"{_pad(c.label, width)} {c.precision:9.3f} {c.recall:7.3f} {c.f1:7.3f} "
                f"{c.support:8d}"
            )
        lines += [
            "",
            f"messages {self.count}   accuracy {self.accuracy:.3f}   macro-F1 {self.macro_f1:.3f}"
            f"   calibration error {self.calibration_error:.3f}",
            "",
            "confusion matrix (rows: true category, columns: predicted, in the order above)",
        ]
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(f"{_pad(label, width)} " + " ".join(f"{n:5d}" for n in row))
        if self.mistakes:
            lines += ["", "most confident mistakes"]
            for m in self.mistakes:
                text = m.text if len(m.text) <= 60 else m.text[:59] + "…"
                lines.append(f"  {m.confidence:.2f} {m.gold} -> {m.predicted}: {text}")
        return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    """Left-justify counting a Chinese character as two columns."""
    shown = sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
    return text + " " * max(0, width - shown)


def evaluate(
    gold: Sequence[str],
    predicted: Sequence[str],
    confidences: Sequence[float],
    texts: Sequence[str],
    *,
    worst: int = 10,
) -> Report:
    """Per-class precision/recall/F1 over every label seen, macro-averaged like scikit-learn."""
    labels = tuple(sorted(set(gold) | set(predicted)))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g]][index[p]] += 1
    support = Counter(gold)
    scores = []
    for label in labels:
        i = index[label]
        true_pos = matrix[i][i]
        predicted_n = sum(row[i] for row in matrix)
        precision = true_pos / predicted_n if predicted_n else 0.0
        recall = true_pos / support[label] if support[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(ClassScore(label, precision, recall, f1, support[label]))
    count = len(gold)
    correct = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p)
    mistakes = sorted(
        (
            Mistake(t, g, p, c)
            for t, g, p, c in zip(texts, gold, predicted, confidences, strict=True)
            if g != p
        ),
        key=lambda m: -m.confidence,
    )
    return Report(
        labels=labels,
        per_class=tuple(scores),
        accuracy=correct / count if count else 0.0,
        macro_f1=sum(s.f1 for s in scores) / len(scores) if scores else 0.0,
        confusion=tuple(tuple(row) for row in matrix),
        mistakes=tuple(mistakes[:worst]),
        calibration_error=calibration_error(
            [g == p for g, p in zip(gold, predicted, strict=True)], confidences
        ),
        count=count,
    )


def calibration_error(correct: Sequence[bool], confidences: Sequence[float]) -> float:
    """Expected calibration error: |accuracy - mean confidence| per confidence bin, weighted."""
    bins: dict[int, list[tuple[bool, float]]] = {}
    for ok, conf in zip(correct, confidences, strict=True):
        bins.setdefault(min(int(conf * CALIBRATION_BINS), CALIBRATION_BINS - 1), []).append(
            (ok, conf)
        )
    total = len(correct)
    error = 0.0
    for members in bins.values():
        accuracy = sum(ok for ok, _ in members) / len(members)
        mean_conf = sum(conf for _, conf in members) / len(members)
        error += len(members) / total * abs(accuracy - mean_conf)
    return error
