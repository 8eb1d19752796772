"""What the client reports: request latency (not queue time) and failures that name their cause and fix.

All against real local HTTP servers (tests/inference/faults.py), so they run in seconds.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from medswallow.errors import UserError
from medswallow.inference import InferenceClient, SamplingParams
from medswallow.inference.client import _error_message

from .faults import FakeOpenAIServer, _free_port

PARAMS = SamplingParams(max_tokens=8, seed=0)
SLOW_S = 0.3


def test_latency_is_request_time_not_time_queued_behind_the_concurrency_limit():
    n = 5
    with FakeOpenAIServer(lambda p, seen: "slow", slow_s=SLOW_S) as server:
        client = InferenceClient(server.base_url, model="fake-model", max_concurrency=1)
        t0 = time.monotonic()
        results = client.chat_many([f"q{i}" for i in range(n)], PARAMS)
        wall = time.monotonic() - t0
    assert server.max_inflight == 1 and all(r.ok for r in results)
    latencies = [r.latency_s for r in results]
    assert all(lat >= SLOW_S for lat in latencies)
    # One request at a time: request times add up to at most the wall time. Queue time counted in would
    # add up to about n(n+1)/2 request times instead.
    assert sum(latencies) <= wall
    assert sum(client.stats.latencies) <= wall


def test_streamed_latency_is_request_time_too():
    n = 4
    with FakeOpenAIServer(lambda p, seen: "slow", slow_s=SLOW_S) as server:
        client = InferenceClient(server.base_url, model="fake-model", max_concurrency=1)

        async def one(prompt: str):
            return [d async for d in client.chat_stream(prompt, PARAMS)][-1].result

        async def main():
            try:
                return await asyncio.gather(*(one(f"s{i}") for i in range(n)))
            finally:
                await client.aclose()

        t0 = time.monotonic()
        results = asyncio.run(main())
        wall = time.monotonic() - t0
    assert all(r is not None and r.ok and r.latency_s >= SLOW_S for r in results)
    assert sum(r.latency_s for r in results if r is not None) <= wall


def test_a_base_url_without_v1_says_so():
    with FakeOpenAIServer() as server:
        root = server.base_url.removesuffix("/v1")
        client = InferenceClient(root, model="fake-model", max_retries=0)
        res = client.chat_many(["q"], PARAMS)[0]
        assert not res.ok and res.attempts == 1  # a 404 is not retried
        assert res.error.startswith("http 404") and f"lacks /v1: try {root}/v1" in res.error
        with pytest.raises(UserError, match=r"http 404.*lacks /v1"):
            client.check()


@pytest.mark.parametrize(
    "body,expected",
    [
        ('{"detail": "Not Found"}', "Not Found"),  # FastAPI (vLLM) for a route it does not have
        ('{"error": {"message": "The model `x` does not exist.", "code": 404}}', "The model `x` does not exist."),
        ('{"object": "error", "message": "max_tokens too large"}', "max_tokens too large"),
        ("<html>bad gateway</html>", "<html>bad gateway</html>"),
    ],
)
def test_error_message_reads_each_server_shape(body, expected):
    assert _error_message(body) == expected


def test_a_dns_failure_is_reported_as_such():
    client = InferenceClient("http://no-such-host.invalid:8000/v1", model="m", max_retries=0)
    res = client.chat_many(["q"], PARAMS)[0]
    assert res.error is not None and res.error.startswith("dns lookup failed: cannot resolve host 'no-such-host.invalid'")
    with pytest.raises(UserError, match="no-such-host.invalid.*dns lookup failed"):
        client.check()


def test_connection_refused_stays_connection_refused():
    res = InferenceClient(f"http://127.0.0.1:{_free_port()}/v1", model="m", max_retries=0).chat_many(["q"], PARAMS)[0]
    assert res.error is not None and res.error.startswith("connection refused")


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/v1", "http://127.0.0.1:0/v1", "http://:8000/v1"])
def test_an_impossible_url_is_refused_before_any_request(url):
    with pytest.raises(UserError, match="e.g. http://127.0.0.1:8000/v1"):
        InferenceClient(url, model="m")
