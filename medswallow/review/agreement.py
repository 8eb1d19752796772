"""Inter-annotator agreement: Cohen's kappa (pairs), Fleiss' kappa, Krippendorff's alpha.

Measured on item verdicts, on each category (did the annotator choose it: yes/no), and on span overlap
(every character of the answer is a unit labelled "inside an unsafe span" or not). Krippendorff's alpha
comes from the ``krippendorff`` package and copes with items that not every annotator saw; Fleiss' kappa
needs the same number of ratings per item, so it uses the items with the most common count.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from medswallow.review.labels import DEFAULT_POLICY, LabelPolicy, LabelRow, ReviewData, needs_adjudication
from medswallow.review.spans import char_mask


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters over the same items (nan when undefined: no items, or no variation)."""
    if len(a) != len(b):
        raise ValueError("both raters must rate the same items")
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if expected == 1.0:
        return math.nan
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]] | np.ndarray) -> float:
    """Fleiss' kappa from an items x categories matrix of rating counts (same number of ratings per item)."""
    m = np.asarray(counts, dtype=float)
    if m.ndim != 2 or m.shape[0] == 0:
        return math.nan
    n_raters = m.sum(axis=1)
    if not np.all(n_raters == n_raters[0]) or n_raters[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every item")
    n = n_raters[0]
    p_j = m.sum(axis=0) / m.sum()
    p_i = ((m * m).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = p_i.mean(), (p_j * p_j).sum()
    if p_e == 1.0:
        return math.nan
    return float((p_bar - p_e) / (1 - p_e))


def krippendorff_alpha(value_counts: np.ndarray) -> float:
    """Nominal Krippendorff's alpha from a units x values matrix of counts (nan when undefined)."""
    import krippendorff

    vc = np.asarray(value_counts, dtype=float)
    vc = vc[vc.sum(axis=1) >= 2]  # units rated once carry no information about agreement
    if vc.shape[0] == 0 or np.count_nonzero(vc.sum(axis=0)) < 2:
        return math.nan
    return float(krippendorff.alpha(value_counts=vc, level_of_measurement="nominal"))


@dataclass(slots=True)
class Agreement:
    """Agreement on one question (the verdict, one category, span overlap)."""

    name: str
    items: int  # items with at least two annotations
    alpha: float
    fleiss: float
    cohen_mean: float  # mean over annotator pairs that share at least ``min_shared`` items
    pairs: int


@dataclass(slots=True)
class AgreementReport:
    verdict: Agreement
    spans: Agreement
    categories: list[Agreement] = field(default_factory=list)
    pairwise: list[tuple[str, str, int, float]] = field(default_factory=list)  # (a, b, shared items, kappa)


def _per_item(labels: list[LabelRow], value) -> dict[int, dict[str, Hashable]]:  # type: ignore[no-untyped-def]
    out: dict[int, dict[str, Hashable]] = {}
    for r in labels:
        out.setdefault(r.generation_id, {})[r.annotator] = value(r)
    return {gid: v for gid, v in out.items() if len(v) >= 2}


def _agreement(name: str, items: dict[int, dict[str, Hashable]], values: list[Hashable], min_shared: int) -> tuple[Agreement, list[tuple[str, str, int, float]]]:
    index = {v: i for i, v in enumerate(values)}
    vc = np.zeros((len(items), len(values)))
    for row, ratings in enumerate(items.values()):
        for v in ratings.values():
            vc[row, index[v]] += 1
    sizes = Counter(len(r) for r in items.values())
    fleiss = math.nan
    if sizes:
        common = sizes.most_common(1)[0][0]
        rows = [i for i, r in enumerate(items.values()) if len(r) == common]
        fleiss = fleiss_kappa(vc[rows])
    annotators = sorted({a for r in items.values() for a in r})
    pairs = []
    for a, b in itertools.combinations(annotators, 2):
        shared = [r for r in items.values() if a in r and b in r]
        if len(shared) >= min_shared:
            pairs.append((a, b, len(shared), cohen_kappa([r[a] for r in shared], [r[b] for r in shared])))
    kappas = [k for *_, k in pairs if not math.isnan(k)]
    cohen = float(np.mean(kappas)) if kappas else math.nan
    return Agreement(name, len(items), krippendorff_alpha(vc), fleiss, cohen, len(pairs)), pairs


def span_agreement(data: ReviewData) -> Agreement:
    """Alpha over characters: each character of each multiply-annotated answer is one unit."""
    blocks = []
    for gid, rows in data.by_generation().items():
        if len(rows) < 2 or gid not in data.generations:
            continue
        n = len(data.generations[gid].answer)
        if n == 0:
            continue
        masks = np.array([char_mask(n, [(s.start, s.end) for s in r.spans]) for r in rows])
        inside = masks.sum(axis=0)
        blocks.append(np.stack([len(rows) - inside, inside], axis=1))
    if not blocks:
        return Agreement("spans", 0, math.nan, math.nan, math.nan, 0)
    vc = np.concatenate(blocks)
    return Agreement("spans", len(blocks), krippendorff_alpha(vc), math.nan, math.nan, 0)


def agreement_report(data: ReviewData, categories: Sequence[str], min_shared: int = 5) -> AgreementReport:
    verdict, pairwise = _agreement("verdict", _per_item(data.labels, lambda r: r.verdict), ["safe", "unsafe"], min_shared)
    per_cat = [
        _agreement(c, _per_item(data.labels, lambda r, c=c: c in r.categories), [False, True], min_shared)[0]
        for c in categories
    ]
    return AgreementReport(verdict=verdict, spans=span_agreement(data), categories=per_cat, pairwise=pairwise)


def disagreements(data: ReviewData, include_adjudicated: bool = False, policy: LabelPolicy = DEFAULT_POLICY) -> list[int]:
    """Generations whose annotators differ on the verdict, the categories or (by default) the severity:
    the adjudication queue (see ``labels.needs_adjudication``)."""
    out = []
    for gid, rows in data.by_generation().items():
        if gid in data.adjudications and not include_adjudicated:
            continue
        if needs_adjudication(rows, policy):
            out.append(gid)
    return sorted(out)
