"""20 annotators saving 50 labels each at the same time against one database: nothing lost or doubled."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select

from medswallow.inference import ChatResult
from medswallow.review.auth import add_user, login, resume
from medswallow.review.generate import ModelTarget, save_generation
from medswallow.review.models import Annotation, Assignment, AuditEntry, Prompt
from medswallow.review.prompts import PromptRow, import_prompts
from medswallow.review.queue import AnnotationInput, assign, save_annotation
from medswallow.review.spans import SpanLabel
from medswallow.review.store import OPERATOR, ReviewStore

from .conftest import PASSWORD

N_ANNOTATORS = 20
N_SAVES = 50


def _setup(store: ReviewStore) -> list[int]:
    import_prompts(store, OPERATOR, "load", [PromptRow(f"p{i}", f"question {i}?", "en") for i in range(N_SAVES)])
    with store.read() as session:
        pids = list(session.scalars(select(Prompt.id).order_by(Prompt.id)))
    target = ModelTarget("http://127.0.0.1:1/v1", "m")
    gids = [
        save_generation(store, OPERATOR, pid, target, {"t": 0}, ChatResult(text=f"Take 10 mg of drug {pid} daily.", finish_reason="stop"))
        for pid in pids
    ]
    uids = [add_user(store, OPERATOR, f"nurse{i:02d}", "annotator", PASSWORD) for i in range(N_ANNOTATORS)]
    admin = OPERATOR
    assign(store, admin, gids, uids, k=N_ANNOTATORS)  # everyone labels every answer
    return uids


def _run_threads(target, n: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def wrap(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return errors


@pytest.mark.slow
def test_twenty_annotators_times_fifty_saves(db_url, taxonomy):
    store = ReviewStore.open(db_url, create=True)
    _setup(store)
    # Each annotator is a separate app process: own engine, own login.
    tokens = [login(store, f"nurse{i:02d}", PASSWORD) for i in range(N_ANNOTATORS)]

    def annotate(i: int) -> None:
        mine = ReviewStore.open(db_url, pool_size=1)
        try:
            actor = resume(mine, tokens[i])
            with mine.read() as session:
                aids = list(session.scalars(select(Assignment.id).where(Assignment.annotator_id == actor.id).order_by(Assignment.id)))
            assert len(aids) == N_SAVES
            for n, aid in enumerate(aids):
                unsafe = (i + n) % 3 == 0
                inp = AnnotationInput(
                    "unsafe" if unsafe else "safe",
                    spans=[SpanLabel(0, 4, "wrong_dose", "moderate")] if unsafe else [],
                    comment=f"{actor.username}/{aid}",
                    confidence=1 + (n % 5),
                )
                save_annotation(mine, actor, aid, inp, taxonomy)
        finally:
            mine.close()

    errors = _run_threads(annotate, N_ANNOTATORS)
    assert not errors, errors[:3]
    total = N_ANNOTATORS * N_SAVES
    with store.read() as session:
        anns = session.execute(select(Annotation.assignment_id, Annotation.comment, Annotation.revision, Assignment.annotator_id)
                               .join(Assignment, Assignment.id == Annotation.assignment_id)).all()
        assert len(anns) == total
        assert len({a for a, *_ in anns}) == total  # one annotation per assignment
        assert all(rev == 1 for _, _, rev, _ in anns)
        assert all(comment.endswith(f"/{aid}") for aid, comment, _, _ in anns)  # each saved where it was meant to
        pending = session.scalar(select(func.count()).select_from(Assignment).where(Assignment.status != "done"))
        assert pending == 0
        audits = session.execute(select(AuditEntry.actor_name, AuditEntry.detail).where(AuditEntry.action == "annotation.save")).all()
    assert len(audits) == total
    assert len({(who, d["assignment_id"]) for who, d in audits}) == total
    assert set(Counter(who for who, _ in audits).values()) == {N_SAVES}
    store.close()


@pytest.mark.slow
def test_two_tabs_saving_the_same_item_lose_no_revision(db_url, taxonomy):
    store = ReviewStore.open(db_url, create=True)
    _setup(store)
    token = login(store, "nurse00", PASSWORD)
    actor = resume(store, token)
    with store.read() as session:
        aid = session.scalar(select(Assignment.id).where(Assignment.annotator_id == actor.id).order_by(Assignment.id))

    def tab(i: int) -> None:
        mine = ReviewStore.open(db_url, pool_size=1)
        try:
            for n in range(25):
                save_annotation(mine, actor, aid, AnnotationInput("safe", comment=f"tab{i}-{n}"), taxonomy)
        finally:
            mine.close()

    errors = _run_threads(tab, 2)
    assert not errors, errors[:3]
    with store.read() as session:
        rows = session.scalars(select(Annotation).where(Annotation.assignment_id == aid)).all()
        n_audit = session.scalar(select(func.count()).where(AuditEntry.action == "annotation.save"))
    assert len(rows) == 1 and rows[0].revision == 50 and n_audit == 50
    store.close()
