"""report.md next to the published scores, the plot, and comparing two runs with a paired bootstrap."""

from __future__ import annotations

import json

from medswallow.bench.report import compare, render_markdown, write_report
from medswallow.bench.scoring import summarise


def make_run(path, model, correct_by_item, likelihood=False):
    records = [
        {
            "id": i,
            "repeat": 0,
            "correct": c,
            "extracted_answer": ["a"],
            "category": "循環器" if n % 2 else "腎臓",
        }
        for n, (i, c) in enumerate(correct_by_item.items())
    ]
    entry = {
        "task": "igakuqa",
        "title": "IgakuQA",
        "scoring": "generative",
        **summarise(records, n_boot=100),
        "published": 0.7048,
        "settings": {"prompt": "exam"},
        "voided": 1,
        "excluded": {},
        "subsets": {
            "voided": ["x9"],
            "text_only": {"n": 4, "accuracy": 0.75},
            "figure": {"n": 0, "accuracy": None},
        },
        "official": {
            "evaluator": "jungokasai/IgakuQA scripts/evaluate_main.py",
            "n": 5,
            "accuracy": 0.6,
            "ci95": [0.2, 1.0],
            "differ": ["y"],
        },
    }
    tasks = {"igakuqa": entry}
    if likelihood:
        tasks["medqa_jp@likelihood"] = {
            **entry,
            "task": "medqa_jp",
            "title": "MedQA_JP",
            "scoring": "likelihood",
            "published": 0.5118,
            "norm": {"accuracy": 0.25, "ci95": [0.0, 0.5]},
            "by_category": {},
        }
    results = {
        "suite": "s",
        "model": model,
        "created": "2026-11-23T00:00:00",
        "medswallow": "0.1.0",
        "seed": 0,
        "repeats": 1,
        "bootstrap": 100,
        "tasks": tasks,
    }
    path.mkdir(parents=True)
    (path / "samples").mkdir()
    (path / "results.json").write_text(json.dumps(results, ensure_ascii=False), encoding="utf-8")
    with (path / "samples" / "igakuqa.jsonl").open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return results


def test_report_table_and_plot(tmp_path):
    res = make_run(tmp_path / "a", "m1", {"x": True, "y": False, "z": True, "w": True}, likelihood=True)
    md = render_markdown(res)
    assert "| IgakuQA (`igakuqa`) | generated · robust | 4 | 75.0 |" in md
    assert "| 70.5 | +4.5 |" in md  # published and the difference in points
    assert "likelihood (NLL)" in md and "likelihood (NLL/token)" in md
    assert "| IgakuQA (`igakuqa`) | generated · official | 5 | 60.0 |" in md  # both modes, labelled
    assert "robust and official differ on 1 items: y" in md and "text-only subset: 75.0% of 4" in md
    assert "## IgakuQA by category" in md and "voided (not in robust): x9" in md
    path = write_report(res, tmp_path / "a")
    assert path.read_text(encoding="utf-8") == render_markdown(res)
    png = (tmp_path / "a" / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_compare_pairs_items(tmp_path, cli):
    make_run(tmp_path / "a", "m1", {"x": False, "y": False, "z": True, "w": True})
    make_run(tmp_path / "b", "m2", {"x": True, "y": True, "z": True, "w": True, "extra": True})
    cmp = compare(tmp_path / "a", tmp_path / "b", n_boot=200)
    row = cmp["tasks"]["igakuqa"]
    assert row["paired_n"] == 4  # only items both runs answered
    assert row["diff"] == 0.5
    assert row["ci95"][0] <= 0.5 <= row["ci95"][1]
    res = cli("eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["tasks"]["igakuqa"]["paired_n"] == 4
    table = cli("eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert table.returncode == 0 and "igakuqa" in table.stderr


def test_compare_missing_run_is_clear(tmp_path, cli):
    res = cli("eval", "compare", str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert res.returncode == 2 and "no results.json" in res.stderr and "Traceback" not in res.stderr
