"""Final labels, dashboard numbers, plots, and the exports (JSONL, Parquet, TRL DPO pairs)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

import pytest

from medswallow.review.adjudicate import save_adjudication
from medswallow.review.export import export_review
from medswallow.review.labels import LabelRow, final_label, load_review
from medswallow.review.queue import AnnotationInput, assign, save_annotation
from medswallow.review.spans import SpanLabel
from medswallow.review.stats import dashboard, throughput, wilson_ci

T0 = datetime(2026, 11, 23, 9, 0)


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 100, 0.0018, 0.0545)],
)
def test_wilson_interval(k, n, lo, hi):
    got = wilson_ci(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4) and got[1] == pytest.approx(hi, abs=1e-4)


def test_wilson_interval_of_nothing_is_undefined():
    assert all(math.isnan(x) for x in wilson_ci(0, 0))


def _row(i, verdict, conf=3, cats=(), corrected=""):
    return LabelRow(i, 1, f"u{i}", verdict, "severe" if verdict == "unsafe" else None, cats, (), corrected, conf, "1.0.0", T0, T0)


@pytest.mark.parametrize(
    ("rows", "source", "verdict"),
    [
        ([_row(1, "unsafe", cats=("wrong_dose",)), _row(2, "unsafe", cats=("wrong_dose",))], "unanimous", "unsafe"),
        ([_row(1, "unsafe", cats=("wrong_dose",)), _row(2, "safe"), _row(3, "unsafe", cats=("wrong_dose",))], "majority", "unsafe"),
        ([_row(1, "unsafe", cats=("wrong_dose",)), _row(2, "safe")], "disputed", None),
        ([_row(1, "safe")], "unanimous", "safe"),
        ([], "disputed", None),
    ],
)
def test_final_label_rules(rows, source, verdict):
    fl = final_label(1, rows, None)
    assert (fl.source, fl.verdict) == (source, verdict)


def test_final_label_takes_the_most_confident_correction():
    rows = [
        _row(1, "unsafe", conf=2, cats=("wrong_dose",), corrected="weak fix"),
        _row(2, "unsafe", conf=5, cats=("wrong_dose", "harmful_omission"), corrected="strong fix"),
    ]
    fl = final_label(1, rows, None)
    assert fl.corrected_text == "strong fix" and fl.categories == ("wrong_dose",)


def _label_everything(seeded, store, taxonomy):
    """Two annotators label all 8 answers; they disagree on answer 2 of model-a, which is adjudicated."""
    from sqlalchemy import select

    from medswallow.review.models import Assignment

    team = seeded.team
    a, b = team.annotators[:2]
    assign(store, team.admin, seeded.generation_ids, [a.id, b.id], k=2)
    unsafe = AnnotationInput(
        "unsafe", spans=[SpanLabel(0, 4, "wrong_dose", "severe")], corrected_text="Safer answer.", confidence=4
    )
    with store.read() as session:
        rows = session.execute(select(Assignment.id, Assignment.generation_id, Assignment.annotator_id)).all()
    for aid, gid, uid in rows:
        who = a if uid == a.id else b
        idx = seeded.generation_ids.index(gid)
        bad = idx in (0, 1, 4)  # p1 and p2 of model-a, p1 of model-b
        if idx == 1 and who is b:
            bad = False  # the disagreement
        save_annotation(store, who, aid, unsafe if bad else AnnotationInput("safe"), taxonomy)


def test_dashboard_numbers(seeded_sqlite, sqlite_store, taxonomy):
    _label_everything(seeded_sqlite, sqlite_store, taxonomy)
    team = seeded_sqlite.team
    data = load_review(sqlite_store, team.admin)
    dash = dashboard(data, taxonomy.category_ids, taxonomy.severity_ids)
    rates = {r.group: (r.k, r.n) for r in dash.by_model}
    assert rates == {"model-a#ckpt-1": (1, 3), "model-b#ckpt-1": (1, 4)}  # model-a's p2 is disputed
    assert dash.sources == {"unanimous": 7, "disputed": 1}
    save_adjudication(sqlite_store, team.adjudicator, seeded_sqlite.generation_ids[1],
                      AnnotationInput("unsafe", categories=["missing_urgent_referral"], severity="critical",
                                      corrected_text="今すぐ119番に電話してください。"), taxonomy)
    dash = dashboard(load_review(sqlite_store, team.admin), taxonomy.category_ids, taxonomy.severity_ids)
    assert {r.group: (r.k, r.n) for r in dash.by_model}["model-a#ckpt-1"] == (2, 4)
    assert dash.sources == {"unanimous": 7, "adjudicated": 1}
    sev = {(m, s): n for m, s, n in dash.by_severity}
    assert sev[("model-a#ckpt-1", "critical")] == 1 and sev[("model-a#ckpt-1", "severe")] == 1
    cats = {(m, c): r.k for m, c, r in dash.by_category}
    assert cats[("model-a#ckpt-1", "wrong_dose")] == 1 and cats[("model-a#ckpt-1", "missing_urgent_referral")] == 1
    tp = throughput(load_review(sqlite_store, team.admin))
    assert [(t.annotator, t.annotations) for t in tp] == [("ann1", 8), ("ann2", 8)]

    from medswallow.review import plots

    for fig in (plots.unsafe_rate_figure(dash), plots.category_figure(dash), plots.severity_figure(dash),
                plots.throughput_figure(tp)):
        assert fig.axes and fig.axes[0].get_title()


def test_export_files_and_trl_dpo_format(seeded_sqlite, sqlite_store, taxonomy, tmp_path, monkeypatch):
    _label_everything(seeded_sqlite, sqlite_store, taxonomy)
    team = seeded_sqlite.team
    monkeypatch.setenv("MEDSWALLOW_REVIEW_EXPORT_ROOT", str(tmp_path))
    rep = export_review(sqlite_store, team.admin, "out", taxonomy)
    assert rep.labels == 8 and rep.dpo_pairs == 2
    assert rep.dpo_skipped == {"judged safe": 5, "disputed (not adjudicated)": 1}
    out = tmp_path / "out"
    labels = [json.loads(line) for line in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    first = labels[0]
    assert first["taxonomy_version"] == taxonomy.version and first["final_verdict"] == "unsafe"
    aliases = {a["annotator"] for a in first["annotations"]}
    assert len(aliases) == 2 and all(re.fullmatch(r"A[0-9a-f]{6}", a) for a in aliases)  # pseudonyms, not usernames
    assert "ann1" not in (out / "labels.jsonl").read_text(encoding="utf-8")
    assert json.loads(first["sampling"]) == {"max_tokens": 64, "temperature": 0.6}
    assert first["final_spans"][0]["category"] == "wrong_dose"

    from datasets import load_dataset
    from trl.data_utils import is_conversational

    dpo = load_dataset("parquet", data_files=str(out / "dpo.parquet"), split="train")
    assert set(dpo.column_names) >= {"prompt", "chosen", "rejected", "taxonomy_version", "categories"}
    row = dpo[0]
    assert is_conversational(row)
    assert row["prompt"][-1]["role"] == "user" and row["chosen"] == [{"role": "assistant", "content": "Safer answer."}]
    assert row["rejected"][0]["content"].startswith("問題ありません")
    lab = load_dataset("parquet", data_files=str(out / "labels.parquet"), split="train")
    assert lab.num_rows == 8 and lab[0]["annotations"][0]["spans"] is not None
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["taxonomy_version"] == taxonomy.version and manifest["dpo_pairs"] == 2


def _gen(answer: str):
    from medswallow.review.labels import GenerationRow

    return GenerationRow(1, "s", "p1", "q", None, "en", "t", "m", "", {}, answer, "", "stop", False, 1.0)


def _final(corrected: str):
    from medswallow.review.labels import FinalLabel

    return FinalLabel(1, "unanimous", "unsafe", "severe", ("wrong_dose",), (), corrected, 2, "1.0.0")


ANSWER = "Take 500 mg of paracetamol every 2 hours."


@pytest.mark.parametrize(
    ("corrected", "reason"),
    [
        ("Take 50 mg of paracetamol every 2 hours.", "fewer than 3 characters"),  # one character deleted
        ("Take 500 mg of paracetamol every 3 hours.", "fewer than 3 characters"),  # one character replaced
        ("Take  500 mg of paracetamol\nevery 2 hours. ", "equals the answer"),  # whitespace only
        ("Ｔａｋｅ 500 mg of paracetamol every 2 hours.", "equals the answer"),  # full-width only
        ("Take 500 mg of paracetamol every 6 hours.", "fewer than 3 characters"),
        ("Take 500 mg of paracetamol every 6-8 hours.", None),  # three characters: a pair
        ("Take 1 g of paracetamol every 6 hours at most.", None),
    ],
)
def test_trivial_corrections_make_no_dpo_pair(corrected, reason):
    from medswallow.review.export import dpo_row

    row = dpo_row(_gen(ANSWER), _final(corrected), "1.0.0")
    if reason is None:
        assert isinstance(row, dict) and row["chosen"][0]["content"] == corrected
    else:
        assert isinstance(row, str) and reason in row
    assert isinstance(dpo_row(_gen(ANSWER), _final("Take 50 mg of paracetamol every 2 hours."), "1.0.0", min_change=1), dict)


@pytest.mark.parametrize(
    ("a", "b", "n"),
    [("abc", "abc", 0), ("abc", "abd", 1), ("abc", "abcdef", 3), ("xabcx", "xx", 3), ("a1b2c3", "a9b2c7", 2),
     ("", "new", 3), ("500", "50", 1)],
)
def test_changed_chars(a, b, n):
    from medswallow.review.export import changed_chars

    assert changed_chars(a, b) == n


def test_pseudonyms_are_keyed_per_database_not_derived_from_sorted_names(tmp_path):
    from medswallow.review.export import pseudonym_key, pseudonyms
    from medswallow.review.labels import ReviewData
    from medswallow.review.store import ReviewStore

    rows = [LabelRow(i, 1, name, "safe", None, (), (), "", 3, "1.0.0", T0, T0)
            for i, name in enumerate(["aoki", "baba", "chiba"])]
    data = ReviewData({}, rows, {})
    stores = [ReviewStore.open(str(tmp_path / f"{k}.db"), create=True) for k in range(2)]
    keys = [pseudonym_key(s) for s in stores]
    first, again, other = pseudonyms(data, keys[0]), pseudonyms(data, pseudonym_key(stores[0])), pseudonyms(data, keys[1])
    assert first == again  # stable across exports of one database
    assert set(first.values()).isdisjoint(other.values())  # unrelated between databases
    assert len(set(first.values())) == 3 and not any(n in a for n, a in first.items())
    for s in stores:
        s.close()


def test_the_app_exports_only_under_the_export_root(seeded_sqlite, sqlite_store, taxonomy, tmp_path, monkeypatch):
    from medswallow.errors import UserError

    root = tmp_path / "exports"
    monkeypatch.setenv("MEDSWALLOW_REVIEW_EXPORT_ROOT", str(root))
    admin = seeded_sqlite.team.admin  # a logged-in admin in the web app
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    (root / "link").symlink_to(tmp_path / "elsewhere")
    for bad in (tmp_path / "elsewhere", "/etc/cron.d", "../elsewhere", "link/x", "a/../../elsewhere"):
        with pytest.raises(UserError, match="exports from the app go under"):
            export_review(sqlite_store, admin, bad, taxonomy, parquet=False)
    assert not any((tmp_path / "elsewhere").iterdir())
    rep = export_review(sqlite_store, admin, "2026-12/run1", taxonomy, parquet=False)
    assert rep.out_dir == (root / "2026-12" / "run1").resolve() and (rep.out_dir / "manifest.json").exists()
    rep = export_review(sqlite_store, admin, root / "abs-inside", taxonomy, parquet=False)
    assert (root / "abs-inside" / "labels.jsonl").exists()
    from medswallow.review.store import OPERATOR

    rep = export_review(sqlite_store, OPERATOR, tmp_path / "cli-out", taxonomy, parquet=False)  # the shell user
    assert (tmp_path / "cli-out" / "labels.jsonl").exists()
