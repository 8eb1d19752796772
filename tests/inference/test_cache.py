"""The cache key changes with everything that changes the answer, and only with that."""

from __future__ import annotations

import dataclasses

import pytest

from medswallow.inference import InferenceClient, SamplingParams
from medswallow.inference.cache import ResponseCache, cache_key

BASE = SamplingParams(temperature=0.6, top_p=0.95, top_k=20, min_p=0.0, max_tokens=64, seed=1)
MESSAGES = [{"role": "user", "content": "高血圧の第一選択薬は？"}]


def client(model: str = "m") -> InferenceClient:
    return InferenceClient("http://127.0.0.1:9/v1", model=model)


CHANGES = [
    ("temperature", 0.0),
    ("top_p", 1.0),
    ("top_k", 0),
    ("min_p", 0.05),
    ("max_tokens", 65),
    ("seed", 2),
    ("n", 2),
    ("stop", ("\n",)),
    ("reasoning_effort", "high"),
    ("logprobs", 0),
    ("prompt_logprobs", 1),
    ("extra", {"repetition_penalty": 1.1}),
]


@pytest.mark.parametrize("field,value", CHANGES, ids=[c[0] for c in CHANGES])
def test_every_sampling_field_changes_the_chat_key(field, value):
    c = client()
    base = c.key("chat", c.chat_body(MESSAGES, BASE))
    changed = c.key("chat", c.chat_body(MESSAGES, dataclasses.replace(BASE, **{field: value})))
    assert base != changed


def test_model_messages_and_endpoint_change_the_key_but_urls_and_streaming_do_not():
    a, b = client("m"), client("other")
    body = a.chat_body(MESSAGES, BASE)
    assert a.key("chat", body) != b.key("chat", b.chat_body(MESSAGES, BASE))
    assert a.key("chat", body) != a.key("chat", a.chat_body([{"role": "user", "content": "別の質問"}], BASE))
    assert a.key("chat", body) != a.key("completion", body)
    assert a.key("chat", body) == a.key("chat", {**body, "stream": True, "stream_options": {"include_usage": True}})
    replica = InferenceClient(["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"], model="m")
    assert replica.key("chat", replica.chat_body(MESSAGES, BASE)) == a.key("chat", body)
    assert cache_key("chat", body, namespace="ckpt-2") != cache_key("chat", body)


def test_reasoning_effort_is_not_sent_to_completions():
    c = client()
    body = c.completion_body("問題: ...\n答え:", BASE)
    assert "reasoning_effort" not in body and body["prompt"].startswith("問題")
    assert c.completion_body("x", dataclasses.replace(BASE, prompt_logprobs=0))["return_token_ids"] is True


def test_response_cache_roundtrip_and_persistence(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("k", "chat", {"choices": [{"index": 0, "message": {"content": "答え"}}]}, 1.5)
    assert "k" in cache and len(cache) == 1
    cache.close()
    again = ResponseCache(tmp_path)
    body, latency = again.get("k")
    assert body["choices"][0]["message"]["content"] == "答え" and latency == 1.5
    assert again.get("missing") is None


@pytest.mark.parametrize(
    "kwargs",
    [{"n": 0}, {"max_tokens": 0}, {"reasoning_effort": "extreme"}],
)
def test_sampling_params_reject_bad_values(kwargs):
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)

