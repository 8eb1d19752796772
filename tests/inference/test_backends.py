"""Offline backends (transformers generate, vllm.LLM in a worker) give the client's results and cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from medswallow.errors import UserError
from medswallow.inference import SamplingParams
from medswallow.inference.backends import TransformersBackend, VLLMOfflineBackend, load_backend
from medswallow.models.tokenizer import get_encoding

from .thinker import ANSWER_BIAS, STOP_IN_REASONING_BIAS, build_thinker_model

GREEDY = SamplingParams(max_tokens=12, temperature=0.0, top_p=1.0, top_k=None)
MODES = [
    ("reasoning cut by max_tokens", None, "", " Think step\n Think", "length"),
    ("stop inside reasoning", STOP_IN_REASONING_BIAS, "", " Think step", "stop"),
    ("final answer", ANSWER_BIAS, " Think step", "", "stop"),
]


@pytest.fixture(scope="module")
def thinker_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_thinker_model(tiny_model_dir, tmp_path_factory.mktemp("thinker") / "model")


def params_for(bias):
    return SamplingParams(max_tokens=12, temperature=0.0, top_p=1.0, top_k=None, extra={"logit_bias": bias} if bias else None)


def check_modes(backend):
    for name, bias, text, reasoning, finish in MODES:
        res = backend.chat_many(["hi", "こんにちは"], params_for(bias))
        for r in res:
            assert r.ok, (name, r.error)
            assert (r.text, r.reasoning, r.finish_reason) == (text, reasoning, finish), name
            assert r.truncated == (finish == "length") and r.usage.prompt_tokens > 20


@pytest.mark.slow
def test_transformers_backend_channels_logprobs_and_cache(thinker_dir, tmp_path):
    backend = TransformersBackend(str(thinker_dir), name="thinker", cache_dir=tmp_path)
    check_modes(backend)
    prompt = "Hello world, this is"
    res = backend.complete_many([prompt], SamplingParams(max_tokens=2, temperature=0.0, top_p=1.0, logprobs=1, prompt_logprobs=1))[0]
    ids = get_encoding().encode_ordinary(prompt)
    assert res.prompt_logprobs is not None and [t.token_id for t in res.prompt_logprobs[1:]] == ids[1:]
    assert all(t.logprob <= 0 and t.rank >= 1 for t in res.prompt_logprobs[1:])
    assert res.logprobs is not None and len(res.logprobs) == 2
    again = TransformersBackend(str(thinker_dir), name="thinker", cache_dir=tmp_path)
    assert again.chat_many(["hi"], params_for(ANSWER_BIAS))[0].cached and again._model is None  # no model load
    with pytest.raises(UserError, match="does not support"):
        backend.chat_many(["hi"], SamplingParams(max_tokens=2, extra={"guided_json": {}}))


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_offline_backend_matches_the_server_behaviour(thinker_dir, tmp_path):
    env = {"VLLM_CACHE_ROOT": str(tmp_path / "vc"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "ind"), "VLLM_CPU_KVCACHE_SPACE": "1"}
    with VLLMOfflineBackend(str(thinker_dir), name="thinker", cache_dir=tmp_path / "cache", env=env,
                            engine_args={"max_model_len": 1024, "enforce_eager": True}) as backend:
        check_modes(backend)
        res = backend.complete_many(["Hello world, this is"], SamplingParams(max_tokens=2, temperature=0.0, top_p=1.0, prompt_logprobs=0))[0]
        assert res.ok and res.prompt_logprobs is not None and len(res.prompt_logprobs) == 5
        assert backend.stats.answered == 7 and backend.stats.failed == 0
    with VLLMOfflineBackend(str(thinker_dir), name="thinker", cache_dir=tmp_path / "cache") as cached:
        assert all(r.cached for r in cached.chat_many(["hi", "こんにちは"], params_for(ANSWER_BIAS)))
        assert cached._proc is None  # answered from the cache: no engine was started


def test_load_backend_names_the_choices():
    with pytest.raises(UserError, match="did you mean 'vllm'"):
        load_backend("vllmm", "model")
