"""All labels of a review, as plain rows, and the final label of each answer.

The final label of a generation comes from, in order: its adjudication; the annotators' unanimous
verdict; a strict majority of them. Anything else is *disputed*: it has no final label until an
adjudicator decides, and it is counted, not silently dropped, in statistics and exports.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from medswallow.review.models import Adjudication, Annotation, Generation, Prompt, PromptSet, User
from medswallow.review.spans import SpanLabel
from medswallow.review.store import Actor, ReviewStore


@dataclass(frozen=True, slots=True)
class LabelRow:
    """One annotation with what it is about (for agreement, statistics and export)."""

    annotation_id: int
    generation_id: int
    annotator: str
    verdict: str
    severity: str | None
    categories: tuple[str, ...]
    spans: tuple[SpanLabel, ...]
    corrected_text: str
    confidence: int
    taxonomy_version: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class GenerationRow:
    generation_id: int
    prompt_set: str
    prompt_id: str
    prompt: str
    system: str | None
    lang: str
    topic: str
    model: str
    checkpoint: str
    sampling: dict[str, Any]
    answer: str
    reasoning: str
    finish_reason: str
    truncated: bool
    latency_s: float


@dataclass(frozen=True, slots=True)
class FinalLabel:
    generation_id: int
    source: str  # adjudicated | unanimous | majority | disputed
    verdict: str | None
    severity: str | None
    categories: tuple[str, ...]
    spans: tuple[SpanLabel, ...]
    corrected_text: str
    n_annotations: int
    taxonomy_version: str


@dataclass(frozen=True, slots=True)
class AdjudicationRow:
    generation_id: int
    adjudicator: str
    verdict: str
    severity: str | None
    categories: tuple[str, ...]
    spans: tuple[SpanLabel, ...]
    corrected_text: str
    note: str
    taxonomy_version: str


@dataclass(slots=True)
class ReviewData:
    generations: dict[int, GenerationRow]
    labels: list[LabelRow]
    adjudications: dict[int, AdjudicationRow]

    def by_generation(self) -> dict[int, list[LabelRow]]:
        out: dict[int, list[LabelRow]] = {}
        for row in self.labels:
            out.setdefault(row.generation_id, []).append(row)
        return out


def load_review(store: ReviewStore, actor: Actor, prompt_set: str | None = None) -> ReviewData:
    """Every generation, annotation and adjudication (optionally of one prompt set)."""
    actor.require("view_all_labels")
    with store.read() as session:
        q = (
            select(Generation, Prompt, PromptSet.name)
            .join(Prompt, Prompt.id == Generation.prompt_id)
            .join(PromptSet, PromptSet.id == Prompt.prompt_set_id)
        )
        if prompt_set:
            q = q.where(PromptSet.name == prompt_set)
        gens = {
            g.id: GenerationRow(
                g.id, sname, p.external_id, p.text, p.system, p.lang, p.topic, g.model, g.checkpoint,
                dict(g.sampling), g.text, g.reasoning, g.finish_reason, g.truncated, g.latency_s,
            )
            for g, p, sname in session.execute(q.order_by(Generation.id))
        }
        labels = [
            LabelRow(
                a.id, a.generation_id, name, a.verdict, a.severity, tuple(a.categories),
                tuple(SpanLabel.from_dict(s) for s in a.spans), a.corrected_text, a.confidence,
                a.taxonomy_version, a.created_at, a.updated_at,
            )
            for a, name in session.execute(
                select(Annotation, User.username).join(User, User.id == Annotation.annotator_id).order_by(Annotation.id)
            )
            if a.generation_id in gens
        ]
        adjs = {
            a.generation_id: AdjudicationRow(
                a.generation_id, name, a.verdict, a.severity, tuple(a.categories),
                tuple(SpanLabel.from_dict(s) for s in a.spans), a.corrected_text, a.note, a.taxonomy_version,
            )
            for a, name in session.execute(select(Adjudication, User.username).join(User, User.id == Adjudication.adjudicator_id))
            if a.generation_id in gens
        }
    return ReviewData(gens, labels, adjs)


def final_label(generation_id: int, labels: list[LabelRow], adjudication: AdjudicationRow | None) -> FinalLabel:
    if adjudication is not None:
        a = adjudication
        return FinalLabel(generation_id, "adjudicated", a.verdict, a.severity, a.categories, a.spans,
                          a.corrected_text, len(labels), a.taxonomy_version)
    if not labels:
        return FinalLabel(generation_id, "disputed", None, None, (), (), "", 0, "")
    votes = Counter(r.verdict for r in labels)
    verdict, n = votes.most_common(1)[0]
    if n == len(labels):
        source = "unanimous"
    elif n * 2 > len(labels):
        source = "majority"
    else:
        return FinalLabel(generation_id, "disputed", None, None, (), (), "", len(labels), labels[0].taxonomy_version)
    agreeing = [r for r in labels if r.verdict == verdict]
    # Categories that a majority of the agreeing annotators chose; spans and correction from the most
    # confident agreeing annotator (earliest on ties) — one coherent answer, not a patchwork.
    cat_votes = Counter(c for r in agreeing for c in r.categories)
    categories = tuple(c for c, k in cat_votes.items() if k * 2 > len(agreeing)) or tuple(
        c for c, _ in cat_votes.most_common(1)
    )
    best = sorted(agreeing, key=lambda r: (-r.confidence, r.annotation_id))[0]
    severities = [r.severity for r in agreeing if r.severity]
    severity = Counter(severities).most_common(1)[0][0] if severities else None
    corrected = next((r.corrected_text for r in sorted(agreeing, key=lambda r: (-r.confidence, r.annotation_id)) if r.corrected_text.strip()), "")
    return FinalLabel(generation_id, source, verdict, severity, categories if verdict == "unsafe" else (),
                      best.spans if verdict == "unsafe" else (), corrected, len(labels), best.taxonomy_version)


def final_labels(data: ReviewData) -> dict[int, FinalLabel]:
    grouped = data.by_generation()
    ids = set(grouped) | set(data.adjudications)
    return {gid: final_label(gid, grouped.get(gid, []), data.adjudications.get(gid)) for gid in sorted(ids)}
