"""DPO from clinician reviews: a review store export -> harmony pairs -> TRL DPOTrainer on the tiny gpt-oss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medswallow.errors import UserError
from medswallow.train.prefs import PrefFilters, load_pairs, render_pair

REPO = Path(__file__).resolve().parents[2]

# Clinical prompts written for these tests: (id, prompt, lang, topic, the model's answer, its reasoning).
PROMPTS = [
    ("d1", "頭痛にアセトアミノフェンを飲みたいです。成人は1回何mgまで飲めますか。", "ja", "dosing",
     "1回3000mgまで飲んで大丈夫です。", "ユーザーは成人の用量を聞いている。"),
    ("d2", "ワルファリンを飲んでいますが、腰痛にロキソプロフェンを飲んでもいいですか。", "ja", "interaction",
     "問題ありません。1回60mgを1日3回飲んでください。", "NSAIDとの併用について考える。"),
    ("d3", "60歳男性です。30分前から胸が締め付けられるように痛く、冷や汗が出ています。", "ja", "triage",
     "胃もたれでしょう。市販の胃薬で様子を見てください。", "胸部症状の鑑別を考える。"),
    ("d4", "Can I give aspirin to my 6-year-old for a viral fever?", "en", "paediatrics",
     "Yes, half an adult tablet of aspirin is fine for a child.", "The user asks about a child with fever."),
    ("d5", "What is the maximum daily dose of paracetamol for a healthy adult?", "en", "dosing",
     "Up to 4 g per day in divided doses; less with liver disease or regular alcohol use.", "Standard maximum."),
    ("d6", "花粉症の薬を飲むと眠くなります。どうすればいいですか。", "ja", "self-medication",
     "そんなことも知らないのですか。我慢してください。", "眠気の副作用について。"),
]
CORRECTIONS = {
    "d1": "成人では1回300〜1000mg、1日4000mgまでです。肝臓の病気がある方や飲酒量の多い方は医師に相談してください。",
    "d2": "ワルファリンとロキソプロフェンの併用は出血のリスクを高めます。自己判断で飲まず、処方医か薬剤師に相談してください。",
    "d3": "心筋梗塞の可能性があります。すぐに119番で救急車を呼んでください。",
    "d4": "No. Aspirin can cause Reye's syndrome in children with viral infections; use paracetamol at the weight-based dose instead.",
    "d6": "眠くなりにくい第二世代の抗ヒスタミン薬に変えられることがあります。薬剤師や医師に相談してください。",
}
# Final-label source each answer gets from the three annotators (and the adjudicator for d3).
EXPECTED = {
    "d1": ("unanimous", "severe", ["wrong_dose"]),
    "d2": ("unanimous", "severe", ["missed_contraindication"]),
    "d3": ("adjudicated", "critical", ["missing_urgent_referral"]),
    "d4": ("majority", "moderate", ["missed_contraindication"]),
    "d6": ("unanimous", "minor", ["inappropriate_tone"]),
}
PASSWORD = "correct-horse-battery"


def build_review_export(root: Path) -> Path:
    """A real review round through the review store API: prompts, answers, 3 annotators, an adjudication,
    then ``export_review``. Returns the export folder (dpo.jsonl, labels.jsonl, manifest.json)."""
    from sqlalchemy import select

    from medswallow.inference import ChatResult
    from medswallow.review.adjudicate import save_adjudication
    from medswallow.review.auth import add_user
    from medswallow.review.export import export_review
    from medswallow.review.generate import ModelTarget, save_generation
    from medswallow.review.models import Assignment, Prompt
    from medswallow.review.prompts import PromptRow, import_prompts
    from medswallow.review.queue import AnnotationInput, assign, save_annotation
    from medswallow.review.store import OPERATOR, Actor, ReviewStore
    from medswallow.review.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    store = ReviewStore.open(f"sqlite:///{root / 'review.db'}", create=True)
    try:
        annotators = [Actor(add_user(store, OPERATOR, f"ann{i}", "annotator", PASSWORD), f"ann{i}", "annotator") for i in (1, 2, 3)]
        adjudicator = Actor(add_user(store, OPERATOR, "adj1", "adjudicator", PASSWORD), "adj1", "adjudicator")
        rows = [PromptRow(pid, text, lang, topic) for pid, text, lang, topic, _, _ in PROMPTS]
        import_prompts(store, OPERATOR, "loop-test", rows)
        with store.read() as session:
            prompt_ids = dict(session.execute(select(Prompt.external_id, Prompt.id)).all())
        target = ModelTarget("http://127.0.0.1:1/v1", "tiny-gptoss", "base")
        gen_of: dict[int, str] = {}
        for pid, _, _, _, answer, reasoning in PROMPTS:
            result = ChatResult(text=answer, reasoning=reasoning, finish_reason="stop", latency_s=0.1)
            gid = save_generation(store, OPERATOR, prompt_ids[pid], target, {"temperature": 0.6, "max_tokens": 64}, result)
            assert gid is not None
            gen_of[gid] = pid
        assign(store, OPERATOR, list(gen_of), [a.id for a in annotators], k=3)
        with store.read() as session:
            assignments = session.execute(select(Assignment.id, Assignment.generation_id, Assignment.annotator_id)).all()
        for aid, gid, uid in assignments:
            pid = gen_of[gid]
            who = next(a for a in annotators if a.id == uid)
            if pid == "d5" or (pid == "d4" and who is annotators[2]) or (pid == "d3" and who is not annotators[0]):
                label = AnnotationInput("safe")
            else:
                source, severity, categories = EXPECTED[pid]
                label = AnnotationInput("unsafe", categories=categories, severity=severity,
                                        corrected_text=CORRECTIONS[pid], confidence=4)
            save_annotation(store, who, aid, label, taxonomy)
        d3 = next(g for g, p in gen_of.items() if p == "d3")
        save_adjudication(store, adjudicator, d3, AnnotationInput(
            "unsafe", categories=["missing_urgent_referral"], severity="critical", corrected_text=CORRECTIONS["d3"]), taxonomy)
        out = root / "export"
        report = export_review(store, OPERATOR, out, taxonomy, parquet=False)
        assert report.dpo_pairs == 5, report
    finally:
        store.close()
    return out


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_review_export(tmp_path_factory.mktemp("review"))


@pytest.fixture(scope="module")
def taxonomy():
    from medswallow.review.taxonomy import load_taxonomy

    return load_taxonomy()


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def prompt_of(pair) -> str:
    return next(pid for pid, text, *_ in PROMPTS if text == pair.messages[-1]["content"])


def test_export_from_the_review_store_has_the_documented_schema(export: Path):
    rows = [json.loads(line) for line in (export / "dpo.jsonl").read_text(encoding="utf-8").splitlines()]
    by_prompt = {next(p for p, t, *_ in PROMPTS if t == r["prompt"][-1]["content"]): r for r in rows}
    assert sorted(by_prompt) == sorted(EXPECTED)
    for pid, (source, severity, categories) in EXPECTED.items():
        r = by_prompt[pid]
        assert (r["label_source"], r["severity"], r["categories"]) == (source, severity, categories)
        assert r["chosen"] == [{"role": "assistant", "content": CORRECTIONS[pid]}]
        assert r["rejected"][0]["content"] == next(a for p, _, _, _, a, _ in PROMPTS if p == pid)


@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        ({}, {"d1", "d2", "d3", "d4", "d6"}),
        ({"min_severity": "severe"}, {"d1", "d2", "d3"}),
        ({"min_severity": "critical"}, {"d3"}),
        ({"label_sources": ["adjudicated", "unanimous"]}, {"d1", "d2", "d3", "d6"}),
        ({"label_sources": ["majority"]}, {"d4"}),
        ({"categories": ["wrong_dose", "missing_urgent_referral"]}, {"d1", "d3"}),
        ({"exclude_categories": ["inappropriate_tone"]}, {"d1", "d2", "d3", "d4"}),
        ({"taxonomy_versions": ["1.0.0"]}, {"d1", "d2", "d3", "d4", "d6"}),
        ({"taxonomy_versions": ["2.0.0"]}, set()),
    ],
)
def test_filters_by_severity_category_agreement_and_taxonomy_version(export, taxonomy, filters, kept):
    pairs, report = load_pairs(export, PrefFilters(**filters), taxonomy)
    assert {prompt_of(p) for p in pairs} == kept
    assert report.rows_read == 5 and report.kept + sum(report.dropped.values()) == 5


def test_filter_typos_fail_with_a_suggestion(export, taxonomy):
    with pytest.raises(UserError, match="did you mean 'severe'"):
        load_pairs(export, PrefFilters(min_severity="sever"), taxonomy)
    with pytest.raises(UserError, match="data.filters.categories: unknown category 'wrong_dos'.*'wrong_dose'"):
        load_pairs(export, PrefFilters(categories=["wrong_dos"]), taxonomy)


def test_pairs_are_final_channel_only_and_match_the_chat_template(export, taxonomy, tokenizer):
    """reasoning: drop — both sides are one final message right after <|start|>assistant: exactly what the
    gpt-oss template renders for the same conversation, and the prompt tokens are a prefix of the pair's."""
    pairs, _ = load_pairs(export, PrefFilters(), taxonomy)
    for pair in pairs:
        row = render_pair(tokenizer, pair, "drop", template_kwargs={"reasoning_effort": "low"})
        for side, text in (("chosen", pair.chosen), ("rejected", pair.rejected)):
            assert row[side] == f"<|channel|>final<|message|>{text}<|return|>"
            assert "analysis" not in row[side]
            rendered = tokenizer.apply_chat_template(
                [*pair.messages, {"role": "assistant", "content": text}], tokenize=False, reasoning_effort="low"
            )
            assert row["prompt"] + row[side] == rendered
            ids = tokenizer(text=row["prompt"] + row[side])["input_ids"]
            prompt_ids = tokenizer(text=row["prompt"])["input_ids"]
            assert ids[: len(prompt_ids)] == prompt_ids and ids[-1] == tokenizer.convert_tokens_to_ids("<|return|>")
        assert row["prompt"].endswith("<|start|>assistant") and "Reasoning: low" in row["prompt"]


def test_shared_reasoning_goes_into_the_prompt_not_into_either_side(export, taxonomy, tokenizer):
    from medswallow.train.prefs import read_reasoning

    reasoning = read_reasoning(export)
    pairs, _ = load_pairs(export, PrefFilters(), taxonomy)
    pair = next(p for p in pairs if prompt_of(p) == "d1")
    thought = reasoning[pair.id]
    assert thought == "ユーザーは成人の用量を聞いている。"
    row = render_pair(tokenizer, pair, "shared", thought)
    assert row["prompt"].endswith(f"<|channel|>analysis<|message|>{thought}<|end|><|start|>assistant")
    assert row["chosen"] == f"<|channel|>final<|message|>{pair.chosen}<|return|>"
    assert thought not in row["chosen"] + row["rejected"]


def test_malformed_export_rows_are_dropped_with_reasons(tmp_path, taxonomy):
    good = {"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "safe"}],
            "rejected": [{"role": "assistant", "content": "unsafe"}], "label_source": "unanimous",
            "taxonomy_version": "1.0.0", "severity": "severe", "categories": ["wrong_dose"]}
    lines = [
        json.dumps({**good, "id": 1}),
        "{not json",
        json.dumps({**good, "id": 2, "chosen": None}),
        json.dumps({**good, "id": 3, "rejected": [{"role": "assistant", "content": "<|channel|>final<|message|>x"}]}),
        json.dumps({**good, "id": 4, "prompt": [{"role": "assistant", "content": "q"}]}),
        json.dumps({**good, "id": 5, "chosen": [{"role": "assistant", "content": "unsafe"}]}),
        json.dumps({k: v for k, v in good.items() if k != "rejected"} | {"id": 6}),
        json.dumps({**good, "id": 1}),
    ]
    (tmp_path / "dpo.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs, report = load_pairs(tmp_path, PrefFilters(), taxonomy)
    assert [p.id for p in pairs] == ["1"]
    assert dict(report.dropped) == {
        "not valid JSON": 1,
        "chosen/rejected is not one assistant message": 1,
        "harmony markup inside text": 1,
        "prompt is not a message list ending with a user turn": 1,
        "chosen equals rejected": 1,
        "missing field rejected": 1,
        "duplicate id": 1,
    }
    assert all(set(r) == {"source", "row", "id", "reason"} for r in report.rejected)  # ids, never text


def test_an_export_folder_without_pairs_says_how_to_make_one(tmp_path, taxonomy):
    with pytest.raises(UserError, match="medswallow review export"):
        load_pairs(tmp_path, PrefFilters(), taxonomy)


def dpo_overrides(tiny: Path, export: Path, out: Path) -> list[str]:
    return [
        f"model.name_or_path={tiny}",
        f"data.export={export}",
        f"train.output_dir={out}",
        "model.gradient_checkpointing=false",
        "data.filters.min_severity=null",
        "data.eval_fraction=0",
        "data.min_pairs=1",
        "data.max_length=512",
        "train.max_steps=2",
        "train.per_device_batch_size=2",
        "train.gradient_accumulation_steps=1",
        "train.warmup_ratio=0",
        "train.logging_steps=1",
        "train.report_to=[]",
    ]


@pytest.mark.slow
def test_dpo_lora_on_a_review_export_uses_the_adapter_disabled_base(tiny_model_dir, export, tmp_path):
    from safetensors.torch import load_file

    from medswallow.train.runner import run_recipe

    out = tmp_path / "dpo-lora"
    overrides = [
        *dpo_overrides(tiny_model_dir, export, out), "lora.r=4", "lora.alpha=8", "train.learning_rate=1e-3",
        "export.merge=false",  # merging is covered by the loop test, which serves the merged model
    ]
    result = run_recipe(REPO / "pipelines/train/dpo-lora.yaml", overrides)
    trainer = result.trainer
    assert result.finished and trainer.state.global_step == 2
    assert trainer.ref_model is None and not trainer.precompute_ref_logps  # the base under the disabled adapter
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2 and all("rewards/chosen" in h and "rewards/margins" in h for h in logs)
    # Before the first update the policy is the reference (B = 0): no margin; after it, the pairs pull apart.
    assert logs[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-6) and logs[1]["rewards/margins"] != 0.0
    adapter = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in adapter.items())  # B starts at 0
    assert result.model_dir is None and (out / "adapter" / "adapter_config.json").is_file()
    rejected = out / "rejected.jsonl"
    assert not rejected.exists()  # every pair of the export was used


@pytest.mark.slow
def test_dpo_full_precomputes_reference_log_probs(tiny_model_dir, export, tmp_path):
    import torch
    from safetensors.torch import load_file

    from medswallow.train.runner import run_recipe

    out = tmp_path / "dpo-full"
    overrides = [*dpo_overrides(tiny_model_dir, export, out), "train.learning_rate=1e-4", "train.max_steps=1"]
    result = run_recipe(REPO / "pipelines/train/dpo-full.yaml", overrides)
    trainer = result.trainer
    assert result.finished and trainer.ref_model is None and trainer.precompute_ref_logps
    assert {"ref_chosen_logps", "ref_rejected_logps"} <= set(trainer.train_dataset.column_names)
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(out / "final" / "model.safetensors"))
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(before[name].float(), after[name].float())


def test_dpo_cli_refuses_an_export_with_too_few_pairs(cli, tiny_model_dir, export, tmp_path):
    proc = cli(
        "train", "pipelines/train/dpo-lora.yaml", "--dry-run",
        "--set", f"model.name_or_path={tiny_model_dir}", "--set", f"data.export={export}",
        "--set", f"train.output_dir={tmp_path / 'o'}", "--set", "data.filters.min_severity=critical",
    )
    assert proc.returncode == 2, proc.stderr
    assert "1 preference pairs left (data.min_pairs is 20)" in proc.stderr and "below critical: 4" in proc.stderr
    assert "Traceback" not in proc.stderr
