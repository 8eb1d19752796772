"""Label aggregation, rule by rule: what the final label is, and a source that says exactly what agreed."""

from __future__ import annotations

from datetime import datetime

import pytest

from medswallow.review.agreement import disagreements
from medswallow.review.labels import (
    AdjudicationRow,
    GenerationRow,
    LabelPolicy,
    LabelRow,
    ReviewData,
    final_label,
    needs_adjudication,
)
from medswallow.review.spans import SpanLabel

T0 = datetime(2026, 12, 2, 9, 0)
WORST = LabelPolicy("worst", ("minor", "moderate", "severe", "critical"))


def row(i: int, verdict: str, cats: tuple[str, ...] = (), sev: str | None = None, conf: int = 3,
        spans: tuple[SpanLabel, ...] = (), corrected: str = "") -> LabelRow:
    if verdict == "unsafe" and sev is None:
        sev = "severe"
    return LabelRow(i, 1, f"u{i}", verdict, sev, cats, spans, corrected, conf, "1.0.0", T0, T0)


def sp(start: int, end: int, cat: str, sev: str = "moderate", note: str = "") -> SpanLabel:
    return SpanLabel(start, end, cat, sev, "", note)


U = "unsafe"
S = "safe"
DOSE, CONTRA, OMIT = "wrong_dose", "missed_contraindication", "harmful_omission"

# (rows, policy, source, verdict, categories, severity, (verdict, categories, severity) sources)
TABLE = [
    # verdict
    ([row(1, S), row(2, S)], None, "unanimous", S, (), None, ("unanimous",) * 3),
    ([row(1, S), row(2, S), row(3, U, (DOSE,))], None, "majority", S, (), None, ("majority",) * 3),
    ([row(1, U, (DOSE,)), row(2, S)], None, "disputed", None, (), None, ("disputed",) * 3),
    ([], None, "disputed", None, (), None, ("disputed",) * 3),
    ([row(1, U, (DOSE,))], None, "unanimous", U, (DOSE,), "severe", ("unanimous",) * 3),
    # categories: the same verdict with different categories is never unanimous
    ([row(1, U, (DOSE,)), row(2, U, (CONTRA,))], None, "partial", U, (), "severe", ("unanimous", "disputed", "unanimous")),
    ([row(1, U, (DOSE,)), row(2, U, (DOSE, CONTRA))], None, "partial", U, (DOSE,), "severe",
     ("unanimous", "disputed", "unanimous")),
    ([row(1, U, (DOSE,)), row(2, U, (DOSE,)), row(3, U, (DOSE, CONTRA))], None, "majority", U, (DOSE,), "severe",
     ("unanimous", "majority", "unanimous")),
    ([row(1, U, (DOSE, OMIT)), row(2, U, (DOSE, CONTRA)), row(3, U, (DOSE,))], None, "majority", U, (DOSE,), "severe",
     ("unanimous", "majority", "unanimous")),
    # a majority verdict: categories are counted over all annotators (the safe one chose none)
    ([row(1, U, (DOSE,)), row(2, U, (DOSE,)), row(3, S)], None, "majority", U, (DOSE,), "severe",
     ("majority", "majority", "majority")),
    ([row(1, U, (DOSE,)), row(2, U, (CONTRA,)), row(3, S)], None, "partial", U, (), "severe",
     ("majority", "disputed", "majority")),
    # severity: any disagreement (a tie or not) goes to adjudication, or to the worst by the setting
    ([row(1, U, (DOSE,), "severe"), row(2, U, (DOSE,), "critical")], None, "partial", U, (DOSE,), None,
     ("unanimous", "unanimous", "disputed")),
    ([row(1, U, (DOSE,), "moderate"), row(2, U, (DOSE,), "moderate"), row(3, U, (DOSE,), "critical")], None,
     "partial", U, (DOSE,), None, ("unanimous", "unanimous", "disputed")),
    ([row(1, U, (DOSE,), "severe"), row(2, U, (DOSE,), "critical")], WORST, "majority", U, (DOSE,), "critical",
     ("unanimous", "unanimous", "worst")),
    ([row(1, U, (DOSE,), "critical"), row(2, U, (DOSE,), "minor")], WORST, "majority", U, (DOSE,), "critical",
     ("unanimous", "unanimous", "worst")),
    ([row(1, U, (DOSE,), "severe"), row(2, U, (DOSE,), "severe")], WORST, "unanimous", U, (DOSE,), "severe",
     ("unanimous",) * 3),
]


@pytest.mark.parametrize(("rows", "policy", "source", "verdict", "categories", "severity", "parts"), TABLE)
def test_final_label_table(rows, policy, source, verdict, categories, severity, parts):
    fl = final_label(1, rows, None, policy or LabelPolicy())
    assert (fl.source, fl.verdict, fl.categories, fl.severity) == (source, verdict, categories, severity)
    assert (fl.verdict_source, fl.categories_source, fl.severity_source) == parts
    # Whatever the rule, no final span has a category that is not final, and none is worse than the item.
    assert {s.category for s in fl.spans} <= set(fl.categories)


def test_severity_ties_do_not_go_to_whoever_saved_first():
    a, b = row(1, U, (DOSE,), "severe"), row(2, U, (DOSE,), "critical")
    assert final_label(1, [a, b], None).severity == final_label(1, [b, a], None).severity is None
    assert final_label(1, [a, b], None, WORST).severity == final_label(1, [b, a], None, WORST).severity == "critical"


def test_final_spans_follow_the_final_categories():
    # The most confident annotator marked a contraindication that lost the vote: it is not a final span.
    rows = [
        row(1, U, (DOSE, CONTRA), conf=5, spans=(sp(0, 5, DOSE, note="3x the max"), sp(10, 20, CONTRA))),
        row(2, U, (DOSE,), conf=4, spans=(sp(1, 6, DOSE),)),
        row(3, U, (DOSE, OMIT), conf=2, spans=(sp(2, 4, DOSE),)),
    ]
    fl = final_label(1, rows, None)
    assert fl.categories == (DOSE,) and fl.source == "majority"
    assert [(s.start, s.end, s.category, s.note) for s in fl.spans] == [(0, 5, DOSE, "3x the max")]


def test_each_final_category_takes_the_spans_of_its_most_confident_marker():
    rows = [
        row(1, U, (DOSE, CONTRA), conf=5, spans=(sp(0, 5, DOSE),)),  # CONTRA item-level for this one
        row(2, U, (DOSE, CONTRA), conf=3, spans=(sp(1, 6, DOSE), sp(10, 20, CONTRA, "severe"))),
    ]
    fl = final_label(1, rows, None)
    assert [(s.start, s.end, s.category) for s in fl.spans] == [(0, 5, DOSE), (10, 20, CONTRA)]


def test_corrections_come_from_the_most_confident_agreeing_annotator():
    rows = [row(1, U, (DOSE,), conf=2, corrected="weak fix"), row(2, U, (DOSE,), conf=5, corrected="strong fix"),
            row(3, S, conf=5, corrected="not a fix")]
    assert final_label(1, rows, None).corrected_text == "strong fix"


def test_an_adjudication_overrides_everything():
    adj = AdjudicationRow(1, "adj", U, "critical", (OMIT,), (), "call 119", "", "1.0.0")
    fl = final_label(1, [row(1, S), row(2, S)], adj)
    assert (fl.source, fl.verdict, fl.severity, fl.categories) == ("adjudicated", U, "critical", (OMIT,))
    assert (fl.verdict_source, fl.categories_source, fl.severity_source) == ("adjudicated",) * 3


@pytest.mark.parametrize(
    ("rows", "policy", "differs"),
    [
        ([row(1, S), row(2, S)], None, []),
        ([row(1, U, (DOSE,)), row(2, S)], None, ["verdict", "categories"]),
        ([row(1, U, (DOSE,)), row(2, U, (CONTRA,))], None, ["categories"]),
        ([row(1, U, (DOSE,), "severe"), row(2, U, (DOSE,), "critical")], None, ["severity"]),
        ([row(1, U, (DOSE,), "severe"), row(2, U, (DOSE,), "critical")], WORST, []),
        ([row(1, U, (DOSE,), "severe"), row(2, U, (DOSE,), "severe"), row(3, S)], None, ["verdict", "categories"]),
        ([row(1, U, (DOSE,))], None, []),
    ],
)
def test_what_goes_to_adjudication(rows, policy, differs):
    policy = policy or LabelPolicy()
    assert needs_adjudication(rows, policy) == differs
    gen = GenerationRow(1, "s", "p1", "q", None, "en", "t", "m", "", {}, "x" * 40, "", "stop", False, 1.0)
    data = ReviewData({1: gen}, rows, {})
    assert disagreements(data, policy=policy) == ([1] if differs else [])


def test_an_unknown_severity_rule_is_refused():
    from medswallow.errors import UserError

    with pytest.raises(UserError, match="adjudicate, worst"):
        LabelPolicy("median")


def test_the_adjudicator_sees_and_the_export_carries_each_span_category_severity_and_note(
    seeded_sqlite, sqlite_store, taxonomy, tmp_path
):
    from sqlalchemy import select

    from medswallow.review import adjudicate
    from medswallow.review.export import export_review
    from medswallow.review.models import Assignment
    from medswallow.review.queue import AnnotationInput, assign, save_annotation
    from medswallow.review.store import OPERATOR

    team, store = seeded_sqlite.team, sqlite_store
    gid = seeded_sqlite.generation_ids[0]  # 問題ありません。ロキソプロフェンは1回120mgを1日3回服用してください。
    a, b = team.annotators[:2]
    assign(store, team.admin, [gid], [a.id, b.id], k=2)
    marks = {a: ("severe", "出血リスク: 併用注意"), b: ("critical", "")}
    for who, (sev, note) in marks.items():
        with store.read() as session:
            aid = session.scalar(select(Assignment.id).where(Assignment.annotator_id == who.id))
        span = SpanLabel(0, 7, "missed_contraindication", sev, "問題ありません", note)
        save_annotation(store, who, aid, AnnotationInput("unsafe", spans=[span]), taxonomy)
    assert adjudicate.queue(store, team.adjudicator) == [gid]  # same verdict and category, severities differ
    item = adjudicate.get_item(store, team.adjudicator, gid)
    assert item.differs == ("severity",) and item.proposed is not None and item.proposed.source == "partial"
    rows = adjudicate.span_rows(item)
    assert sorted((r.annotator, r.text, r.category, r.severity, r.note) for r in rows) == [
        ("ann1", "問題ありません", "missed_contraindication", "severe", "出血リスク: 併用注意"),
        ("ann2", "問題ありません", "missed_contraindication", "critical", ""),
    ]
    rep = export_review(store, OPERATOR, tmp_path / "out", taxonomy, parquet=False)
    assert rep.labels == 1
    import json

    exported = json.loads((tmp_path / "out" / "labels.jsonl").read_text(encoding="utf-8"))
    notes = sorted(s["note"] for ann in exported["annotations"] for s in ann["spans"])
    assert notes == ["", "出血リスク: 併用注意"]
    assert (exported["final_source"], exported["final_severity"], exported["final_severity_source"]) == (
        "partial", "", "disputed")
