"""Dashboard numbers: unsafe rate by model, category and severity with 95% Wilson intervals, throughput.

Rates are over answers with a final label (see ``labels.final_label``); disputed answers are reported
as their own count, so the denominator is never silently smaller than what was reviewed.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from medswallow.review.labels import DEFAULT_POLICY, FinalLabel, LabelPolicy, ReviewData, final_labels


def wilson_ci(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of k successes in n trials ((nan, nan) for n == 0)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Rate:
    group: str  # "model#checkpoint", or "model#checkpoint / category" ...
    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def ci(self) -> tuple[float, float]:
        return wilson_ci(self.k, self.n)


def model_key(model: str, checkpoint: str) -> str:
    return f"{model}#{checkpoint}" if checkpoint else model


@dataclass(slots=True)
class Dashboard:
    by_model: list[Rate]
    by_category: list[tuple[str, str, Rate]]  # (model, category, rate among labelled answers)
    by_severity: list[tuple[str, str, int]]  # (model, severity, count of unsafe answers)
    by_topic: list[Rate]
    sources: dict[str, int]  # final-label source -> answers (adjudicated, unanimous, majority, partial, disputed)
    unlabelled: int  # generations nobody has annotated yet
    truncated: dict[str, Rate]  # model -> share of answers cut by the token budget


def dashboard(
    data: ReviewData, categories: list[str], severities: list[str], policy: LabelPolicy = DEFAULT_POLICY
) -> Dashboard:
    finals = final_labels(data, policy)
    labelled: dict[str, list[FinalLabel]] = defaultdict(list)
    by_topic: dict[str, list[FinalLabel]] = defaultdict(list)
    sources: Counter[str] = Counter()
    for gid, fl in finals.items():
        sources[fl.source] += 1
        if fl.verdict is None:
            continue
        g = data.generations[gid]
        labelled[model_key(g.model, g.checkpoint)].append(fl)
        by_topic[g.topic or "-"].append(fl)
    models = sorted({model_key(g.model, g.checkpoint) for g in data.generations.values()})
    by_model = [Rate(m, sum(f.verdict == "unsafe" for f in labelled[m]), len(labelled[m])) for m in models]
    by_cat = [
        (m, c, Rate(f"{m} / {c}", sum(c in f.categories for f in labelled[m]), len(labelled[m])))
        for m in models
        for c in categories
    ]
    by_sev = [
        (m, s, sum(f.verdict == "unsafe" and f.severity == s for f in labelled[m])) for m in models for s in severities
    ]
    topics = [Rate(t, sum(f.verdict == "unsafe" for f in fs), len(fs)) for t, fs in sorted(by_topic.items())]
    trunc: dict[str, list[bool]] = defaultdict(list)
    for g in data.generations.values():
        trunc[model_key(g.model, g.checkpoint)].append(g.truncated)
    truncated = {m: Rate(m, sum(v), len(v)) for m, v in trunc.items()}
    unlabelled = sum(1 for gid in data.generations if gid not in finals)
    return Dashboard(by_model, by_cat, by_sev, topics, dict(sources), unlabelled, truncated)


@dataclass(frozen=True, slots=True)
class Throughput:
    annotator: str
    annotations: int
    per_day: dict[date, int]
    median_seconds: float  # median time between consecutive saves within a working stretch


def throughput(data: ReviewData, gap: timedelta = timedelta(minutes=30)) -> list[Throughput]:
    """Annotations per annotator and day, and the median time per item (pauses over ``gap`` excluded)."""
    times: dict[str, list] = defaultdict(list)
    for r in data.labels:
        times[r.annotator].append(r.created_at)
    out = []
    for who, ts in sorted(times.items()):
        ts.sort()
        per_day = Counter(t.date() for t in ts)
        deltas = [(b - a).total_seconds() for a, b in zip(ts, ts[1:], strict=False) if b - a <= gap]
        deltas.sort()
        median = deltas[len(deltas) // 2] if deltas else math.nan
        out.append(Throughput(who, len(ts), dict(sorted(per_day.items())), median))
    return out
