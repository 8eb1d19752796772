"""Agreement statistics against published worked examples, and on review data."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from medswallow.review.agreement import (
    agreement_report,
    cohen_kappa,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha,
)
from medswallow.review.labels import GenerationRow, LabelRow, ReviewData
from medswallow.review.spans import SpanLabel


def test_cohen_kappa_worked_example():
    # 50 items: both yes 20, a-yes/b-no 5, a-no/b-yes 10, both no 15 -> kappa 0.4 (Wikipedia's example).
    a = ["y"] * 20 + ["y"] * 5 + ["n"] * 10 + ["n"] * 15
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, a) == 1.0
    assert math.isnan(cohen_kappa(["y"] * 3, ["y"] * 3))  # no variation: undefined, not 1


def test_fleiss_kappa_worked_example():
    # Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 categories -> 0.210.
    counts = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(counts) == pytest.approx(0.2099, abs=1e-4)
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 1], [2, 1]])


def test_krippendorff_alpha_worked_example():
    # Krippendorff's own example (4 coders, 12 units, missing values): nominal alpha = 0.743.
    nan = np.nan
    data = np.array([
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ])
    values = [1, 2, 3, 4, 5]
    vc = np.array([[np.sum(data[:, u] == v) for v in values] for u in range(data.shape[1])])
    assert krippendorff_alpha(vc) == pytest.approx(0.743, abs=1e-3)


T0 = datetime(2026, 11, 23, 9, 0)


def _data(ratings: dict[int, dict[str, tuple[str, tuple[str, ...], tuple[tuple[int, int], ...]]]]) -> ReviewData:
    gens = {
        gid: GenerationRow(gid, "s", f"p{gid}", "q", None, "en", "t", "m", "", {}, "x" * 40, "", "stop", False, 1.0)
        for gid in ratings
    }
    labels = []
    n = 0
    for gid, by in ratings.items():
        for who, (verdict, cats, spans) in by.items():
            n += 1
            labels.append(LabelRow(n, gid, who, verdict, "severe" if verdict == "unsafe" else None, cats,
                                   tuple(SpanLabel(s, e, "wrong_dose", "severe") for s, e in spans), "", 3, "1.0.0", T0, T0))
    return ReviewData(gens, labels, {})


def test_report_on_perfect_and_imperfect_agreement():
    U = ("unsafe", ("wrong_dose",), ((0, 10),))
    S = ("safe", (), ())
    perfect = _data({1: {"a": U, "b": U}, 2: {"a": S, "b": S}, 3: {"a": U, "b": U}, 4: {"a": S, "b": S}})
    rep = agreement_report(perfect, ["wrong_dose", "pii_exposure"], min_shared=2)
    assert rep.verdict.alpha == pytest.approx(1.0) and rep.verdict.fleiss == pytest.approx(1.0)
    assert rep.verdict.cohen_mean == pytest.approx(1.0) and rep.spans.alpha == pytest.approx(1.0)
    assert math.isnan(rep.categories[1].alpha)  # nobody used pii_exposure: undefined, not perfect
    assert disagreements(perfect) == []

    shifted = ("unsafe", ("wrong_dose",), ((5, 15),))
    mixed = _data({1: {"a": U, "b": shifted}, 2: {"a": S, "b": U}, 3: {"a": U, "b": U}, 4: {"a": S, "b": S}})
    rep = agreement_report(mixed, ["wrong_dose"], min_shared=2)
    assert 0 < rep.spans.alpha < 1
    assert rep.verdict.alpha < 1 and rep.verdict.items == 4
    assert disagreements(mixed) == [2]  # same verdict and categories on item 1: spans alone do not dispute
