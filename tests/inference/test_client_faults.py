"""The client against misbehaving servers: every request ends exactly once, answered or failed with a reason.

These use a local OpenAI-shaped fake (tests/inference/faults.py), so they run in seconds; the same faults
in front of the real vLLM server are in test_client_vllm.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from medswallow.errors import UserError
from medswallow.inference import InferenceClient, SamplingParams
from medswallow.inference.cache import ResponseCache

from .faults import FakeOpenAIServer, _free_port

FIRST_ATTEMPT_FAULTS = ["ok", "reset", "503", "429", "slow", "malformed", "truncated"]
PARAMS = SamplingParams(max_tokens=8, seed=0)


def plan(prompt: str, seen: int) -> str:
    if prompt.startswith("always-503"):
        return "503"
    if prompt == "bad-400":
        return "400"
    i = int(prompt.removeprefix("q"))
    return FIRST_ATTEMPT_FAULTS[i % len(FIRST_ATTEMPT_FAULTS)] if seen == 0 else "ok"


def fast_client(url, cache_dir=None, **kw) -> InferenceClient:
    opts = {"max_retries": 3, "timeout": 2.0, "backoff_base": 0.01, "backoff_max": 0.05, "max_concurrency": 4}
    return InferenceClient(url, model="fake-model", cache_dir=cache_dir, **{**opts, **kw})


def test_every_request_ends_once_under_faults_and_a_rerun_asks_only_for_failures(tmp_path):
    prompts = [f"q{i}" for i in range(28)] + ["always-503-a", "always-503-b", "bad-400"]
    with FakeOpenAIServer(plan, slow_s=5.0) as server:
        client = fast_client(server.base_url, tmp_path / "cache")
        results = client.chat_many(prompts, PARAMS)

        assert len(results) == len(prompts)
        for prompt, res in zip(prompts, results, strict=True):
            if prompt.startswith("q"):
                assert res.ok, (prompt, res.error)
                assert res.text == f"echo: {prompt}" and res.reasoning == "thinking"
                fault = plan(prompt, 0)
                assert res.attempts == (1 if fault == "ok" else 2), (prompt, fault)
        always = results[-3:-1]
        assert all(r.error and r.error.startswith("http 503") and "gave up after 4 attempts" in r.error for r in always)
        assert all(r.attempts == 4 and r.finish_reason == "error" and r.text == "" for r in always)
        bad = results[-1]
        assert bad.error is not None and bad.error.startswith("http 400: injected 400") and bad.attempts == 1

        s = client.stats
        assert (s.answered, s.failed, s.cached) == (28, 3, 0)
        assert s.requests == len(prompts)
        assert s.attempts == server.received  # every attempt reached the server and was counted once
        assert s.errors == {"http 503": 2, "http 400": 1}
        assert s.retries == s.attempts - len(prompts)
        assert len(ResponseCache(tmp_path / "cache")) == 28  # answers only; failures are never cached

        before = server.received
        again = fast_client(server.base_url, tmp_path / "cache")
        rerun = again.chat_many(prompts, PARAMS)
        assert [r.text for r in rerun[:28]] == [r.text for r in results[:28]]
        assert all(r.cached for r in rerun[:28])
        assert (again.stats.cached, again.stats.failed, again.stats.answered) == (28, 3, 0)
        assert server.received - before == 4 + 4 + 1  # only the failed ones are asked again


def test_retry_reasons_are_recorded_by_kind():
    with FakeOpenAIServer(plan, slow_s=5.0) as server:
        client = fast_client(server.base_url)
        client.chat_many([f"q{i}" for i in range(7)], PARAMS)
    reasons = client.stats.retry_reasons
    assert reasons["http 503"] == 1 and reasons["http 429"] == 1 and reasons["timeout"] == 1
    assert reasons["malformed response"] == 1
    # a reset and a half-sent body: aiohttp reports them as a disconnect or a payload error
    assert sum(reasons.values()) == 6


def test_killed_run_resumes_from_the_cache(tmp_path):
    n = 16
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from medswallow.inference import InferenceClient, SamplingParams
            client = InferenceClient(sys.argv[1], model="fake-model", cache_dir=sys.argv[2], max_concurrency=2)
            client.chat_many([f"q{{i}}" for i in range({n})], SamplingParams(max_tokens=8, seed=0))
            """
        )
    )
    with FakeOpenAIServer(lambda p, seen: "slow", slow_s=0.3) as server:
        proc = subprocess.Popen([sys.executable, str(script), server.base_url, str(tmp_path / "cache")], start_new_session=True)
        try:
            # kill once five answers are on disk (the server having sent them is not enough: the client
            # may not have written the last one yet)
            deadline = time.monotonic() + 60
            while sum(server.answered.values()) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            watcher = ResponseCache(tmp_path / "cache")
            while len(watcher) < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert proc.poll() is None, "the run finished before it could be killed"
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        watcher.close()
        done = len(ResponseCache(tmp_path / "cache"))
        assert 5 <= done < n
        before = server.received
        client = InferenceClient(server.base_url, model="fake-model", cache_dir=tmp_path / "cache", max_concurrency=8)
        results = client.chat_many([f"q{i}" for i in range(n)], SamplingParams(max_tokens=8, seed=0))
    assert all(r.ok for r in results) and [r.text for r in results] == [f"echo: q{i}" for i in range(n)]
    assert server.received - before == n - done
    assert (client.stats.cached, client.stats.answered) == (done, n - done)


def test_concurrency_is_bounded_and_order_is_kept():
    with FakeOpenAIServer(lambda p, seen: "slow", slow_s=0.15) as server:
        client = InferenceClient(server.base_url, model="fake-model", max_concurrency=3)
        prompts = [f"q{i}" for i in range(12)]
        results = client.chat_many(prompts, PARAMS)
    assert server.max_inflight == 3
    assert [r.text for r in results] == [f"echo: {p}" for p in prompts]


def test_data_parallel_spreads_requests_and_routes_around_a_dead_replica():
    with FakeOpenAIServer(lambda p, seen: "slow", slow_s=0.1) as a, FakeOpenAIServer(lambda p, seen: "slow", slow_s=0.1) as b:
        client = InferenceClient([a.base_url, b.base_url], model="fake-model", max_concurrency=4)
        assert all(r.ok for r in client.chat_many([f"q{i}" for i in range(12)], PARAMS))
        assert a.received >= 3 and b.received >= 3 and a.received + b.received == 12

        dead = f"http://127.0.0.1:{_free_port()}/v1"
        client = InferenceClient([dead, a.base_url], model="fake-model", max_concurrency=2, backoff_base=0.01, max_retries=2)
        results = client.chat_many([f"r{i}" for i in range(6)], PARAMS)
    assert all(r.ok and r.base_url == a.base_url for r in results)
    assert client.stats.retry_reasons.get("connection refused", 0) == client.stats.retries


def test_stream_retries_before_output_then_caches_the_assembled_answer(tmp_path):
    with FakeOpenAIServer(lambda p, seen: "reset" if seen == 0 else "ok") as server:
        client = fast_client(server.base_url, tmp_path / "cache")

        async def consume():
            deltas = [d async for d in client.chat_stream("q1", PARAMS)]
            await client.aclose()
            return deltas

        deltas = asyncio.run(consume())
        assert [(d.reasoning, d.text) for d in deltas[:-1]] == [("thinking", ""), ("", "echo: q1")]
        final = deltas[-1].result
        assert final is not None and final.ok and final.attempts == 2
        assert (final.text, final.reasoning, final.finish_reason) == ("echo: q1", "thinking", "stop")
        plain = client.chat_many(["q1"], PARAMS)[0]  # the streamed answer serves the plain call
        assert plain.cached and plain.text == "echo: q1" and server.received == 2


def test_check_names_the_problem():
    with FakeOpenAIServer() as server:
        InferenceClient(server.base_url, model="fake-model").check()
        with pytest.raises(UserError, match="does not serve model 'nope'.*fake-model"):
            InferenceClient(server.base_url, model="nope").check()
    with pytest.raises(UserError, match="no OpenAI-compatible server answers"):
        InferenceClient(f"http://127.0.0.1:{_free_port()}/v1", model="x").check()
    with pytest.raises(UserError, match="must start with http"):
        InferenceClient("localhost:8000/v1", model="x")


def test_completions_fail_with_reason_too():
    with FakeOpenAIServer(lambda p, seen: "503") as server:
        client = fast_client(server.base_url, max_retries=1)
        res = client.complete_many(["x"], PARAMS)[0]
    assert not res.ok and res.error.startswith("http 503") and res.attempts == 2 and client.stats.failed == 1


def test_sync_helpers_work_inside_a_running_event_loop():
    # e.g. a notebook or an async web handler calling the sync API: it runs on its own loop in a thread
    with FakeOpenAIServer() as server:
        client = InferenceClient(server.base_url, model="fake-model")

        async def caller():
            inner = client.chat_many(["q0"], PARAMS)
            outer = await client.chat("q1", PARAMS)
            await client.aclose()
            return inner[0], outer

        inner, outer = asyncio.run(caller())
    assert inner.text == "echo: q0" and outer.text == "echo: q1" and client.stats.answered == 2
