"""Loaders on tiny fixtures in each benchmark's real format: exact counts, every quirk, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medswallow.bench import TASKS, iter_benchmark_texts, load_task
from medswallow.bench.validate import benchmark_counts
from medswallow.errors import UserError

from .conftest import FIXTURES, TASK_DATA

# task -> (items, scored, voided, excluded, by_answers as published, by_gold_size, not_text_only)
EXPECTED = {
    "igakuqa": (10, 9, 0, 0, {"1": 7, "2": 2, "3": 1}, {"1": 6, "2": 2, "3": 1}, 2),
    "jjsimqa": (6, 5, 0, 1, {"1": 2, "2": 2, "3": 1, "4": 1}, {"1": 2, "2": 3}, 0),
    "jmmlu_medical": (10, 10, 0, 0, {"1": 10}, {"1": 10}, 0),
    "mmlu_medical_jp": (3, 3, 0, 0, {"1": 3}, {"1": 3}, 0),
    "medmcqa_jp": (3, 3, 0, 0, {"1": 3}, {"1": 3}, 0),
    "medqa_jp": (2, 2, 0, 0, {"1": 2}, {"1": 2}, 0),
    "jusmleqa_jp": (2, 2, 0, 0, {"1": 2}, {"1": 2}, 0),
    "yakugakuqa": (6, 5, 1, 0, {"1": 4, "2": 2}, {"1": 3, "2": 2}, 1),
}


def test_every_task_has_a_fixture():
    assert set(EXPECTED) == set(TASKS) == set(TASK_DATA)


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_exact_counts(task):
    items, scored, voided, excluded, by_answers, by_gold, not_text_only = EXPECTED[task]
    c = benchmark_counts(task, str(TASK_DATA[task]))
    assert (c["items"], c["scored"], c["voided"], c["excluded"]) == (items, scored, voided, excluded)
    assert c["by_answers"] == by_answers
    assert c["by_gold_size"] == by_gold
    assert c["not_text_only"] == not_text_only
    assert c["text_only"] == items - not_text_only
    assert c["warnings"] == 0


def test_validate_cli_prints_one_json_object(cli):
    res = cli("eval", "validate", "yakugakuqa", str(TASK_DATA["yakugakuqa"]))
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["items"] == 6 and out["voided"] == 1
    assert out["by_category"] == {
        "Chemistry": 1,
        "Hygiene": 1,
        "Pharmacology": 2,
        "Pharmacy": 1,
        "Physics": 1,
    }
    assert out["by_exam"] == {"097": 4, "109": 2}


def by_id(task: str) -> dict:
    return {s.id: s for s in load_task(task, str(TASK_DATA[task])).samples}


def test_igakuqa_quirks():
    s = by_id("igakuqa")
    assert s["116A71"].always_correct
    assert s["112B30"].accepted == [["a"], ["d"]]
    assert s["112A4"].choices == [] and s["112A4"].gold == ["26"]  # numeric entry
    assert not s["112A6"].voided and s["112A6"].meta["excluded_by_exam"]  # points "0": kept, not scored
    assert not s["112A3"].text_only
    assert s["112A5"].gold == ["a", "c", "d"]
    assert s["116A72"].labels == list("abcdefgh") and s["116A72"].gold == ["b", "g"]
    assert s["112B31"].points == 3.0
    assert s["112A2"].category == "循環器" and s["112A2"].meta["contraindicated"] == ["b"]
    assert s["112A1"].meta["exam"] == "112"
    # the *_translate.jsonl and *_metadata.jsonl files beside the blocks are not items
    assert len(s) == 10


def test_jjsimqa_errata():
    loaded = load_task("jjsimqa", str(TASK_DATA["jjsimqa"]))
    ids = {s.id for s in loaded.samples}
    assert "107_64-4" not in ids
    assert [s.id for s, _ in loaded.excluded] == ["107_64-4"]
    s = {x.id: x for x in loaded.samples}
    assert s["107_888-26"].gold == ["d", "e"]  # ["d", ",", "e"] normalised
    assert s["107_888-26"].meta["n_select"] == 2  # "２つ選べ" in full-width digits


def test_jmmlu_bom_stray_spaces_and_subjects():
    s = load_task("jmmlu_medical", str(TASK_DATA["jmmlu_medical"])).samples
    first = s[0]
    assert first.question.startswith("大腿骨頭")  # no BOM left on line 1
    assert first.choices == ["内側大腿回旋動脈", "外側足底動脈", "上殿動脈", "浅腹壁動脈"]  # spaces stripped
    assert {x.category for x in s} == {
        "anatomy",
        "clinical_knowledge",
        "college_biology",
        "college_medicine",
        "high_school_biology",
        "medical_genetics",
        "nutrition",
        "professional_medicine",
        "virology",
    }  # world_history.csv beside them is not a medical subject
    nutrition = next(x for x in s if x.category == "nutrition")
    assert nutrition.gold == ["C"]  # answer cell "c " normalised
    genetics = next(x for x in s if x.category == "medical_genetics")
    assert "\n" in genetics.question  # a quoted cell spanning two lines is one question


def test_jmedbench_zero_based_answers_and_configs():
    s = by_id("medqa_jp")
    assert s["q-1"].labels == list("ABCDE") and s["q-1"].gold == ["C"]
    u = by_id("jusmleqa_jp")
    assert u["u-1"].labels == list("ABCD") and u["u-1"].gold == ["C"]
    m = by_id("mmlu_medical_jp")
    assert set(m) == {"0", "1", "2"}  # train.jsonl beside test.jsonl is not read
    assert m["1"].category == "college_biology"


def test_yakugakuqa_digits_voided_and_metadata():
    s = by_id("yakugakuqa")
    assert s["097001"].labels == ["1", "2", "3", "4", "5"] and s["097001"].gold == ["4"]
    assert s["097002"].gold == ["1", "2"]
    assert s["097003"].voided
    assert s["109002"].category == "Pharmacy"
    assert all("解説" not in x.question for x in s.values())  # the explanation never reaches a prompt


def test_single_files_load_too(tmp_path):
    f = TASK_DATA["yakugakuqa"] / "data" / "2012" / "097.jsonl"
    s = load_task("yakugakuqa", str(f)).samples
    assert len(s) == 4 and s[0].category == "Physics"  # metadata_097.jsonl beside it is found
    csv = TASK_DATA["jmmlu_medical"] / "anatomy.csv"
    assert len(load_task("jmmlu_medical", str(csv)).samples) == 2


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_iter_benchmark_texts(task):
    pairs = list(iter_benchmark_texts(task, str(TASK_DATA[task])))
    loaded = load_task(task, str(TASK_DATA[task]))
    samples = loaded.samples + [s for s, _ in loaded.excluded]  # errata items are benchmark text too
    assert len(pairs) == EXPECTED[task][0]
    assert [i for i, _ in pairs] == [s.id for s in samples]
    for (_, text), s in zip(pairs, samples, strict=True):
        assert text == "\n".join([s.question, *s.choices])


def test_unknown_task_suggests():
    with pytest.raises(UserError, match="did you mean 'yakugakuqa'"):
        list(iter_benchmark_texts("yakugakuq", str(FIXTURES)))


def test_missing_path_is_clear():
    with pytest.raises(UserError, match="does not exist"):
        load_task("igakuqa", "/no/such/folder")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# (task, fixture folder, file to break, replacement text, expected message parts)
BROKEN = [
    (
        "igakuqa",
        "igakuqa",
        "data/2018/112-B.jsonl",
        '{"problem_id": "112B1", "choices": []}\n',
        ["112-B.jsonl:1", "problem_text"],
    ),
    (
        "igakuqa",
        "igakuqa",
        "data/2018/112-B.jsonl",
        '{"problem_id": "112B1",\n',
        ["112-B.jsonl:1", "not valid JSON"],
    ),
    ("jjsimqa", "jjsimqa", "jjsimqa.jsonl", '["not", "an", "object"]\n', ["jjsimqa.jsonl:1", "JSON object"]),
    (
        "jjsimqa",
        "jjsimqa",
        "jjsimqa.jsonl",
        '{"problem_id": "x", "problem_text": "q", "choices": "a,b", "answer": ["a"]}\n',
        ["jjsimqa.jsonl:1", "'choices' must be a list"],
    ),
    (
        "jmmlu_medical",
        "jmmlu",
        "virology.csv",
        "\ufeff質問,一,二,三,A\n",
        ["virology.csv:1", "expected 6 CSV cells, found 5"],
    ),
    (
        "jmmlu_medical",
        "jmmlu",
        "nutrition.csv",
        "質問,一,二,三,四,E\n",
        ["nutrition.csv:1", "not one of A, B, C, D"],
    ),
    (
        "medqa_jp",
        "jmedbench",
        "medqa_jp/test.jsonl",
        '{"question": "q", "options": ["a", "b"], "answer_idx": 2}\n',
        ["test.jsonl:1", "0-based"],
    ),
    (
        "medmcqa_jp",
        "jmedbench",
        "medmcqa_jp/test.jsonl",
        '{"question": "q", "options": ["a", "b"]}\n',
        ["test.jsonl:1", "answer_idx"],
    ),
    (
        "yakugakuqa",
        "yakugakuqa",
        "data/2024/109.jsonl",
        '{"problem_id": "109001", "answer": ["1"]}\n',
        ["109.jsonl:1", "problem_text"],
    ),
]


@pytest.mark.parametrize(("task", "folder", "rel", "text", "parts"), BROKEN)
def test_wrong_shape_names_file_and_line(tmp_path, task, folder, rel, text, parts):
    root = _copy(FIXTURES / folder, tmp_path / folder)
    (root / rel).write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_task(task, str(root))
    for part in parts:
        assert part in str(err.value)


def test_wrong_shape_via_cli_is_one_line_no_traceback(cli, tmp_path):
    root = _copy(FIXTURES / "jjsimqa", tmp_path / "jjsimqa")
    (root / "jjsimqa.jsonl").write_text("{oops\n", encoding="utf-8")
    res = cli("eval", "validate", "jjsimqa", str(root))
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert "jjsimqa.jsonl:1" in res.stderr


def test_hf_id_reads_the_cached_hub_snapshot(cli, tmp_path):
    """An HF id whose repo is in the local hub cache loads offline through the same loader as a checkout."""
    repo = tmp_path / "hf" / "hub" / "datasets--Coldog2333--JMedBench"
    snap = repo / "snapshots" / "0123abcd"
    shutil.copytree(FIXTURES / "jmedbench" / "usmleqa_jp", snap / "usmleqa_jp")
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    res = cli("eval", "validate", "jusmleqa_jp", "Coldog2333/JMedBench", env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["items"] == 2
    missing = cli("eval", "validate", "jusmleqa_jp", "nobody/NoSuchBench", env=env)
    assert (
        missing.returncode == 2
        and "nobody/NoSuchBench" in missing.stderr
        and "Traceback" not in missing.stderr
    )


def test_jmedbench_fixtures_are_shaped_as_med_eval_reads_them():
    """nii-nlp/med-eval data_loaders/base.py reads sample_id, question, options, answer_idx, n_options and
    metadata (its templates look up metadata["source"]): the fixtures carry exactly those fields."""
    for f in sorted((FIXTURES / "jmedbench").glob("*/test.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert set(row) == {"sample_id", "question", "options", "answer_idx", "n_options", "metadata"}
            assert row["metadata"]["source"] == f.parent.name and row["n_options"] == len(row["options"])
