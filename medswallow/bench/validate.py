"""``medswallow eval validate``: load a benchmark and count what is in it, as one JSON object.

The counts are the ones the benchmark's documentation states (items, answers per item, voided items,
text-only subset, categories), so a check against the published numbers catches a wrong file or a loader
regression before any model time is spent.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from medswallow.bench.registry import get_task


def _sorted_counts(counter: Counter[int]) -> dict[str, int]:
    """Integer keys in numeric order, as strings (JSON object keys)."""
    return {str(k): counter[k] for k in sorted(counter)}


def benchmark_counts(task_name: str, path_or_hf_id: str) -> dict[str, Any]:
    """Counts over every item in the files (``items``) and over the items that are scored (``scored``).

    ``by_answers`` counts the answers each item lists as published (107_888-26's ``["d", ",", "e"]``
    counts 3 there); ``by_gold_size`` counts the normalised answer set of the scored items. ``scored`` is
    what the robust accuracy counts (no voided, excluded or exam-excluded item); ``scored_official`` what
    the benchmark's own evaluator counts (every item in its file).
    """
    task = get_task(task_name)
    loaded = task.load(str(path_or_hf_id))
    every = loaded.samples + [s for s, _ in loaded.excluded]
    scored = [s for s in loaded.samples if not s.voided and not s.meta.get("excluded_by_exam")]
    warnings = [
        {"id": s.id, "where": s.where, "warning": s.meta["warning"]} for s in every if "warning" in s.meta
    ]
    out: dict[str, Any] = {
        "task": task.name,
        "source": str(path_or_hf_id),
        "items": len(every),
        "scored": len(scored),
        "scored_official": len(every),
        "voided": sum(s.voided for s in loaded.samples),
        "voided_ids": sorted(s.id for s in loaded.samples if s.voided),
        "excluded": len(loaded.excluded),
        "excluded_by_exam": sorted(s.id for s in every if s.meta.get("excluded_by_exam")),
        "excluded_ids": {s.id: why for s, why in loaded.excluded},
        "by_answers": _sorted_counts(
            Counter(int(s.meta.get("published_answers", len(s.gold))) for s in every)
        ),
        "by_gold_size": _sorted_counts(Counter(len(s.gold) for s in scored)),
        "text_only": sum(s.text_only for s in every),
        "not_text_only": sum(not s.text_only for s in every),
        "figure": sum(not s.text_only for s in every),
        "figure_choices": sum(bool(s.meta.get("figure_choices")) for s in every),
        "numeric_entry": sum(not s.labels for s in every),
        "answer_boxes": {s.id: s.meta["numeric_gold"] for s in every if "answer_boxes" in s.meta},
        "any_n": {s.id: s.meta["any_n"] for s in every if "any_n" in s.meta},
        "duplicates": {s.id: s.meta["duplicate_of"] for s in every if "duplicate_of" in s.meta},
        "contraindicated_items": sum(bool(s.meta.get("contraindicated")) for s in every),
        "by_n_choices": _sorted_counts(Counter(len(s.choices) for s in every)),
        "by_category": dict(sorted(Counter(s.category for s in every if s.category).items())),
        "by_exam": dict(sorted(Counter(str(s.meta["exam"]) for s in every if "exam" in s.meta).items())),
        "always_correct": sorted(s.id for s in every if s.always_correct),
        "alternative_answers": {s.id: s.accepted for s in every if s.accepted},
        "warnings": len(warnings),
        "warning_examples": warnings[:5],
    }
    return out
