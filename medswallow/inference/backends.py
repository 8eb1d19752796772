"""Offline backends with the client's interface, for machines without a server.

``VLLMOfflineBackend`` runs ``vllm.LLM`` in a worker process (vLLM's offline engine only starts under an
``if __name__ == "__main__":`` guard, which a library cannot promise for its caller's script).
``TransformersBackend`` runs ``generate`` in this process (eager attention: the only kind gpt-oss supports
on CPU). Both produce the same OpenAI-shaped bodies as a server, so results are parsed (harmony channels,
finish reasons, logprobs) and cached exactly like the HTTP client's.

    backend = TransformersBackend("path/to/model")
    results = backend.chat_many([[{"role": "user", "content": "..."}]], SamplingParams(max_tokens=64))
"""

from __future__ import annotations

import abc
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from medswallow.errors import UserError, require
from medswallow.inference.cache import ResponseCache, cache_key
from medswallow.inference.client import (
    ClientStats,
    Messages,
    build_chat_body,
    build_completion_body,
    run_sync,
)
from medswallow.inference.parse import parse_chat, parse_completion
from medswallow.inference.types import (
    ChatResult,
    CompletionResult,
    SamplingParams,
    failed_chat,
    failed_completion,
)


class _OfflineBackend(abc.ABC):
    """Shared part: cache lookup, batching of the misses, result parsing, stats, progress."""

    def __init__(self, model: str, name: str | None = None, cache_dir: str | Path | None = None, batch_size: int = 64) -> None:
        self.model_path = model
        self.model = name or model
        self.cache = ResponseCache(cache_dir) if cache_dir is not None else None
        self.batch_size = batch_size
        self.stats = ClientStats()
        self._lock = threading.Lock()  # one generation at a time: the model is not re-entrant

    def _prepare(self) -> None:  # noqa: B027 - optional hook
        """Load the model before timing starts (latency stats then measure generation only)."""

    @abc.abstractmethod
    def _generate(self, kind: str, bodies: list[dict[str, Any]], params: SamplingParams) -> list[dict[str, Any]]:
        """The one hook: a batch of request bodies -> one OpenAI-shaped response body per request."""

    def _run(
        self, kind: str, items: Sequence[Any], params: SamplingParams, progress: str | None, on_result: Callable[[int, Any], None] | None
    ) -> list[Any]:
        from medswallow.console import progress as progress_bar

        build = build_chat_body if kind == "chat" else build_completion_body
        parse = parse_chat if kind == "chat" else parse_completion
        failed = failed_chat if kind == "chat" else failed_completion
        bodies = [build(self.model, item, params) for item in items]
        keys = [cache_key(kind, b) for b in bodies]
        results: list[Any] = [None] * len(items)
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is None:
                todo.append(i)
                continue
            res = parse(hit[0])
            res.cached, res.latency_s, res.key = True, hit[1], key
            self.stats.cached += 1
            results[i] = res
            if on_result:
                on_result(i, res)
        if todo:
            self._prepare()
        with progress_bar(disable=progress is None) as bar:
            task = bar.add_task(progress or "", total=len(items), completed=len(items) - len(todo))
            for start in range(0, len(todo), self.batch_size):
                batch = todo[start : start + self.batch_size]
                t0 = time.monotonic()
                try:
                    with self._lock:
                        out = self._generate(kind, [bodies[i] for i in batch], params)
                    error = None
                except UserError:
                    raise
                except Exception as exc:  # the whole batch failed: record the reason on each request
                    out, error = [], f"{type(exc).__name__}: {str(exc)[:200]}"
                latency = (time.monotonic() - t0) / max(1, len(batch))
                for j, i in enumerate(batch):
                    if error is None:
                        res = parse(out[j])
                        res.latency_s, res.key, res.attempts, res.base_url = latency, keys[i], 1, None
                        if self.cache is not None:
                            self.cache.put(keys[i], kind, out[j], latency)
                        self.stats.answered += 1
                        self.stats.latencies.append(latency)
                        self.stats.prompt_tokens += res.usage.prompt_tokens
                        self.stats.completion_tokens += res.usage.completion_tokens
                    else:
                        res = failed(error, keys[i], 1, latency)
                        self.stats.failed += 1
                        self.stats.errors[error.split(":")[0]] += 1
                    results[i] = res
                    if on_result:
                        on_result(i, res)
                bar.advance(task, len(batch))
                self.stats.attempts += len(batch)
        return results

    def chat_many(
        self,
        conversations: Sequence[Messages],
        params: SamplingParams | None = None,
        progress: str | None = None,
        on_result: Callable[[int, ChatResult], None] | None = None,
    ) -> list[ChatResult]:
        return self._run("chat", conversations, params or SamplingParams(), progress, on_result)

    def complete_many(
        self,
        prompts: Sequence[str],
        params: SamplingParams | None = None,
        progress: str | None = None,
        on_result: Callable[[int, CompletionResult], None] | None = None,
    ) -> list[CompletionResult]:
        return self._run("completion", prompts, params or SamplingParams(), progress, on_result)

    async def chat(self, messages: Messages, params: SamplingParams | None = None) -> ChatResult:
        return (await asyncio.to_thread(self.chat_many, [messages], params))[0]

    async def complete(self, prompt: str, params: SamplingParams | None = None) -> CompletionResult:
        return (await asyncio.to_thread(self.complete_many, [prompt], params))[0]

    async def achat_many(self, conversations: Sequence[Messages], params: SamplingParams | None = None, progress: str | None = None, on_result: Callable[[int, ChatResult], None] | None = None) -> list[ChatResult]:
        return await asyncio.to_thread(self.chat_many, conversations, params, progress, on_result)

    async def acomplete_many(self, prompts: Sequence[str], params: SamplingParams | None = None, progress: str | None = None, on_result: Callable[[int, CompletionResult], None] | None = None) -> list[CompletionResult]:
        return await asyncio.to_thread(self.complete_many, prompts, params, progress, on_result)

    def close(self) -> None:  # noqa: B027 - nothing to release unless a subclass holds a process
        """Release the model (the vLLM worker process ends)."""

    def __enter__(self) -> _OfflineBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- vLLM offline engine in a worker process -----------------------------------------------------


class VLLMOfflineBackend(_OfflineBackend):
    """``vllm.LLM`` in a worker process (started on first use, stopped by ``close()``).

    ``engine_args`` go to ``vllm.LLM`` as they are (e.g. ``{"max_model_len": 4096, "enforce_eager": True}``).
    """

    def __init__(
        self,
        model: str,
        name: str | None = None,
        cache_dir: str | Path | None = None,
        batch_size: int = 256,
        engine_args: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 900,
    ) -> None:
        super().__init__(model, name, cache_dir, batch_size)
        self.engine_args = dict(engine_args or {})
        self.env = dict(env or {})
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def _start(self) -> None:
        import json
        from multiprocessing.connection import Listener

        require("vllm", "serve")
        self._tmp = tempfile.TemporaryDirectory(prefix="medswallow-vllm-")
        address = os.path.join(self._tmp.name, "sock")
        authkey = secrets.token_bytes(16)
        listener = Listener(address, family="AF_UNIX", authkey=authkey)
        log_path = Path(self._tmp.name) / "worker.log"
        env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), **self.env,
               "MEDSWALLOW_WORKER_AUTHKEY": authkey.hex()}
        cmd = [sys.executable, "-m", "medswallow.inference.vllm_worker", address, self.model_path, json.dumps(self.engine_args)]
        with open(log_path, "ab") as log:
            self._proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        # Accept in a thread so a worker that dies during start-up is noticed instead of waited on forever.
        accepted: list[Any] = []
        thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
        thread.start()
        deadline = time.monotonic() + self.start_timeout
        while thread.is_alive() and time.monotonic() < deadline and self._proc.poll() is None:
            thread.join(0.5)
        if not accepted:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            self.close()
            listener.close()
            raise UserError(f"the vLLM offline worker did not start ({self.model_path}):\n{tail}")
        self._conn = accepted[0]
        listener.close()
        msg = self._conn.recv()
        if not msg.get("ready"):
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            self.close()
            raise UserError(f"the vLLM offline worker failed to load {self.model_path}: {msg.get('error')}\n{tail}")

    def _prepare(self) -> None:
        if self._conn is None:
            self._start()

    def _generate(self, kind: str, bodies: list[dict[str, Any]], params: SamplingParams) -> list[dict[str, Any]]:
        if self._conn is None:
            self._start()
        self._conn.send({"kind": kind, "bodies": bodies})
        try:
            reply = self._conn.recv()
        except EOFError:
            self.close()
            raise RuntimeError("the vLLM offline worker exited during generation") from None
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return list(reply["bodies"])

    def close(self) -> None:
        import signal

        if self._conn is not None:
            try:
                self._conn.send(None)
                self._conn.close()
            except OSError:
                pass
            self._conn = None
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


# ---- transformers generate in this process ------------------------------------------------------


class TransformersBackend(_OfflineBackend):
    """``model.generate`` in this process, one request at a time (CPU: eager attention)."""

    def __init__(
        self,
        model: str,
        name: str | None = None,
        cache_dir: str | Path | None = None,
        device: str | None = None,
        dtype: str = "auto",
        attn_implementation: str | None = None,
    ) -> None:
        super().__init__(model, name, cache_dir, batch_size=1)
        self.device = device
        self.dtype = dtype
        self.attn_implementation = attn_implementation
        self._model: Any = None
        self._tok: Any = None

    def _load(self) -> None:
        torch = require("torch", "train")
        require("transformers", "train")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        attn = self.attn_implementation or ("eager" if device == "cpu" else "sdpa")
        try:
            self._tok = AutoTokenizer.from_pretrained(self.model_path)
            model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=self.dtype, attn_implementation=attn)
        except OSError as exc:
            raise UserError(f"cannot load model {self.model_path!r}: {exc}") from None
        self._model = model.to(device).eval()  # type: ignore[arg-type]
        self.device = device

    SUPPORTED_EXTRA = frozenset({"logit_bias"})

    def _prepare(self) -> None:
        if self._model is None:
            self._load()

    def _generate(self, kind: str, bodies: list[dict[str, Any]], params: SamplingParams) -> list[dict[str, Any]]:
        unsupported = set(params.extra or {}) - self.SUPPORTED_EXTRA
        if unsupported:
            raise UserError(f"the transformers backend does not support SamplingParams.extra keys {sorted(unsupported)} (supported: logit_bias)")
        self._prepare()
        return [self._one(kind, body) for body in bodies]

    def _one(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        import torch

        tok, model = self._tok, self._model
        if kind == "chat":
            kwargs = {"reasoning_effort": body["reasoning_effort"]} if "reasoning_effort" in body else {}
            prompt_ids = tok.apply_chat_template(body["messages"], add_generation_prompt=True, tokenize=True, return_dict=False, **kwargs)
            if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "input_ids"):
                prompt_ids = prompt_ids["input_ids"]
        else:
            prompt_ids = tok(body["prompt"], add_special_tokens=False)["input_ids"]
        input_ids = torch.tensor([list(prompt_ids)], device=self.device)
        choices: list[dict[str, Any]] = []
        completion_tokens = 0
        if body.get("seed") is not None:
            torch.manual_seed(int(body["seed"]))
        temperature = body.get("temperature", 1.0)
        sample = temperature is None or temperature > 0
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": body.get("max_tokens") or 256,
            "do_sample": sample,
            "output_logits": True,
            "return_dict_in_generate": True,
            "pad_token_id": tok.pad_token_id,
        }
        if sample:
            gen_kwargs.update(temperature=temperature or 1.0, top_p=body.get("top_p") or 1.0, top_k=body.get("top_k") or 0)
            if body.get("min_p"):
                gen_kwargs["min_p"] = body["min_p"]
        if body.get("stop"):
            gen_kwargs.update(stop_strings=body["stop"], tokenizer=tok)
        if body.get("logit_bias"):
            gen_kwargs["sequence_bias"] = {(int(k),): float(v) for k, v in body["logit_bias"].items()}
        eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list) else [model.generation_config.eos_token_id])
        top_n: int | None = None
        if body.get("logprobs") is not None:  # chat: logprobs=True + top_logprobs=k; completions: logprobs=k
            top_n = int(body["top_logprobs"] if kind == "chat" else body["logprobs"])
        for index in range(int(body.get("n", 1))):
            with torch.no_grad():
                out = model.generate(input_ids, **gen_kwargs)
            new = out.sequences[0, input_ids.shape[1]:].tolist()
            completion_tokens += len(new)
            finish = "stop" if (new and new[-1] in eos) or len(new) < gen_kwargs["max_new_tokens"] else "length"
            if new and new[-1] in eos:
                new = new[:-1]
            text = tok.decode(new, skip_special_tokens=False)
            choice: dict[str, Any] = {"index": index, "finish_reason": finish}
            lps = None
            if top_n is not None:
                lps = [torch.log_softmax(logit[0].float(), -1) for logit in out.logits[: len(new)]]
            if kind == "chat":
                choice["message"] = {"role": "assistant", "content": text}
                if lps is not None and top_n is not None:
                    choice["logprobs"] = {"content": [self._chat_lp(tid, lp, top_n) for tid, lp in zip(new, lps, strict=False)]}
            else:
                choice["text"] = text
                if lps is not None and top_n is not None:
                    choice["logprobs"] = self._completion_lp(new, lps, top_n)
            choices.append(choice)
        resp: dict[str, Any] = {"model": self.model, "choices": choices,
                                "usage": {"prompt_tokens": len(prompt_ids), "completion_tokens": completion_tokens}}
        if body.get("prompt_logprobs") is not None:
            resp["choices"][0]["prompt_logprobs"] = self._prompt_lp(list(prompt_ids), int(body["prompt_logprobs"]))
            resp["choices"][0]["prompt_token_ids"] = list(prompt_ids)
        return resp

    def _decode(self, tid: int) -> str:
        return str(self._tok.decode([tid], skip_special_tokens=False))

    def _chat_lp(self, tid: int, lp: Any, k: int) -> dict[str, Any]:
        top = lp.topk(k) if k > 0 else None
        tops = [{"token": self._decode(int(i)), "logprob": float(v)} for v, i in zip(top.values, top.indices, strict=False)] if top is not None else []
        return {"token": self._decode(tid), "logprob": float(lp[tid]), "top_logprobs": tops}

    def _completion_lp(self, ids: list[int], lps: list[Any], k: int) -> dict[str, Any]:
        out: dict[str, list[Any]] = {"tokens": [], "token_logprobs": [], "top_logprobs": []}
        for tid, lp in zip(ids, lps, strict=False):
            out["tokens"].append(self._decode(tid))
            out["token_logprobs"].append(float(lp[tid]))
            top = lp.topk(max(k, 1))
            out["top_logprobs"].append({self._decode(int(i)): float(v) for v, i in zip(top.values, top.indices, strict=False)})
        return out

    def _prompt_lp(self, ids: list[int], k: int) -> list[dict[str, Any] | None]:
        """vLLM's shape: None for the first token, then {id: {logprob, rank, decoded_token}} per position."""
        import torch

        with torch.no_grad():
            logits = self._model(torch.tensor([ids], device=self.device)).logits[0].float()
        logp = torch.log_softmax(logits, -1)
        out: list[dict[str, Any] | None] = [None]
        for pos in range(1, len(ids)):
            row = logp[pos - 1]
            tid = ids[pos]
            rank = int((row > row[tid]).sum()) + 1
            entry = {str(tid): {"logprob": float(row[tid]), "rank": rank, "decoded_token": self._decode(tid)}}
            if k > 0:
                top = row.topk(k)
                for r, (v, i) in enumerate(zip(top.values, top.indices, strict=False), start=1):
                    entry.setdefault(str(int(i)), {"logprob": float(v), "rank": r, "decoded_token": self._decode(int(i))})
            out.append(entry)
        return out


def load_backend(kind: str, model: str, **kwargs: Any) -> Any:
    """``"server"`` (kwargs: base_urls, ...), ``"vllm"`` or ``"transformers"`` -> a backend object."""
    from medswallow.errors import did_you_mean
    from medswallow.inference.client import InferenceClient

    factories: dict[str, Callable[..., Any]] = {
        "server": lambda: InferenceClient(model=model, **kwargs),
        "vllm": lambda: VLLMOfflineBackend(model, **kwargs),
        "transformers": lambda: TransformersBackend(model, **kwargs),
    }
    if kind not in factories:
        raise UserError(f"unknown inference backend '{kind}'{did_you_mean(kind, list(factories))}")
    return factories[kind]()


__all__ = ["TransformersBackend", "VLLMOfflineBackend", "load_backend", "run_sync"]
