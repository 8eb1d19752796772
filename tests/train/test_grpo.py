"""GRPO on exam items: the eval-set overlap refusal, the trainer arguments, and 3 steps on the tiny gpt-oss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medswallow.config import load_config
from medswallow.errors import UserError
from medswallow.train import grpo

REPO = Path(__file__).resolve().parents[2]
CI_SUITE = REPO / "pipelines/eval/ci_fixtures.yaml"
RECIPE = REPO / "pipelines/train/grpo-lora.yaml"

# Past-exam style items written for these tests (IgakuQA's format); none is in the eval fixtures.
PAST_EXAM = [
    ("111A1", "成人の安静時の正常な心拍数の範囲はどれか。", ["20〜40/分", "60〜100/分", "120〜160/分", "180〜200/分", "220〜240/分"], ["b"]),
    ("111A2", "ビタミンB12欠乏で生じやすいのはどれか。2つ選べ。", ["巨赤芽球性貧血", "小球性貧血", "亜急性連合性脊髄変性症", "くる病", "夜盲症"], ["a", "c"]),
    ("111A3", "インスリンを分泌する膵島の細胞はどれか。", ["α細胞", "β細胞", "δ細胞", "PP細胞", "腺房細胞"], ["b"]),
    ("111A4", "成人で最も頻度の高い甲状腺癌の組織型はどれか。", ["乳頭癌", "濾胞癌", "髄様癌", "未分化癌", "悪性リンパ腫"], ["a"]),
]
# The first item of the eval fixture tests/bench/fixtures/igakuqa/data/2018/112-A.jsonl.
EVAL_ITEM = ("鉄欠乏性貧血でみられる所見はどれか。", ["MCV上昇", "網赤血球著増", "血清フェリチン低下", "間接ビリルビン上昇", "ハプトグロビン低下"])


def write_exam(folder: Path, extra: list[tuple[str, str, list[str], list[str]]] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "111-A.jsonl").open("w", encoding="utf-8") as f:
        for pid, question, choices, answer in [*PAST_EXAM, *(extra or [])]:
            row = {"problem_id": pid, "problem_text": question, "choices": choices, "text_only": True, "answer": answer, "points": "1"}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def recipe_for(exam: Path, out: Path, *more: str) -> grpo.Recipe:
    overrides = [
        f"data.train.0.data={exam}",
        f"data.decontamination.suites=[{CI_SUITE}]",
        f"train.output_dir={out}",
        *more,
    ]
    return load_config(grpo.Recipe, RECIPE, overrides)


def check(recipe: grpo.Recipe) -> int:
    items = [(grpo.source_name(src), s) for src, samples in grpo.load_items(recipe) for s in samples]
    return grpo.check_decontamination(recipe, items)


@pytest.mark.parametrize(
    "copy",
    [
        pytest.param((EVAL_ITEM[0], EVAL_ITEM[1]), id="verbatim"),
        pytest.param(("鉄欠乏性貧血で みられる所見は、どれか？", [" MCV 上昇", "網赤血球著増", "血清フェリチン低下", "間接ビリルビン上昇", "ハプトグロビン低下"]),
                     id="spacing-and-punctuation"),
        pytest.param(("鉄欠乏性貧血でみられる所見はどれか。", ["MCV上昇", "網赤血球著増", "血清フェリチン低下", "間接ビリルビン上昇", "ハプトグロビン低下。"]),
                     id="trailing-punctuation"),
        pytest.param(("次の症例について答えよ。鉄欠乏性貧血でみられる所見はどれか。MCV上昇、網赤血球著増、血清フェリチン低下、"
                      "間接ビリルビン上昇、ハプトグロビン低下の中から選べ。", ["a", "b", "c", "d", "e"]), id="quoted-inside-a-longer-item"),
    ],
)
def test_training_items_that_overlap_eval_items_refuse_the_run(tmp_path, copy):
    exam = write_exam(tmp_path / "exam", [("111A9", copy[0], copy[1], ["c"])])
    with pytest.raises(UserError) as err:
        check(recipe_for(exam, tmp_path / "out"))
    message = str(err.value)
    assert message.startswith("1 training items overlap evaluation items")
    assert "igakuqa:exam:111A9 ~ igakuqa:112A1" in message
    assert "111A1" not in message.replace("111A9", "")  # the clean items are not named


def test_clean_training_items_pass_the_check(tmp_path):
    checked = check(recipe_for(write_exam(tmp_path / "exam"), tmp_path / "out"))
    assert checked > 20  # the eval items of all eight fixture sets of the CI suite


def test_an_unrelated_item_that_shares_a_phrase_is_not_an_overlap(tmp_path):
    near = ("鉄欠乏性貧血の治療で最初に行うのはどれか。", ["経口鉄剤", "輸血", "脾摘", "ステロイド", "骨髄移植"], ["a"])
    check(recipe_for(write_exam(tmp_path / "exam", [("111A9", *near)]), tmp_path / "out"))


def test_no_eval_set_named_refuses_unless_allowed(tmp_path):
    exam = write_exam(tmp_path / "exam")
    recipe = recipe_for(exam, tmp_path / "out", "data.decontamination.suites=[]")
    with pytest.raises(UserError, match="name the evaluation sets"):
        check(recipe)
    allowed = recipe_for(exam, tmp_path / "out", "data.decontamination.suites=[]", "data.decontamination.allow_unchecked=true")
    assert check(allowed) == 0


def test_eval_sets_named_directly_and_unset_variables(tmp_path, monkeypatch):
    exam = write_exam(tmp_path / "exam", [("111A9", EVAL_ITEM[0], EVAL_ITEM[1], ["c"])])
    fixtures = REPO / "tests/bench/fixtures/igakuqa"
    recipe = recipe_for(exam, tmp_path / "out", "data.decontamination.suites=[]",
                        f"data.decontamination.sets=[{{task: igakuqa, data: {fixtures}}}]")
    with pytest.raises(UserError, match="igakuqa:112A1"):
        check(recipe)
    monkeypatch.delenv("MEDSWALLOW_TRAIN_EXAMS", raising=False)
    unset = load_config(grpo.Recipe, RECIPE, [f"train.output_dir={tmp_path / 'o'}"])
    with pytest.raises(UserError, match=r"data.train.0.data: .*\$\{MEDSWALLOW_TRAIN_EXAMS\}, which is not set"):
        grpo.load_items(unset)


def test_recipe_validation_names_the_field(tmp_path):
    with pytest.raises(UserError, match="data.train.0.task.*did you mean 'igakuqa'"):
        recipe_for(tmp_path, tmp_path, "data.train.0.task=igakuq")


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("transformers", {"use_vllm": False}),
        ("vllm_server", {"use_vllm": True, "vllm_mode": "server", "vllm_server_base_url": "http://10.0.0.2:8000"}),
        ("vllm_colocate", {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3}),
    ],
)
def test_generation_backends_map_to_trl_arguments(tmp_path, backend, expected):
    recipe = recipe_for(tmp_path, tmp_path / "out", f"generation.backend={backend}",
                        "generation.vllm_server_url=http://10.0.0.2:8000")
    config = grpo.grpo_config(recipe, [1.0, 0.2, 0.5])
    for key, value in expected.items():
        assert getattr(config, key) == value
    assert config.num_generations == 8 and config.reward_weights == [1.0, 0.2, 0.5]
    assert config.chat_template_kwargs == {"reasoning_effort": "medium"}


def test_batch_that_splits_a_group_is_refused_before_training(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    recipe = recipe_for(write_exam(tmp_path / "exam"), tmp_path / "out", f"model.name_or_path={tiny_model_dir}",
                        "generation.num_generations=3", "train.per_device_batch_size=2", "train.gradient_accumulation_steps=1")
    with pytest.raises(UserError, match="GRPOConfig rejected the arguments.*divisible by num_generations"):
        grpo.load_data(recipe, AutoTokenizer.from_pretrained(str(tiny_model_dir)))


def test_cli_refuses_overlap_before_any_weights_load(cli, tiny_model_dir, tmp_path):
    exam = write_exam(tmp_path / "exam", [("111A9", EVAL_ITEM[0], EVAL_ITEM[1], ["c"])])
    proc = cli(
        "train", str(RECIPE), "--dry-run",
        "--set", f"model.name_or_path={tiny_model_dir}", "--set", f"data.train.0.data={exam}",
        "--set", f"data.decontamination.suites=[{CI_SUITE}]", "--set", f"train.output_dir={tmp_path / 'out'}",
    )
    assert proc.returncode == 2, proc.stderr
    assert "overlap evaluation items" in proc.stderr and "igakuqa:exam:111A9 ~ igakuqa:112A1" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_grpo_three_steps_on_the_tiny_model_with_transformers_generation(tiny_model_dir, tmp_path):
    from medswallow.train.runner import run_recipe

    exam = write_exam(tmp_path / "exam")
    out = tmp_path / "grpo"
    result = run_recipe(RECIPE, [
        f"model.name_or_path={tiny_model_dir}",
        "model.gradient_checkpointing=false",
        f"data.train.0.data={exam}",
        f"data.decontamination.suites=[{CI_SUITE}]",
        "data.reasoning_effort=low",
        "lora.r=4",
        "lora.alpha=8",
        "generation.num_generations=2",
        "generation.max_completion_length=8",  # CPU: very short completions
        "rewards.length.buffer=4",
        f"train.output_dir={out}",
        "train.max_steps=3",
        "train.per_device_batch_size=2",
        "train.gradient_accumulation_steps=1",
        "train.learning_rate=1e-4",
        "train.warmup_ratio=0",
        "train.report_to=[]",
        "export.merge=false",
    ])
    trainer = result.trainer
    assert result.finished and trainer.state.global_step == 3
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 3
    for h in logs:
        # Every reward ran on every completion; 8-token completions of a random model are cut off, so the
        # format reward is 0 and the length penalty is at its floor.
        assert h["rewards/correct/mean"] == 0.0 and h["rewards/format/mean"] == 0.0
        assert h["rewards/length/mean"] == -1.0 and h["completions/clipped_ratio"] == 1.0
    assert (out / "adapter" / "adapter_config.json").is_file()
    plan = json.loads((out / "plan.json").read_text())
    assert plan["kind"] == "grpo" and plan["examples"] == 4 and plan["max_length"] == 1024 + 8
