"""The annotation queue: k-way blind assignment, queue order, saving labels, who may see what."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from medswallow.errors import UserError
from medswallow.review.models import Assignment
from medswallow.review.queue import (
    AnnotationInput,
    QueueItem,
    annotations_for,
    assign,
    get_item,
    my_annotation,
    my_assignments,
    my_progress,
    next_item,
    save_annotation,
)
from medswallow.review.spans import SpanLabel
from medswallow.review.store import NotFound, PermissionDenied

UNSAFE = AnnotationInput(
    "unsafe",
    categories=["missing_urgent_referral"],
    spans=[SpanLabel(0, 7, "missed_contraindication", "severe", "問題ありません")],
    corrected_text="ワルファリン内服中はロキソプロフェンで出血リスクが上がります。処方医に相談してください。",
    confidence=4,
)


def _assignment_of(store, gid, uid):
    with store.read() as session:
        return session.scalar(select(Assignment.id).where(Assignment.generation_id == gid, Assignment.annotator_id == uid))


def test_assignment_gives_each_answer_to_k_distinct_annotators_evenly(seeded, store):
    team = seeded.team
    ids = [a.id for a in team.annotators]
    made = assign(store, team.admin, seeded.generation_ids, ids, k=2, seed=1)
    assert made == 2 * len(seeded.generation_ids)
    with store.read() as session:
        rows = session.execute(select(Assignment.generation_id, Assignment.annotator_id)).all()
    per_gen = Counter(g for g, _ in rows)
    assert set(per_gen.values()) == {2} and len(set(rows)) == len(rows)
    load = Counter(u for _, u in rows)
    assert max(load.values()) - min(load.values()) <= 1
    # Topping up to k=3 adds exactly one more each; rerunning with the same k adds nothing.
    assert assign(store, team.admin, seeded.generation_ids, ids, k=3) == len(seeded.generation_ids)
    assert assign(store, team.admin, seeded.generation_ids, ids, k=3) == 0
    with pytest.raises(UserError, match="needs at least 4"):
        assign(store, team.admin, seeded.generation_ids, ids, k=4)


def test_queue_serves_highest_priority_first_and_hides_the_model(seeded, store):
    from sqlalchemy import update

    team = seeded.team
    ann = team.annotators[0]
    gids = seeded.generation_ids
    assign(store, team.admin, gids, [ann.id], k=1)
    with store.engine.begin() as conn:
        conn.execute(update(Assignment).where(Assignment.generation_id == gids[5]).values(priority=2.0))
    item = next_item(store, ann)
    assert isinstance(item, QueueItem) and item.generation_id == gids[5]
    assert (item.position, item.pending) == (1, len(gids))
    assert not hasattr(item, "model") and "model-a" not in repr(item) and "model-b" not in repr(item)
    assert item.reasoning == "thinking..." and item.prompt
    assert next_item(store, team.annotators[1]) is None


def test_saving_labels_and_revising_them(seeded, store, taxonomy):
    team = seeded.team
    ann = team.annotators[0]
    gid = seeded.generation_ids[0]
    assign(store, team.admin, [gid], [ann.id], k=1)
    aid = _assignment_of(store, gid, ann.id)
    view = save_annotation(store, ann, aid, UNSAFE, taxonomy)
    assert (view.verdict, view.severity, view.revision) == ("unsafe", "severe", 1)
    assert view.categories == ("missed_contraindication", "missing_urgent_referral")  # taxonomy order
    assert view.taxonomy_version == taxonomy.version
    assert my_progress(store, ann) == (1, 1) and next_item(store, ann) is None
    again = save_annotation(store, ann, aid, AnnotationInput("safe", confidence=2), taxonomy)
    assert (again.id, again.revision, again.verdict, again.spans, again.severity) == (view.id, 2, "safe", (), None)
    assert my_annotation(store, ann, aid) == again
    assert [r.status for r in my_assignments(store, ann)] == ["done"]


@pytest.mark.parametrize(
    ("inp", "message"),
    [
        (AnnotationInput("unsure"), "unknown verdict 'unsure'"),
        (AnnotationInput("unsafe"), "needs at least one category"),
        (AnnotationInput("unsafe", categories=["wrong_dos"]), "did you mean 'wrong_dose'"),
        (AnnotationInput("unsafe", categories=["wrong_dose"]), "needs a severity"),
        (AnnotationInput("safe", categories=["wrong_dose"]), "safe verdict cannot carry"),
        (AnnotationInput("unsafe", spans=[SpanLabel(0, 5, "harmful_omission", "minor")]), "is an omission"),
        (AnnotationInput("unsafe", spans=[SpanLabel(0, 9999, "wrong_dose", "minor")]), "outside the answer"),
        (AnnotationInput("unsafe", spans=[SpanLabel(3, 3, "wrong_dose", "minor")]), "outside the answer"),
        (AnnotationInput("unsafe", spans=[SpanLabel(0, 3, "wrong_dose", "fatal")]), "unknown severity"),
        (AnnotationInput("unsafe", spans=[SpanLabel(0, 3, "wrong_dose", "minor")] * 2), "marked twice"),
        (AnnotationInput("unsafe", categories=["harmful_omission"], severity="minor", confidence=6), "confidence"),
        (AnnotationInput("safe", corrected_text="x" * 20_001), "longer than"),
    ],
)
def test_invalid_labels_are_refused_with_the_reason(seeded_sqlite, sqlite_store, taxonomy, inp, message):
    team = seeded_sqlite.team
    ann = team.annotators[0]
    gid = seeded_sqlite.generation_ids[0]
    assign(sqlite_store, team.admin, [gid], [ann.id], k=1)
    with pytest.raises(UserError, match=message):
        save_annotation(sqlite_store, ann, _assignment_of(sqlite_store, gid, ann.id), inp, taxonomy)
    assert my_progress(sqlite_store, ann) == (0, 1)


def test_annotators_cannot_open_or_label_other_peoples_items(seeded, store, taxonomy):
    team = seeded.team
    a, b = team.annotators[:2]
    gid = seeded.generation_ids[0]
    assign(store, team.admin, [gid], [a.id, b.id], k=2)
    aid_b = _assignment_of(store, gid, b.id)
    for call in (
        lambda: get_item(store, a, aid_b),
        lambda: my_annotation(store, a, aid_b),
        lambda: save_annotation(store, a, aid_b, AnnotationInput("safe"), taxonomy),
        lambda: get_item(store, a, 10_000),
    ):
        with pytest.raises(NotFound, match="not|no assignment"):
            call()


def test_labels_stay_blind_until_adjudication(seeded, store, taxonomy):
    from medswallow.review.adjudicate import save_adjudication

    team = seeded.team
    a, b, c = team.annotators
    gid = seeded.generation_ids[0]
    assign(store, team.admin, [gid], [a.id, b.id], k=2)
    save_annotation(store, a, _assignment_of(store, gid, a.id), UNSAFE, taxonomy)
    save_annotation(store, b, _assignment_of(store, gid, b.id), AnnotationInput("safe"), taxonomy)
    # Before adjudication: each annotator sees their own label only; an outsider sees nothing.
    assert [v.annotator for v in annotations_for(store, a, gid)] == [a.username]
    assert [v.annotator for v in annotations_for(store, b, gid)] == [b.username]
    with pytest.raises(PermissionDenied):
        annotations_for(store, c, gid)
    assert {v.annotator for v in annotations_for(store, team.adjudicator, gid)} == {a.username, b.username}
    save_adjudication(store, team.adjudicator, gid, UNSAFE, taxonomy)
    # After adjudication the annotators of the item may learn from each other; outsiders still may not.
    assert {v.annotator for v in annotations_for(store, a, gid)} == {a.username, b.username}
    with pytest.raises(PermissionDenied):
        annotations_for(store, c, gid)


def test_span_quotes_from_a_client_must_match_the_answer(seeded, store, taxonomy):
    team = seeded.team
    ann = team.annotators[0]
    gid = seeded.generation_ids[0]  # 問題ありません。ロキソプロフェンは…
    assign(store, team.admin, [gid], [ann.id], k=1)
    aid = _assignment_of(store, gid, ann.id)
    forged = AnnotationInput("unsafe", spans=[SpanLabel(0, 7, "wrong_dose", "severe", "1回1200mg")])
    with pytest.raises(UserError, match="quote is not the text at those offsets"):
        save_annotation(store, ann, aid, forged, taxonomy)
    view = save_annotation(store, ann, aid, AnnotationInput("unsafe", spans=[SpanLabel(0, 7, "wrong_dose", "severe")]), taxonomy)
    assert view.spans[0].quote == "問題ありません"  # an empty quote is filled from the answer
