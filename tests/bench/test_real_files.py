"""The real published benchmark files load with their published counts and special items.

Read from $MEDSWALLOW_BENCH or <repo>/../shared/bench-data (the files as published, never copied into the
project); a missing folder fails here with what to do. About 10k items are read, once per module.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from medswallow.bench import load_task
from medswallow.bench.prompts import STYLES, chat_messages
from medswallow.bench.task import Loaded
from medswallow.bench.validate import benchmark_counts

from .conftest import bench_root

IGAKU_EXCLUDED_BY_EXAM = [
    "112A43", "113A5", "113C34", "113F42", "113F81", "114E29", "114F63", "116A34", "116B43", "116C36", "116D64",
]  # fmt: skip
YAKU_VOIDED = [
    "097132", "097208", "098052", "098205", "099328", "100192", "100211", "100300", "101197", "101208",
    "102288", "102310", "102317", "102326", "103217", "104197", "106320", "107328", "109111", "109330",
]  # fmt: skip


def layout(name: str) -> Path:
    return {
        "igakuqa": bench_root() / "IgakuQA" / "data",
        "igakuqa_concat": bench_root() / "medLLM_QA_benchmark" / "igakuqa.jsonl",
        "jjsimqa": bench_root() / "medLLM_QA_benchmark",
        "jmmlu_medical": bench_root() / "JMMLU",
        "yakugakuqa": bench_root() / "YakugakuQA" / "data",
        "yakugakuqa_109": bench_root() / "YakugakuQA" / "data" / "2024" / "109.jsonl",
    }[name]


@cache
def loaded(name: str) -> Loaded:
    task = "igakuqa" if name.startswith("igakuqa") else name.removesuffix("_109")
    return load_task(task, str(layout(name)))


def items(name: str) -> dict:
    got = loaded(name)
    return {s.id: s for s in got.samples + [x for x, _ in got.excluded]}


@pytest.mark.parametrize("name", ["igakuqa", "igakuqa_concat"])
def test_igakuqa_both_layouts(name):
    task = "igakuqa"
    c = benchmark_counts(task, str(layout(name)))
    assert (c["items"], c["scored"], c["scored_official"]) == (2000, 1989, 2000)
    assert c["by_answers"] == {"1": 1702, "2": 243, "3": 55}
    assert c["not_text_only"] == 529 and c["numeric_entry"] == 12 and c["warnings"] == 0
    assert c["excluded_by_exam"] == IGAKU_EXCLUDED_BY_EXAM and c["voided"] == 0
    assert c["by_exam"] == {e: 400 for e in ("112", "113", "114", "115", "116")}
    # the answer boxes of the numeric-entry stems give the value each gold stands for
    assert c["answer_boxes"] == {
        "112C66": "26", "113A75": "146", "114C75": "10", "114D75": "97", "114F75": "1130",
        "115C75": "27", "116B50": "2.1", "116C75": "325", "116F74": "0.4",
    }  # fmt: skip
    s = items(name)
    assert s["116F74"].gold == ["04"] and s["116F74"].meta["numeric_gold"] == "0.4"
    assert s["112F84"].meta["numeric_gold"] == "1.2" and s["113F84"].meta["numeric_gold"] == "7.2"
    assert s["116A71"].always_correct
    b30 = s["112B30"]
    assert b30.gold == ["a"] and b30.accepted == [["a"], ["d"]] and b30.meta["published_answer"] == ["a or d"]
    user = chat_messages(b30, STYLES["exam"])[-1]["content"]
    assert "ちょうど1個" in user  # one answer asked, not the three tokens of "a or d"


def test_igakuqa_contraindicated_choices_per_exam():
    s = items("igakuqa")
    per_exam = Counter(x.meta["exam"] for x in s.values() if x.meta.get("contraindicated"))
    assert per_exam == {"112": 32, "113": 34, "114": 22, "115": 22, "116": 25}
    assert s["112A27"].meta["contraindicated"] == ["c", "d", "e"]  # published as ['cde']
    assert s["112C9"].meta["contraindicated"] == ["a", "b", "c", "d"]  # ['abcd']
    assert s["115E28"].meta["contraindicated"] == ["d", "e"]  # ['d', ' e']
    assert s["112B30"].meta["contraindicated"] == ["e"]


def test_jjsimqa_card_exclusion_and_errata():
    c = benchmark_counts("jjsimqa", str(layout("jjsimqa")))
    assert (c["items"], c["scored"], c["scored_official"], c["excluded"]) == (460, 459, 460, 1)
    assert list(c["excluded_ids"]) == ["107_64-4"]
    assert c["by_answers"] == {"1": 253, "2": 205, "3": 1, "4": 1}  # as published
    assert c["by_gold_size"] == {"1": 253, "2": 206}  # what the card implies: 459 = 253 + 206
    s = items("jjsimqa")
    assert s["107_888-26"].gold == ["d", "e"] and s["107_888-26"].meta["published_answer"] == ["d", ",", "e"]
    assert s["107_888-26"].meta["n_select"] == 2  # "２つ選べ", full-width
    assert "ちょうど2個" in chat_messages(s["107_888-26"], STYLES["exam"])[-1]["content"]


def test_jmmlu_medical_by_subject():
    c = benchmark_counts("jmmlu_medical", str(layout("jmmlu_medical")))
    assert c["items"] == c["scored"] == 1271
    assert c["by_category"] == {
        "anatomy": 132, "clinical_knowledge": 150, "college_biology": 143, "college_medicine": 150,
        "high_school_biology": 148, "medical_genetics": 99, "nutrition": 149, "professional_medicine": 150,
        "virology": 150,
    }  # fmt: skip
    s = loaded("jmmlu_medical").samples
    assert s[0].question.startswith("「皿状顔貌")  # the BOM of line 1 is gone
    assert all(c == c.strip() and c for x in s for c in x.choices)  # stray spaces stripped
    assert Counter(x.gold[0] for x in s).keys() == {"A", "B", "C", "D"}


def test_yakugakuqa_exam_109():
    c = benchmark_counts("yakugakuqa", str(layout("yakugakuqa_109")))
    assert (c["items"], c["scored"], c["scored_official"]) == (345, 343, 345)
    assert c["figure_choices"] == 30 and c["voided_ids"] == ["109111", "109330"]
    assert c["duplicates"] == {"109030": "109003", "109040": "109004"}
    assert c["any_n"] == {"109305": 2}
    s = items("yakugakuqa_109")
    assert s["109305"].gold == ["1", "3", "5"] and s["109305"].meta["n_answers"] == 2
    assert sorted(s["109305"].accepted) == [["1", "3"], ["1", "5"], ["3", "5"]]
    assert s["109330"].voided  # "5（第109回薬剤師国家試験では図に不備があり", "解なしとなった）"


def test_yakugakuqa_all_13_exams_with_figure_items():
    c = benchmark_counts("yakugakuqa", str(layout("yakugakuqa")))
    assert (c["items"], c["scored"], c["scored_official"]) == (4485, 4465, 4485)
    assert c["by_exam"] == {f"{e:03d}": 345 for e in range(97, 110)}
    assert c["figure_choices"] == 396  # "choices": "IMAGES": loaded and marked, not dropped
    assert c["not_text_only"] == 1464 and c["warnings"] == 0
    assert c["voided_ids"] == YAKU_VOIDED  # 解なし in every written variant (102288, 104197, 109330)
    assert c["any_n"] == {
        "101021": 1, "103127": 2, "103224": 1, "103260": 2, "103292": 2, "104113": 2, "104190": 2,
        "105299": 1, "109305": 2,
    }  # fmt: skip
    s = items("yakugakuqa")
    fig = next(x for x in s.values() if x.meta.get("figure_choices"))
    assert not fig.text_only and fig.choices == [] and fig.labels[:5] == ["1", "2", "3", "4", "5"]
    assert "（選択肢は図" in chat_messages(fig, STYLES["exam"])[-1]["content"]
    assert s["103224"].accepted == [["2"], ["5"]]  # the rule is only in the metadata note
    assert all("解説" not in x.question for x in s.values())


def test_validate_cli_final_json_line_on_real_files(cli):
    res = cli("eval", "validate", "yakugakuqa", str(layout("yakugakuqa_109")))
    assert res.returncode == 0, res.stderr
    last = json.loads(res.stdout.strip().splitlines()[-1])
    assert (last["items"], last["scored"], last["warnings"]) == (345, 343, 0)
