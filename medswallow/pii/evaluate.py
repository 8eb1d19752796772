"""Scoring detected spans against gold spans: entity- and character-level precision/recall by label and language.

Entity level: a gold entity is *found* when at least 90% of its characters are covered by predicted spans
(of any label: what matters for redaction is that the characters disappear); a predicted span is *correct*
when at least half of its characters lie inside gold spans. ``typed`` recall additionally asks for the gold
label. Character level counts characters: covered gold characters / gold characters (recall), predicted
characters inside gold / predicted characters (precision).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from medswallow.records import Span

COVERAGE = 0.9
PRECISION_OVERLAP = 0.5


@dataclass
class Tally:
    """Counts behind one row of the report."""

    gold: int = 0
    found: int = 0
    found_typed: int = 0
    pred: int = 0
    correct: int = 0
    gold_chars: int = 0
    covered_chars: int = 0
    pred_chars: int = 0
    pred_in_gold_chars: int = 0

    def metrics(self) -> dict[str, Any]:
        def div(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        r, p = div(self.found, self.gold), div(self.correct, self.pred)
        f1 = round(2 * p * r / (p + r), 4) if p and r else None
        return {
            "entity": {"recall": r, "precision": p, "f1": f1, "recall_typed": div(self.found_typed, self.gold),
                       "gold": self.gold, "found": self.found, "pred": self.pred, "correct": self.correct},
            "char": {"recall": div(self.covered_chars, self.gold_chars), "precision": div(self.pred_in_gold_chars, self.pred_chars),
                     "gold_chars": self.gold_chars, "pred_chars": self.pred_chars},
        }


@dataclass
class Report:
    """Metrics overall, by document language, by label (gold label for recall, predicted for precision)."""

    overall: Tally = field(default_factory=Tally)
    by_lang: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_label: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_kind: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    n_docs: int = 0
    misses: list[dict[str, Any]] = field(default_factory=list)
    false_positives: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_docs": self.n_docs,
            "coverage_threshold": COVERAGE,
            "precision_overlap": PRECISION_OVERLAP,
            "overall": self.overall.metrics(),
            "by_lang": {k: v.metrics() for k, v in sorted(self.by_lang.items())},
            "by_label": {k: v.metrics() for k, v in sorted(self.by_label.items())},
            "by_kind": {k: v.metrics() for k, v in sorted(self.by_kind.items())},
        }


def _mask(spans: Iterable[tuple[int, int]], n: int) -> bytearray:
    m = bytearray(n)
    for s, e in spans:
        m[max(0, s) : min(n, e)] = b"\x01" * max(0, min(n, e) - max(0, s))
    return m


def score_document(
    report: Report, text: str, gold: Sequence[dict[str, Any]], pred: Sequence[Span], lang: str, kind: str = "", doc_id: str = ""
) -> None:
    """Add one document's counts to ``report`` (misses and false positives keep offsets and labels, not text)."""
    n = len(text)
    pred_mask = _mask(((p.start, p.end) for p in pred), n)
    gold_mask = _mask(((g["start"], g["end"]) for g in gold), n)
    by_label_pred: dict[str, bytearray] = {}
    for p in pred:
        by_label_pred.setdefault(p.label, bytearray(n))
        by_label_pred[p.label][p.start : p.end] = b"\x01" * (p.end - p.start)
    rows = [report.overall, report.by_lang[lang]] + ([report.by_kind[kind]] if kind else [])
    report.n_docs += 1
    for g in gold:
        s, e, label = g["start"], g["end"], g["label"]
        length = max(1, e - s)
        covered = sum(pred_mask[s:e])
        typed = sum(by_label_pred.get(label, bytearray(n))[s:e])
        found = covered >= COVERAGE * length
        for row in (*rows, report.by_label[label]):
            row.gold += 1
            row.found += found
            row.found_typed += typed >= COVERAGE * length
            row.gold_chars += e - s
            row.covered_chars += covered
        if not found:
            report.misses.append({"id": doc_id, "start": s, "end": e, "label": label, "covered": round(covered / length, 2)})
    for p in pred:
        length = max(1, p.end - p.start)
        inside = sum(gold_mask[p.start : p.end])
        correct = inside >= PRECISION_OVERLAP * length
        for row in (*rows, report.by_label[p.label]):
            row.pred += 1
            row.correct += correct
            row.pred_chars += p.end - p.start
            row.pred_in_gold_chars += inside
        if not correct:
            report.false_positives.append({"id": doc_id, "start": p.start, "end": p.end, "label": p.label})
