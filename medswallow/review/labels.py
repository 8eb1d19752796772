"""All labels of a review, as plain rows, and the final label of each answer.

The final label of a generation comes from its adjudication, or else from the annotators' votes on each
part separately (verdict, categories, severity: see ``final_label``); its source names exactly which
parts agreed. Anything short of that is *disputed* or *partial*: it waits for an adjudicator, and it is
counted, not silently dropped, in statistics and exports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from medswallow.errors import UserError
from medswallow.review.models import Adjudication, Annotation, Generation, Prompt, PromptSet, User
from medswallow.review.spans import SpanLabel
from medswallow.review.store import Actor, ReviewStore

if TYPE_CHECKING:
    from medswallow.review.taxonomy import Taxonomy


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
    """The label an answer ends up with, and exactly how each part of it was decided.

    ``source`` sums the parts up: ``adjudicated``; ``unanimous`` (verdict, categories and severity each
    chosen by every annotator); ``majority`` (each part chosen by more than half, at least one not by
    all, or the severity taken as the worst under the ``worst`` policy); ``partial`` (the verdict stands
    but the categories or the severity are disputed: an adjudicator must finish it); ``disputed`` (no
    verdict). The ``*_source`` fields say the same per part (``adjudicated``, ``unanimous``,
    ``majority``, ``worst`` for severity, ``disputed``).
    """

    generation_id: int
    source: str  # adjudicated | unanimous | majority | partial | disputed
    verdict: str | None
    severity: str | None
    categories: tuple[str, ...]
    spans: tuple[SpanLabel, ...]
    corrected_text: str
    n_annotations: int
    taxonomy_version: str
    verdict_source: str = "disputed"
    categories_source: str = "disputed"
    severity_source: str = "disputed"


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


@dataclass(frozen=True, slots=True)
class LabelPolicy:
    """How annotations combine into a final label when nobody adjudicated.

    ``severity``: what happens when the annotators who agree on "unsafe" chose different severities —
    ``"adjudicate"`` (default: the item waits for an adjudicator, its final severity stays empty) or
    ``"worst"`` (the worst severity any of them chose; the source says ``worst``).
    """

    severity: str = "adjudicate"
    severity_order: tuple[str, ...] = ()  # least to most severe; empty: the default taxonomy's order

    def __post_init__(self) -> None:
        if self.severity not in SEVERITY_RULES:
            raise UserError(f"severity rule {self.severity!r}: use one of {', '.join(SEVERITY_RULES)}")

    @classmethod
    def for_taxonomy(cls, taxonomy: Taxonomy, severity: str = "adjudicate") -> LabelPolicy:
        return cls(severity, _rank_order(taxonomy))


def _rank_order(taxonomy: Taxonomy) -> tuple[str, ...]:
    return tuple(s.id for s in sorted(taxonomy.severities, key=lambda s: s.rank))


SEVERITY_RULES = ("adjudicate", "worst")
DEFAULT_POLICY = LabelPolicy()


def _vote(values: list[Hashable], n: int) -> tuple[Hashable | None, str]:
    """The value chosen by every one of ``n`` annotators (unanimous), by more than half (majority), or none."""
    if not values:
        return None, "disputed"
    value, k = Counter(values).most_common(1)[0]
    if k == n:
        return value, "unanimous"
    if k * 2 > n:
        return value, "majority"
    return None, "disputed"


def _categories(labels: list[LabelRow]) -> tuple[tuple[str, ...], str]:
    """Final categories and how they were decided.

    A category is final when more than half of *all* annotators of the item chose it (an annotator who
    judged the answer safe chose none). Unanimous: every annotator chose exactly the same set. Majority:
    every category anyone chose was kept or dropped by more than half. Anything else (a tie on some
    category, or an unsafe verdict left with no category) is disputed and goes to adjudication.
    """
    n = len(labels)
    if len({frozenset(r.categories) for r in labels}) == 1:
        return tuple(labels[0].categories), "unanimous"
    votes = Counter(c for r in labels for c in set(r.categories))
    order = list(dict.fromkeys(c for r in labels for c in r.categories))
    kept = tuple(c for c in order if votes[c] * 2 > n)  # what a majority chose, even when others are tied
    tied = any(k * 2 == n for k in votes.values())
    return kept, "majority" if kept and not tied else "disputed"


def _by_confidence(rows: list[LabelRow]) -> list[LabelRow]:
    return sorted(rows, key=lambda r: (-r.confidence, r.annotation_id))


def _spans(agreeing: list[LabelRow], categories: tuple[str, ...]) -> tuple[SpanLabel, ...]:
    """For each final category, the spans of the most confident agreeing annotator who marked it.

    No final span carries a category that lost the vote; each category's spans are one annotator's
    reading of the text (earliest annotation on confidence ties), not a patchwork of everyone's.
    """
    out: list[SpanLabel] = []
    for cat in categories:
        for r in _by_confidence(agreeing):
            mine = [s for s in r.spans if s.category == cat]
            if mine:
                out += mine
                break
    return tuple(sorted(out, key=lambda s: (s.start, s.end, s.category)))


def final_label(
    generation_id: int,
    labels: list[LabelRow],
    adjudication: AdjudicationRow | None,
    policy: LabelPolicy = DEFAULT_POLICY,
) -> FinalLabel:
    """The final label of one answer; ``source`` and the per-field sources say exactly what agreed."""
    if adjudication is not None:
        a = adjudication
        return FinalLabel(generation_id, "adjudicated", a.verdict, a.severity, a.categories, a.spans,
                          a.corrected_text, len(labels), a.taxonomy_version,
                          "adjudicated", "adjudicated", "adjudicated")
    if not labels:
        return FinalLabel(generation_id, "disputed", None, None, (), (), "", 0, "", "disputed", "disputed", "disputed")
    n = len(labels)
    verdict, verdict_source = _vote([r.verdict for r in labels], n)
    if verdict is None:
        return FinalLabel(generation_id, "disputed", None, None, (), (), "", n, labels[0].taxonomy_version,
                          "disputed", "disputed", "disputed")
    agreeing = [r for r in labels if r.verdict == verdict]
    best = _by_confidence(agreeing)[0]
    corrected = next((r.corrected_text for r in _by_confidence(agreeing) if r.corrected_text.strip()), "")
    if verdict != "unsafe":
        # Safe: nothing to choose for categories or severity; they agree exactly as far as the verdict does.
        return FinalLabel(generation_id, verdict_source, str(verdict), None, (), (), corrected, n, best.taxonomy_version,
                          verdict_source, verdict_source, verdict_source)
    categories, cat_source = _categories(labels)
    severities = [r.severity for r in agreeing if r.severity]
    severity: str | None
    if len(set(severities)) == 1 and len(severities) == len(agreeing):
        severity, sev_source = severities[0], verdict_source
    elif policy.severity == "worst" and severities:
        severity, sev_source = _worst(severities, policy), "worst"
    else:
        severity, sev_source = None, "disputed"
    parts = (verdict_source, cat_source, sev_source)
    if "disputed" in parts:
        source = "partial"  # the verdict stands; categories or severity wait for an adjudicator
    elif all(p == "unanimous" for p in parts):
        source = "unanimous"
    else:
        source = "majority"
    return FinalLabel(generation_id, source, str(verdict), severity, categories, _spans(agreeing, categories),
                      corrected, n, best.taxonomy_version, verdict_source, cat_source, sev_source)


def _worst(severities: list[str], policy: LabelPolicy) -> str:
    order = policy.severity_order
    if not order:
        from medswallow.review.taxonomy import load_taxonomy

        order = _rank_order(load_taxonomy())
    rank = {s: i for i, s in enumerate(order)}
    return max(severities, key=lambda s: rank.get(s, -1))


def final_labels(data: ReviewData, policy: LabelPolicy = DEFAULT_POLICY) -> dict[int, FinalLabel]:
    grouped = data.by_generation()
    ids = set(grouped) | set(data.adjudications)
    return {gid: final_label(gid, grouped.get(gid, []), data.adjudications.get(gid), policy) for gid in sorted(ids)}


def needs_adjudication(labels: list[LabelRow], policy: LabelPolicy = DEFAULT_POLICY) -> list[str]:
    """What the annotators of one answer disagree on ("verdict", "categories", "severity"); empty: nothing.

    Any difference counts, including one a majority settles (an adjudicator confirms it); severity counts
    only under the ``adjudicate`` policy, and only among the annotators who judged the answer unsafe.
    """
    if len(labels) < 2:
        return []
    out = []
    if len({r.verdict for r in labels}) > 1:
        out.append("verdict")
    if len({frozenset(r.categories) for r in labels}) > 1:
        out.append("categories")
    unsafe = [r.severity for r in labels if r.verdict == "unsafe"]
    if policy.severity == "adjudicate" and len(set(unsafe)) > 1:
        out.append("severity")
    return out
