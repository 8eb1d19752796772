"""Adjudication: an adjudicator sees every annotation of a disputed answer and records the final label."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from medswallow.errors import UserError
from medswallow.review.labels import (
    DEFAULT_POLICY,
    FinalLabel,
    LabelPolicy,
    LabelRow,
    final_label,
    load_review,
    needs_adjudication,
)
from medswallow.review.models import Adjudication, Generation, Prompt, utcnow
from medswallow.review.queue import AnnotationInput, AnnotationView, annotations_for, normalise_input
from medswallow.review.store import Actor, NotFound, ReviewStore
from medswallow.review.taxonomy import Taxonomy


@dataclass(frozen=True, slots=True)
class AdjudicationItem:
    generation_id: int
    prompt: str
    reviewer_notes: str
    model: str
    checkpoint: str
    answer: str
    reasoning: str
    finish_reason: str
    annotations: tuple[AnnotationView, ...]
    existing: AnnotationView | None  # the current adjudication, shown in the same shape
    differs: tuple[str, ...] = ()  # what the annotators disagree on: verdict, categories, severity
    proposed: FinalLabel | None = None  # what the aggregation rules give without an adjudication


@dataclass(frozen=True, slots=True)
class SpanRow:
    """One marked span of one annotation, flat, for the adjudicator's side-by-side table."""

    annotator: str
    start: int
    end: int
    text: str  # the answer's characters start:end (what was marked)
    category: str
    severity: str
    note: str


def span_rows(item: AdjudicationItem) -> list[SpanRow]:
    """Every span of every annotation of ``item``, in text order, with its category, severity and note."""
    rows = [
        SpanRow(view.annotator, s.start, s.end, item.answer[s.start : s.end], s.category, s.severity, s.note)
        for view in item.annotations
        for s in view.spans
    ]
    return sorted(rows, key=lambda r: (r.start, r.end, r.annotator, r.category))


def queue(
    store: ReviewStore, actor: Actor, include_adjudicated: bool = False, policy: LabelPolicy = DEFAULT_POLICY
) -> list[int]:
    """Generations waiting for adjudication (annotators disagree on verdict, categories or severity), oldest first."""
    from medswallow.review.agreement import disagreements

    actor.require("adjudicate")
    return disagreements(load_review(store, actor), include_adjudicated=include_adjudicated, policy=policy)


def get_item(
    store: ReviewStore, actor: Actor, generation_id: int, policy: LabelPolicy = DEFAULT_POLICY
) -> AdjudicationItem:
    actor.require("adjudicate")
    views = annotations_for(store, actor, generation_id)
    rows = [_label_row(v) for v in views]
    with store.read() as session:
        gen = session.get(Generation, generation_id)
        if gen is None:
            raise NotFound(f"no generation {generation_id}")
        prompt = session.get(Prompt, gen.prompt_id)
        assert prompt is not None  # foreign key
        adj = session.scalar(select(Adjudication).where(Adjudication.generation_id == generation_id))
        existing = None
        if adj is not None:
            from medswallow.review.spans import SpanLabel

            existing = AnnotationView(
                adj.id, 0, generation_id, "adjudication", adj.verdict, adj.severity, tuple(adj.categories),
                tuple(SpanLabel.from_dict(s) for s in adj.spans), adj.corrected_text, 5, adj.note,
                adj.taxonomy_version, adj.revision, adj.updated_at,
            )
        return AdjudicationItem(
            generation_id, prompt.text, prompt.reviewer_notes, gen.model, gen.checkpoint, gen.text, gen.reasoning,
            gen.finish_reason, tuple(views), existing, tuple(needs_adjudication(rows, policy)),
            final_label(generation_id, rows, None, policy),
        )


def _label_row(v: AnnotationView) -> LabelRow:
    return LabelRow(v.id, v.generation_id, v.annotator, v.verdict, v.severity, v.categories, v.spans,
                    v.corrected_text, v.confidence, v.taxonomy_version, v.updated_at, v.updated_at)


def save_adjudication(
    store: ReviewStore, actor: Actor, generation_id: int, inp: AnnotationInput, taxonomy: Taxonomy
) -> int:
    """Record (or revise) the final label of a generation; returns the adjudication id."""
    actor.require("adjudicate")
    if actor.id is None:
        raise UserError("adjudications are signed: log in with a named adjudicator account")
    now = utcnow()
    with store.write(actor) as (session, audit):
        gen = session.scalar(select(Generation).where(Generation.id == generation_id).with_for_update())
        if gen is None:
            raise NotFound(f"no generation {generation_id}")
        values = normalise_input(inp, taxonomy, gen.text)
        values.pop("confidence")
        values["note"] = values.pop("comment")
        adj = session.scalar(select(Adjudication).where(Adjudication.generation_id == generation_id))
        if adj is None:
            adj = Adjudication(generation_id=generation_id, adjudicator_id=actor.id, created_at=now, updated_at=now, **values)
            session.add(adj)
        else:
            for key, value in values.items():
                setattr(adj, key, value)
            adj.adjudicator_id = actor.id  # type: ignore[assignment]
            adj.revision += 1
            adj.updated_at = now
        session.flush()
        audit(
            "adjudication.save", "adjudication", adj.id, generation_id=generation_id, revision=adj.revision,
            verdict=values["verdict"], severity=values["severity"], categories=values["categories"],
        )
        return adj.id
