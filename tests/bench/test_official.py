"""The official mode agrees, item for item, with each benchmark's own evaluator (transcribed, with its source,
in medswallow.bench.official) on outputs generated for every real item; the special items score as the data
says in both modes; a run over the real files reports both modes and their subsets.

The reference side reads the published JSONL rows itself (``json.loads``), not through our loaders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medswallow.bench import get_task, load_task
from medswallow.bench import official as ref
from medswallow.bench.extract import extract_answer
from medswallow.bench.runner import ChatJob, Prepared, build_results, chat_record, in_robust
from medswallow.bench.suite import Suite, TaskRun
from medswallow.inference import ChatResult
from medswallow.records import Sample

from .conftest import bench_root

FULL = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def raw_rows(files: list[Path]) -> dict[str, dict]:
    rows = {}
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                rows.setdefault(row["problem_id"], row)
    return rows


def outputs_for(s: Sample) -> list[str]:
    """Several shapes of answer per item: right, reordered, spaced, full-width, with a marker, bold, one of
    two, wrong, empty, and the odd written forms of the special items."""
    g = s.gold or ["1"]
    other = next((lab for lab in s.labels if lab not in g), "z")
    return [
        ",".join(g),
        ",".join(reversed(g)),
        ", ".join(g),
        "、".join(g),
        ",".join(g).upper(),
        ",".join(g).translate(FULL),
        "答え: " + ",".join(g),
        "**" + g[0] + "**",
        g[0] + "\n理由: 典型的な所見。",
        g[0],
        other,
        other + "," + g[0],
        "",
        "\n\n" + ",".join(g),
        "a or d",
        "04",
        "0.4",
        "解なし",
        " " + g[0],
        "1,3,5",
        "1,3",
        "d,e",
    ]


CASES = {
    # task: (files as published, transcribed reading, transcribed evaluator)
    "igakuqa": (
        lambda: sorted((bench_root() / "IgakuQA" / "data").glob("*/1*-[A-F].jsonl")),
        lambda: bench_root() / "IgakuQA" / "data",
        ref.igakuqa_prediction,
        ref.igakuqa_accuracy,
    ),
    "jjsimqa": (
        lambda: [bench_root() / "medLLM_QA_benchmark" / "jjsimqa.jsonl"],
        lambda: bench_root() / "medLLM_QA_benchmark",
        ref.aistairc_prediction,
        ref.aistairc_accuracy,
    ),
    "yakugakuqa": (
        lambda: sorted((bench_root() / "YakugakuQA" / "data").glob("*/[0-9][0-9][0-9].jsonl")),
        lambda: bench_root() / "YakugakuQA" / "data",
        ref.pharma_prediction,
        ref.pharma_accuracy,
    ),
}


def every_item(task: str) -> list[Sample]:
    loaded = load_task(task, str(CASES[task][1]()))
    return loaded.samples + [s for s, _ in loaded.excluded]


@pytest.mark.parametrize("task", sorted(CASES))
def test_official_mode_agrees_item_for_item_with_the_transcribed_evaluator(task):
    files, _, read, evaluate = CASES[task]
    rows = raw_rows(files())
    samples = every_item(task)
    assert sorted(s.id for s in samples) == sorted(rows)  # every published item, none dropped
    scorer = get_task(task).official
    assert scorer is not None
    checked = agree_right = 0
    for s in samples:
        row = rows[s.id]
        for text in outputs_for(s):
            pred, ours = scorer(s, text)
            assert pred == read(text)
            theirs = evaluate([{"prediction": read(text)}], [row])["accuracy"] > 0
            assert ours == theirs, (s.id, text, pred, row["answer"])
            checked += 1
            agree_right += ours
    assert checked == len(rows) * len(outputs_for(samples[0]))
    assert agree_right > len(rows)  # the table exercises right answers, not only wrong ones
    # and over the whole file at once, in the published order
    texts = [",".join(s.gold or ["1"]) for s in samples]
    by_id = {s.id: t for s, t in zip(samples, texts, strict=True)}
    order = list(rows)
    whole = evaluate([{"prediction": read(by_id[i])} for i in order], [rows[i] for i in order])
    ours_acc = sum(scorer(s, t)[1] for s, t in zip(samples, texts, strict=True)) / len(samples)
    scale = 100 if task == "jjsimqa" else 1
    assert whole["accuracy"] == pytest.approx(scale * ours_acc)


def by_id(task: str) -> dict[str, Sample]:
    return {s.id: s for s in every_item(task)}


def robust(s: Sample, text: str) -> bool:
    return get_task(s.task).score(s, extract_answer(text, s.labels, s.choices))


def official(s: Sample, text: str) -> bool:
    scorer = get_task(s.task).official
    assert scorer is not None
    return scorer(s, text)[1]


def test_igakuqa_special_items_both_modes():
    s = by_id("igakuqa")
    f74 = s["116F74"]  # answer boxes ①.② with gold "04": the value is 0.4
    assert robust(f74, "0.4") and robust(f74, "答え: 0.4") and not robust(f74, "4") and not robust(f74, "04")
    assert official(f74, "04") and not official(f74, "0.4")
    b30 = s["112B30"]  # "a or d": either accepted, one answer
    assert robust(b30, "a") and robust(b30, "答え: d") and not robust(b30, "a,d")
    assert official(b30, "a") and official(b30, "d") and not official(b30, "a,d")
    a71 = s["116A71"]  # correct for everyone
    assert robust(a71, "") and official(a71, "わかりません")
    f75 = s["114F75"]  # "1, ①②③ kcal" with gold "130": 1130 kcal
    assert robust(f75, "1,130 kcal") and not robust(f75, "130") and official(f75, "130")
    excluded = s["112A43"]  # points 0: the official evaluator counts it, robust leaves it out
    assert not in_robust(excluded) and official(excluded, ",".join(excluded.gold))


def test_jjsimqa_special_items_both_modes():
    s = by_id("jjsimqa")
    e26 = s["107_888-26"]  # gold ["d", ",", "e"]
    assert robust(e26, "d,e") and robust(e26, "答え: d、e")
    assert not official(e26, "d,e")  # the official reading keeps one character and the "," stays in the gold
    assert not in_robust(s["107_64-4"])  # excluded as the card asks; still asked for the official count


def test_yakugakuqa_special_items_both_modes():
    s = by_id("yakugakuqa")
    any2 = s["109305"]  # any 2 of 1, 3, 5
    assert robust(any2, "1,3") and robust(any2, "3, 5") and robust(any2, "答え: 1と5")
    assert not robust(any2, "1,3,5") and not robust(any2, "1")
    assert not official(any2, "1,3")  # the published answer list keeps its note; nothing matches it
    for pid in ("102288", "104197", "109330"):  # 解なし written as variants: voided
        assert s[pid].voided and not robust(s[pid], ",".join(s[pid].labels[:1])) and not in_robust(s[pid])
    assert s["109030"].meta["duplicate_of"] == "109003"
    fig = next(x for x in s.values() if x.meta.get("figure_choices") and len(x.gold) == 1)
    assert robust(fig, fig.gold[0]) and official(fig, fig.gold[0])


def _fake_run(task: str, data: Path, text_for) -> dict:
    """A run over the real files with answers we write (no model): both modes and the subsets."""
    suite = Suite(tasks=[TaskRun(task=task, data=str(data))], bootstrap=0)
    from medswallow.bench.runner import prepare

    prep: Prepared = prepare(suite, suite.tasks[0])
    assert prep.style is not None and prep.sampling is not None
    for s in prep.samples:
        job = ChatJob(prep, s, 0, [], None)
        prep.records.append(chat_record(job, ChatResult(text=text_for(s), finish_reason="stop")))
    return build_results(suite, [prep], "m", 0.0, {})["tasks"][task]


def test_igakuqa_run_reports_both_modes_subsets_and_kinki_per_exam():
    t = _fake_run("igakuqa", bench_root() / "IgakuQA" / "data", lambda s: ",".join(s.gold))
    assert t["asked"] == 2000 and t["n"] == 1989 and t["official"]["n"] == 2000
    sub = t["subsets"]
    assert len(sub["excluded_by_exam"]) == 11 and sub["figure"]["n"] + sub["text_only"]["n"] == 1989
    # robust: every written gold is right except the answer-box items whose gold is not the value
    wrong = {"116F74", "114C75", "114F75", "116B50"}
    assert t["accuracy"] == pytest.approx(1 - len(wrong) / 1989)
    assert set(t["official"]["differ"]) == wrong  # official takes the written "04"
    assert t["official"]["accuracy"] == 1.0
    kinki = t["contraindicated_by_exam"]
    assert {e: k["items"] for e, k in kinki.items()} == {
        "112": 32,
        "113": 34,
        "114": 22,
        "115": 22,
        "116": 25,
    }
    assert all(k["picked_per_repeat"] == [0] for k in kinki.values())


def test_yakugakuqa_run_reports_figure_subset_and_voided():
    t = _fake_run("yakugakuqa", bench_root() / "YakugakuQA" / "data" / "2024" / "109.jsonl", lambda s: "1")
    sub = t["subsets"]
    assert t["asked"] == 345 and t["n"] == 343 and t["official"]["n"] == 345
    assert len(sub["figure_choices"]) == 30 and sub["voided"] == ["109111", "109330"]
    assert t["official"]["text_only"]["n"] == 250  # the --text-only number of pharma-LLM-eval's pipeline
    assert sub["duplicates"] == {"109030": "109003", "109040": "109004"}
