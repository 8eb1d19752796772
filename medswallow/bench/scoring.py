"""From per-item records to the numbers a report shows: accuracy over repeats, bootstrap CIs, breakdowns.

A record is one (item, repeat) answer: ``{"id", "repeat", "correct", "truncated", "error", "extracted_answer",
"category", "text_only", "points", ...}``. Items are the unit of resampling: the 95% CI is a seeded
percentile bootstrap over items of each item's mean correctness across repeats, so repeats narrow the CI
only as much as they reduce per-item noise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (seeded: the same data gives the same interval)."""
    import numpy as np

    if len(values) == 0:
        return (float("nan"), float("nan"))
    arr = np.asarray(values, dtype=float)
    if len(arr) == 1 or n_boot <= 0:
        m = float(arr.mean())
        return (m, m)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
    means = arr[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return (float(lo), float(hi))


def paired_bootstrap_diff(
    a: Sequence[float], b: Sequence[float], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of b - a over paired items, with a percentile bootstrap CI (items resampled together)."""
    import numpy as np

    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if len(diff) == 0:
        return (float("nan"), float("nan"), float("nan"))
    lo, hi = bootstrap_ci(diff.tolist(), n_boot=n_boot, seed=seed, level=level)
    return (float(diff.mean()), lo, hi)


def per_item_means(records: Iterable[dict[str, Any]], key: str = "correct") -> dict[str, float]:
    """Each item's mean of ``key`` over its repeats."""
    acc: dict[str, list[float]] = defaultdict(list)
    for r in records:
        acc[r["id"]].append(float(r[key]))
    return {i: sum(v) / len(v) for i, v in acc.items()}


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def _std(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5


def summarise(records: list[dict[str, Any]], n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Accuracy (mean over repeats, with spread), bootstrap CI, truncation/error/no-answer rates, breakdowns."""
    if not records:
        return {"n": 0, "accuracy": None, "ci95": [None, None], "repeats": 0}
    by_repeat: dict[int, list[float]] = defaultdict(list)
    for r in records:
        by_repeat[int(r.get("repeat", 0))].append(float(r["correct"]))
    repeat_acc = [_mean(v) for _, v in sorted(by_repeat.items())]
    items = per_item_means(records)
    lo, hi = bootstrap_ci(list(items.values()), n_boot=n_boot, seed=seed)
    n_rec = len(records)
    out: dict[str, Any] = {
        "n": len(items),
        "repeats": len(by_repeat),
        "accuracy": _mean(list(items.values())),
        "ci95": [lo, hi],
        "accuracy_per_repeat": repeat_acc,
        "accuracy_std": _std(repeat_acc),
        "truncation_rate": sum(bool(r.get("truncated")) for r in records) / n_rec,
        "error_rate": sum(bool(r.get("error")) for r in records) / n_rec,
        "no_answer_rate": sum(r.get("extracted_answer") is None for r in records) / n_rec,
    }
    if any("points" in r for r in records):
        got = defaultdict(list)
        for r in records:
            got[int(r.get("repeat", 0))].append(
                (float(r.get("points", 1.0)) * float(r["correct"]), float(r.get("points", 1.0)))
            )
        scores = [sum(s for s, _ in v) for v in got.values()]
        out["points"] = {"score": _mean(scores), "total": sum(t for _, t in next(iter(got.values())))}
    contra = [r for r in records if r.get("contraindicated")]
    if contra:
        hit = sum(_picked_contraindicated(r) for r in contra)
        out["contraindicated_choice_rate"] = hit / len(contra)
        out["contraindicated_items"] = len({r["id"] for r in contra})
        out["contraindicated_by_exam"] = contraindicated_by_exam(records)
    out["by_category"] = _breakdown(records, "category", n_boot, seed)
    text = [r for r in records if r.get("text_only", True)]
    if len(text) != len(records):
        ti = per_item_means(text)
        out["text_only"] = {"n": len(ti), "accuracy": _mean(list(ti.values()))}
    return out


KINKI_FAIL_AT = 4  # the licensing exam fails a candidate who picks 4 or more contraindicated choices (禁忌肢)


def _picked_contraindicated(r: dict[str, Any]) -> bool:
    return bool(set(r.get("extracted_answer") or []) & set(r.get("contraindicated") or []))


def contraindicated_by_exam(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per exam (112, 113, ...): contraindicated choices picked in each repeat, and whether that repeat
    would fail the exam's rule (4 or more)."""
    picks: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    items: dict[str, set[str]] = defaultdict(set)
    repeats = sorted({int(r.get("repeat", 0)) for r in records})
    for r in records:
        if not r.get("contraindicated"):
            continue
        exam = str(r.get("exam") or "all")
        items[exam].add(r["id"])
        picks[exam][int(r.get("repeat", 0))] += _picked_contraindicated(r)
    out = {}
    for exam in sorted(items):
        per_repeat = [picks[exam][k] for k in repeats]
        out[exam] = {
            "items": len(items[exam]),
            "picked_per_repeat": per_repeat,
            "fails_rule_per_repeat": [n >= KINKI_FAIL_AT for n in per_repeat],
        }
    return out


def _breakdown(records: list[dict[str, Any]], key: str, n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get(key):
            groups[str(r[key])].append(r)
    out = {}
    for name, recs in sorted(groups.items()):
        items = per_item_means(recs)
        lo, hi = bootstrap_ci(list(items.values()), n_boot=n_boot, seed=seed)
        out[name] = {"n": len(items), "accuracy": _mean(list(items.values())), "ci95": [lo, hi]}
    return out
