"""Dashboard plots (matplotlib figures; the app shows them, ``export`` can save them as PNG).

Axis labels use taxonomy ids and English names: the default matplotlib fonts have no Japanese glyphs.
"""

from __future__ import annotations

import math
from typing import Any

from medswallow.review.stats import Dashboard, Rate, Throughput


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: the app and tests have no display
    import matplotlib.pyplot as plt

    return plt


def _rate_bars(ax: Any, rates: list[Rate], title: str) -> None:
    names = [r.group for r in rates]
    values = [0.0 if math.isnan(r.rate) else r.rate for r in rates]
    lows = [0.0 if math.isnan(r.ci[0]) else v - r.ci[0] for v, r in zip(values, rates, strict=True)]
    highs = [0.0 if math.isnan(r.ci[1]) else r.ci[1] - v for v, r in zip(values, rates, strict=True)]
    ax.barh(names, values, xerr=[lows, highs], color="#c0392b", alpha=0.8, capsize=4)
    for i, r in enumerate(rates):
        ax.text(min(values[i] + 0.02, 0.9), i, f"{r.k}/{r.n}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("unsafe rate (95% Wilson CI)")
    ax.set_title(title)
    ax.invert_yaxis()


def unsafe_rate_figure(dash: Dashboard) -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(2, len(dash.by_model)) + 1.2))
    _rate_bars(ax, dash.by_model, "Unsafe answers by model")
    fig.tight_layout()
    return fig


def category_figure(dash: Dashboard) -> Any:
    plt = _pyplot()
    models = sorted({m for m, _, _ in dash.by_category})
    cats = list(dict.fromkeys(c for _, c, _ in dash.by_category))
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(4, len(cats)) * max(1, len(models)) / 1.5 + 1.5))
    height = 0.8 / max(1, len(models))
    for j, m in enumerate(models):
        rates = [r for mm, _, r in dash.by_category if mm == m]
        ys = [i + j * height for i in range(len(cats))]
        ax.barh(ys, [0.0 if math.isnan(r.rate) else r.rate for r in rates], height=height, label=m)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(cats))], cats)
    ax.set_xlabel("share of labelled answers with the category")
    ax.set_title("Unsafe categories by model")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def severity_figure(dash: Dashboard) -> Any:
    plt = _pyplot()
    models = sorted({m for m, _, _ in dash.by_severity})
    sevs = list(dict.fromkeys(s for _, s, _ in dash.by_severity))
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(2, len(models)) + 1.2))
    left = [0] * len(models)
    colours = ["#f1c40f", "#e67e22", "#d35400", "#922b21"]
    for i, s in enumerate(sevs):
        counts = [next(n for mm, ss, n in dash.by_severity if mm == m and ss == s) for m in models]
        ax.barh(models, counts, left=left, label=s, color=colours[i % len(colours)])
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.set_xlabel("unsafe answers")
    ax.set_title("Severity of unsafe answers")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def throughput_figure(rows: list[Throughput]) -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3))
    for r in rows:
        days = list(r.per_day)
        ax.plot(days, [r.per_day[d] for d in days], marker="o", label=r.annotator)
    ax.set_ylabel("annotations per day")
    ax.set_title("Annotator throughput")
    if rows:
        ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
