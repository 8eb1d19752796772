"""``medswallow serve`` end to end on a hand-wired tiny gpt-oss that writes harmony channels (thinker.py).

One real server, started by the CLI with its defaults as a user would, checks what the random tiny model cannot show: vLLM's
reasoning field, answers in the final channel, reasoning cut by max_tokens, the default reasoning effort,
and a clean stop on Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from medswallow.inference import InferenceClient, SamplingParams
from medswallow.models.tokenizer import get_encoding

from ..conftest import REPO, free_port, wait_for
from .thinker import ANSWER_BIAS, COIN_BIAS, STOP_IN_REASONING_BIAS, build_thinker_model

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

GREEDY = SamplingParams(max_tokens=16, temperature=0.0, top_p=1.0, top_k=None)


@pytest.fixture(scope="module")
def thinker_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("thinker")
    model = build_thinker_model(tiny_model_dir, work / "model")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"},
        "VLLM_CACHE_ROOT": str(work / "vllm-cache"),
        "TORCHINDUCTOR_CACHE_DIR": str(work / "inductor"),
        "HF_HOME": str(work / "hf"),
    }
    # A first serve with the defaults, as a new user would: no context length, no KV cache size. The
    # model card's 32768 is capped at the tiny model's 4096, and the CPU KV cache stays small.
    cmd = [sys.executable, "-m", "medswallow.cli", "serve", str(model), "--served-model-name", "thinker",
           "--port", str(port), "--reasoning-effort", "low", "--log-file", str(work / "server.log")]
    out = open(work / "cli.out", "w+")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        ready = wait_for(lambda: "ready" in (work / "cli.out").read_text() or proc.poll() is not None, timeout=600)
        assert ready and proc.poll() is None, (work / "cli.out").read_text()
        assert "max_model_len=4096" in (work / "cli.out").read_text()
        yield url, proc, work
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        out.close()


def chat(url: str, params: SamplingParams, prompt: str = "hi"):
    return InferenceClient(url, model="thinker").chat_many([prompt], params)[0]


def test_reasoning_cut_by_max_tokens_is_visible_and_never_an_answer(thinker_server):
    res = chat(thinker_server[0], GREEDY)
    assert res.ok and res.finish_reason == "length" and res.truncated
    assert res.text == ""  # vLLM leaves "<|start|>assistant" in content here; it is markup, not an answer
    assert res.reasoning.startswith(" Think step") and res.usage.reasoning_tokens > 0


def test_stop_inside_reasoning_has_no_answer(thinker_server):
    res = chat(thinker_server[0], SamplingParams(max_tokens=16, temperature=0.0, top_p=1.0, top_k=None, extra={"logit_bias": STOP_IN_REASONING_BIAS}))
    assert (res.text, res.reasoning, res.finish_reason, res.truncated) == ("", " Think step", "stop", False)


def test_final_channel_answer(thinker_server):
    res = chat(thinker_server[0], SamplingParams(max_tokens=16, temperature=0.0, top_p=1.0, top_k=None, extra={"logit_bias": ANSWER_BIAS}))
    assert (res.text, res.reasoning, res.finish_reason, res.truncated) == (" Think step", "", "stop", False)


def test_reasoning_and_answer_in_one_output(thinker_server):
    params = SamplingParams(max_tokens=40, temperature=1.0, top_p=1.0, top_k=None, seed=3, n=12, extra={"logit_bias": COIN_BIAS})
    res = chat(thinker_server[0], params)
    both = [c for c in res.choices if c.text and c.reasoning]
    assert both, [(c.text, c.reasoning) for c in res.choices]
    assert all(set(c.text.split()) <= {"Think", "step"} and "<|" not in c.text for c in res.choices)


def test_default_reasoning_effort_from_serve_and_request_override(thinker_server):
    enc = get_encoding()

    def system_prompt(effort: str | None) -> str:
        params = SamplingParams(max_tokens=1, temperature=0.0, top_p=1.0, top_k=None, reasoning_effort=effort, extra={"return_token_ids": True})
        body = InferenceClient(thinker_server[0], model="thinker").chat_body("hi", params)
        req = urllib.request.Request(thinker_server[0] + "/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            ids = json.loads(resp.read())["prompt_token_ids"]
        return enc.decode(ids)

    assert "Reasoning: low" in system_prompt(None)  # `serve --reasoning-effort low`
    assert "Reasoning: high" in system_prompt("high")


def test_ctrl_c_stops_the_server_and_its_children(thinker_server):
    url, proc, work = thinker_server
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 0, (work / "cli.out").read_text()
    assert "server stopped" in (work / "cli.out").read_text()
    model_dir = str(work / "model")
    assert not [p for p in Path("/proc").glob("[0-9]*") if model_dir in _cmdline(p)]  # no vLLM process is left


def _cmdline(proc_dir: Path) -> str:
    try:
        return (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
