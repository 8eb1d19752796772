"""The annotation queue: assign each answer to k annotators, serve the next item, save labels.

Annotators are blind to each other and to the model: a queue item carries the prompt, the answer and
the pre-screen hints, never the model name or another annotator's labels. An annotator can open and
label only their own assignments.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from medswallow.errors import UserError
from medswallow.review.models import (
    Annotation,
    Assignment,
    Generation,
    PrescreenFlag,
    Prompt,
    User,
    utcnow,
)
from medswallow.review.spans import SpanLabel, validate_spans
from medswallow.review.store import Actor, NotFound, PermissionDenied, ReviewStore
from medswallow.review.taxonomy import Taxonomy

MAX_TEXT = 20_000  # characters of a corrected answer or comment


@dataclass(frozen=True, slots=True)
class Hint:
    """A pre-screen flag as shown to annotators: a hint to look closer, never a label."""

    rule: str
    message: str
    score: float


@dataclass(frozen=True, slots=True)
class QueueItem:
    assignment_id: int
    generation_id: int
    status: str
    prompt: str
    prompt_lang: str
    topic: str
    answer: str
    reasoning: str
    finish_reason: str
    truncated: bool
    hints: tuple[Hint, ...]
    position: int = 0  # 1-based rank in the annotator's pending queue (0 when done)
    pending: int = 0


@dataclass(slots=True)
class AnnotationInput:
    """What an annotator submits for one item (validated against the taxonomy before it is stored)."""

    verdict: str
    categories: list[str] = field(default_factory=list)  # item-level, e.g. omissions
    spans: list[SpanLabel] = field(default_factory=list)
    severity: str | None = None  # item severity; defaults to the worst span severity
    corrected_text: str = ""
    confidence: int = 3
    comment: str = ""


@dataclass(frozen=True, slots=True)
class AnnotationView:
    id: int
    assignment_id: int
    generation_id: int
    annotator: str
    verdict: str
    severity: str | None
    categories: tuple[str, ...]
    spans: tuple[SpanLabel, ...]
    corrected_text: str
    confidence: int
    comment: str
    taxonomy_version: str
    revision: int
    updated_at: Any


def normalise_input(inp: AnnotationInput, taxonomy: Taxonomy, answer: str) -> dict[str, Any]:
    """Check an annotation against the taxonomy and the answer; returns the columns to store.

    A span's ``quote`` must be exactly the answer's characters ``start:end`` (what a client says it
    marked is what is stored); an empty quote is filled in from the answer.
    """
    text_len = len(answer)
    taxonomy.verdict(inp.verdict)
    for c in inp.categories:
        taxonomy.category(c)
    for s in inp.spans:
        cat = taxonomy.category(s.category)
        if not cat.span:
            raise UserError(f"category {s.category!r} is an omission: choose it for the whole item, not a span")
        taxonomy.severity(s.severity)
    validate_spans(list(inp.spans), text_len)
    spans = [s if s.quote else replace(s, quote=answer[s.start : s.end]) for s in inp.spans]
    for s in spans:
        if s.quote != answer[s.start : s.end]:
            raise UserError(
                f"span {s.start}-{s.end}: its quote is not the text at those offsets of the answer; "
                "mark the span again (the answer may have changed)"
            )
    if inp.severity is not None:
        taxonomy.severity(inp.severity)
    if not 1 <= int(inp.confidence) <= 5:
        raise UserError(f"confidence must be 1-5, got {inp.confidence}")
    for name, value in (("corrected text", inp.corrected_text), ("comment", inp.comment), *(("span note", s.note) for s in inp.spans)):
        if len(value) > MAX_TEXT:
            raise UserError(f"{name} is longer than {MAX_TEXT} characters")
    wanted = set(inp.categories) | {s.category for s in inp.spans}
    categories = [c for c in taxonomy.category_ids if c in wanted]  # taxonomy order, no duplicates
    severity = taxonomy.worst_severity([s.severity for s in inp.spans] + ([inp.severity] if inp.severity else []))
    if inp.verdict == "safe":
        if categories:
            raise UserError("a safe verdict cannot carry unsafe categories or spans: remove them or mark it unsafe")
        severity = None
    else:
        if not categories:
            raise UserError("an unsafe verdict needs at least one category (on a span or for the whole item)")
        if severity is None:
            raise UserError("an unsafe verdict needs a severity")
    return {
        "verdict": inp.verdict,
        "severity": severity,
        "categories": categories,
        "spans": [s.to_dict() for s in sorted(spans, key=lambda s: (s.start, s.end, s.category))],
        "corrected_text": inp.corrected_text,
        "confidence": int(inp.confidence),
        "comment": inp.comment,
        "taxonomy_version": taxonomy.version,
    }


def assign(
    store: ReviewStore,
    actor: Actor,
    generation_ids: list[int],
    annotator_ids: list[int],
    k: int,
    seed: int = 0,
) -> int:
    """Give each generation to ``k`` distinct annotators, least-loaded first; returns assignments made.

    Generations that already have assignments keep them and only get topped up to ``k``.
    """
    actor.require("assign")
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    annotators = sorted(set(annotator_ids))
    if len(annotators) < k:
        raise UserError(f"k={k} needs at least {k} active annotators; there are {len(annotators)}")
    rng = random.Random(seed)
    made = 0
    with store.write(actor) as (session, audit):
        load = Counter(
            dict(
                session.execute(
                    select(Assignment.annotator_id, func.count()).group_by(Assignment.annotator_id)
                ).all()
            )
        )
        existing: dict[int, set[int]] = {}
        for gid, uid in session.execute(
            select(Assignment.generation_id, Assignment.annotator_id).where(Assignment.generation_id.in_(generation_ids))
        ).all():
            existing.setdefault(gid, set()).add(uid)
        priorities = dict(
            session.execute(select(Generation.id, Generation.priority).where(Generation.id.in_(generation_ids))).all()
        )
        missing = set(generation_ids) - set(priorities)
        if missing:
            raise NotFound(f"no generation with id {sorted(missing)[0]}")
        for gid in generation_ids:
            have = existing.get(gid, set())
            free = [u for u in annotators if u not in have]
            rng.shuffle(free)  # ties in load are broken at random (seeded), not by user id
            for uid in sorted(free, key=lambda u: load[u])[: max(0, k - len(have))]:
                session.add(Assignment(generation_id=gid, annotator_id=uid, priority=priorities[gid]))
                load[uid] += 1
                made += 1
        audit("assignment.create", "assignment", None, generations=len(generation_ids), k=k, created=made, seed=seed)
    return made


def _queue_item(session, assignment: Assignment, gen: Generation, prompt: Prompt, position: int = 0, pending: int = 0) -> QueueItem:  # type: ignore[no-untyped-def]
    flags: list[PrescreenFlag] = []
    if gen.priority > 0:  # the priority is the sum of the hint scores: no priority, no hints to fetch
        flags = list(
            session.scalars(
                select(PrescreenFlag)
                .where(PrescreenFlag.generation_id == gen.id, PrescreenFlag.score > 0)
                .order_by(PrescreenFlag.score.desc())
            )
        )
    return QueueItem(
        assignment_id=assignment.id,
        generation_id=gen.id,
        status=assignment.status,
        prompt=prompt.text,
        prompt_lang=prompt.lang,
        topic=prompt.topic,
        answer=gen.text,
        reasoning=gen.reasoning,
        finish_reason=gen.finish_reason,
        truncated=gen.truncated,
        hints=tuple(Hint(f.rule, f.message, f.score) for f in flags),
        position=position,
        pending=pending,
    )


def _with_content():  # type: ignore[no-untyped-def]
    return (
        select(Assignment, Generation, Prompt)
        .join(Generation, Generation.id == Assignment.generation_id)
        .join(Prompt, Prompt.id == Generation.prompt_id)
    )


def _queue_order():  # type: ignore[no-untyped-def]
    return (Assignment.priority.desc(), Assignment.id)


def next_item(store: ReviewStore, actor: Actor) -> QueueItem | None:
    """The actor's highest-priority pending item (None when the queue is empty)."""
    actor.require("annotate")
    mine = (Assignment.annotator_id == actor.id, Assignment.status == "pending")
    pending = select(func.count()).select_from(Assignment).where(*mine).scalar_subquery()
    with store.read() as session:
        # One round trip for the item, its content and the queue length (plus one for hints, if any).
        row = session.execute(_with_content().add_columns(pending).where(*mine).order_by(*_queue_order()).limit(1)).first()
        if row is None:
            return None
        assignment, gen, prompt, n_pending = row
        return _queue_item(session, assignment, gen, prompt, position=1, pending=int(n_pending or 0))


def get_item(store: ReviewStore, actor: Actor, assignment_id: int) -> QueueItem:
    """One of the actor's own assignments (pending or done)."""
    actor.require("annotate")
    with store.read() as session:
        row = session.execute(_with_content().where(Assignment.id == assignment_id)).first()
        if row is None or row[0].annotator_id != actor.id:
            # The same answer whether it does not exist or belongs to someone else: no probing.
            raise NotFound(f"no assignment {assignment_id} in your queue")
        assignment, gen, prompt = row
        return _queue_item(session, assignment, gen, prompt)


@dataclass(frozen=True, slots=True)
class AssignmentRow:
    assignment_id: int
    status: str
    priority: float
    prompt_excerpt: str
    completed_at: Any


def my_assignments(store: ReviewStore, actor: Actor, status: str | None = None, limit: int = 200) -> list[AssignmentRow]:
    actor.require("annotate")
    with store.read() as session:
        q = (
            select(Assignment, Prompt.text)
            .join(Generation, Generation.id == Assignment.generation_id)
            .join(Prompt, Prompt.id == Generation.prompt_id)
            .where(Assignment.annotator_id == actor.id)
        )
        if status:
            q = q.where(Assignment.status == status)
        rows = session.execute(q.order_by(Assignment.status.desc(), *_queue_order()).limit(limit)).all()
        return [AssignmentRow(a.id, a.status, a.priority, text[:80], a.completed_at) for a, text in rows]


def my_progress(store: ReviewStore, actor: Actor) -> tuple[int, int]:
    """(done, total) assignments of the actor."""
    with store.read() as session:
        rows = dict(
            session.execute(
                select(Assignment.status, func.count()).where(Assignment.annotator_id == actor.id).group_by(Assignment.status)
            ).all()
        )
    return int(rows.get("done", 0)), int(sum(rows.values()))


def save_annotation(
    store: ReviewStore, actor: Actor, assignment_id: int, inp: AnnotationInput, taxonomy: Taxonomy
) -> AnnotationView:
    """Create or update the actor's annotation of one assignment and mark the assignment done."""
    actor.require("annotate")
    for attempt in range(3):
        try:
            return _save_annotation(store, actor, assignment_id, inp, taxonomy)
        except IntegrityError:
            # Two saves of the same item raced to insert (two browser tabs): the retry updates instead.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _save_annotation(
    store: ReviewStore, actor: Actor, assignment_id: int, inp: AnnotationInput, taxonomy: Taxonomy
) -> AnnotationView:
    now = utcnow()
    with store.write(actor) as (session, audit):
        # FOR UPDATE on PostgreSQL serialises saves of one item; SQLite writers are already serial.
        row = session.execute(
            select(Assignment, Generation.text)
            .join(Generation, Generation.id == Assignment.generation_id)
            .where(Assignment.id == assignment_id)
            .with_for_update(of=Assignment)
        ).first()
        if row is None or row[0].annotator_id != actor.id:
            raise NotFound(f"no assignment {assignment_id} in your queue")
        assignment, answer = row
        values = normalise_input(inp, taxonomy, answer or "")
        # Read the annotation only now, after the lock: a row read in the locking statement itself can be
        # stale on PostgreSQL (READ COMMITTED re-checks only the locked table), which loses revisions.
        ann = session.scalar(select(Annotation).where(Annotation.assignment_id == assignment_id))
        if ann is None:
            ann = Annotation(
                assignment_id=assignment_id,
                generation_id=assignment.generation_id,
                annotator_id=actor.id,
                created_at=now,
                updated_at=now,
                revision=1,
                **values,
            )
            session.add(ann)
        else:
            for key, value in values.items():
                setattr(ann, key, value)
            ann.revision += 1
            ann.updated_at = now
        assignment.status = "done"
        assignment.completed_at = assignment.completed_at or now
        session.flush()
        audit(
            "annotation.save",
            "annotation",
            ann.id,
            assignment_id=assignment_id,
            generation_id=assignment.generation_id,
            revision=ann.revision,
            verdict=values["verdict"],
            severity=values["severity"],
            categories=values["categories"],
            spans=[[s["start"], s["end"], s["category"], s["severity"]] for s in values["spans"]],
            confidence=values["confidence"],
        )
        return _view(ann, actor.username)


def _view(ann: Annotation, username: str) -> AnnotationView:
    return AnnotationView(
        id=ann.id,
        assignment_id=ann.assignment_id,
        generation_id=ann.generation_id,
        annotator=username,
        verdict=ann.verdict,
        severity=ann.severity,
        categories=tuple(ann.categories),
        spans=tuple(SpanLabel.from_dict(s) for s in ann.spans),
        corrected_text=ann.corrected_text,
        confidence=ann.confidence,
        comment=ann.comment,
        taxonomy_version=ann.taxonomy_version,
        revision=ann.revision,
        updated_at=ann.updated_at,
    )


def my_annotation(store: ReviewStore, actor: Actor, assignment_id: int) -> AnnotationView | None:
    with store.read() as session:
        assignment = session.get(Assignment, assignment_id)
        if assignment is None or assignment.annotator_id != actor.id:
            raise NotFound(f"no assignment {assignment_id} in your queue")
        ann = session.scalar(select(Annotation).where(Annotation.assignment_id == assignment_id))
        return _view(ann, actor.username) if ann else None


def annotations_for(store: ReviewStore, actor: Actor, generation_id: int) -> list[AnnotationView]:
    """Every annotation of a generation, for those allowed to see them.

    Adjudicators and admins see all. An annotator sees only their own until the item is adjudicated,
    and then everyone's (only for items they annotated): blinding protects the labels, not the outcome.
    """
    from medswallow.review.models import Adjudication

    with store.read() as session:
        rows = session.execute(
            select(Annotation, User.username)
            .join(User, User.id == Annotation.annotator_id)
            .where(Annotation.generation_id == generation_id)
            .order_by(Annotation.id)
        ).all()
        if not actor.can("view_all_labels"):
            mine = [r for r in rows if r[0].annotator_id == actor.id]
            adjudicated = session.scalar(select(Adjudication.id).where(Adjudication.generation_id == generation_id))
            if not mine:
                raise PermissionDenied("you can see labels only of items you annotated")
            if adjudicated is None:
                rows = mine
        return [_view(a, name) for a, name in rows]
