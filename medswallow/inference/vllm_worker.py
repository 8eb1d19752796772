"""Worker process for VLLMOfflineBackend: loads ``vllm.LLM`` once and answers batches of request bodies.

Run by the backend as ``python -m medswallow.inference.vllm_worker ADDRESS MODEL ENGINE_ARGS_JSON``; it
connects back over a Unix socket (authenticated with MEDSWALLOW_WORKER_AUTHKEY) and replies with
OpenAI-shaped response bodies. vLLM's offline engine needs the ``__main__`` guard below.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _sampling(vllm: Any, llm: Any, body: dict[str, Any], kind: str) -> Any:
    """Request body -> vllm.SamplingParams, starting from the model's generation-config defaults."""
    defaults = llm.get_default_sampling_params()
    kw: dict[str, Any] = {}
    for name in ("temperature", "top_p", "top_k", "min_p", "seed", "n", "stop", "max_tokens"):
        value = body.get(name, getattr(defaults, name, None))
        if value is not None:
            kw[name] = value
    if kind == "chat" and body.get("logprobs"):
        kw["logprobs"] = int(body.get("top_logprobs") or 0)
    elif kind == "completion" and body.get("logprobs") is not None:
        kw["logprobs"] = int(body["logprobs"])
    if body.get("prompt_logprobs") is not None:
        kw["prompt_logprobs"] = int(body["prompt_logprobs"])
    if body.get("logit_bias"):
        kw["logit_bias"] = {int(k): float(v) for k, v in body["logit_bias"].items()}
    # Keep harmony's channel markup in the text: the parser splits reasoning from the final answer.
    return vllm.SamplingParams(skip_special_tokens=False, **kw)


def _token_lp(chosen: int, entry: dict[int, Any]) -> tuple[str, float, list[tuple[str, float]]]:
    own = entry[chosen]
    tops = sorted(entry.items(), key=lambda kv: kv[1].rank or 0)
    return own.decoded_token or "", float(own.logprob), [(v.decoded_token or "", float(v.logprob)) for _, v in tops]


def _body(kind: str, out: Any, model: str) -> dict[str, Any]:
    choices = []
    completion_tokens = 0
    for c in out.outputs:
        completion_tokens += len(c.token_ids)
        choice: dict[str, Any] = {"index": c.index, "finish_reason": c.finish_reason}
        lps = [_token_lp(t, e) for t, e in zip(c.token_ids, c.logprobs, strict=False)] if c.logprobs else None
        if kind == "chat":
            choice["message"] = {"role": "assistant", "content": c.text}
            if lps is not None:
                choice["logprobs"] = {"content": [
                    {"token": tok, "logprob": lp, "top_logprobs": [{"token": t, "logprob": v} for t, v in tops]}
                    for tok, lp, tops in lps
                ]}
        else:
            choice["text"] = c.text
            if lps is not None:
                choice["logprobs"] = {
                    "tokens": [tok for tok, _, _ in lps],
                    "token_logprobs": [lp for _, lp, _ in lps],
                    "top_logprobs": [dict(tops) for _, _, tops in lps],
                }
        choices.append(choice)
    if out.prompt_logprobs is not None and choices:
        choices[0]["prompt_logprobs"] = [
            None if entry is None else {
                str(tid): {"logprob": float(v.logprob), "rank": v.rank, "decoded_token": v.decoded_token} for tid, v in entry.items()
            }
            for entry in out.prompt_logprobs
        ]
        choices[0]["prompt_token_ids"] = list(out.prompt_token_ids)
    usage = {"prompt_tokens": len(out.prompt_token_ids or []), "completion_tokens": completion_tokens}
    return {"model": model, "choices": choices, "usage": usage}


def _handle(vllm: Any, llm: Any, model: str, msg: dict[str, Any]) -> list[dict[str, Any]]:
    kind, bodies = msg["kind"], msg["bodies"]
    # One vLLM call per distinct sampling setting keeps the engine's batching.
    groups: dict[str, list[int]] = {}
    for i, b in enumerate(bodies):
        setting = {k: v for k, v in b.items() if k not in ("messages", "prompt")}
        groups.setdefault(json.dumps(setting, sort_keys=True), []).append(i)
    replies: list[dict[str, Any] | None] = [None] * len(bodies)
    for idxs in groups.values():
        first = bodies[idxs[0]]
        sp = _sampling(vllm, llm, first, kind)
        if kind == "chat":
            kwargs = {"reasoning_effort": first["reasoning_effort"]} if "reasoning_effort" in first else {}
            outs = llm.chat([bodies[i]["messages"] for i in idxs], sp, use_tqdm=False, chat_template_kwargs=kwargs)
        else:
            outs = llm.generate([bodies[i]["prompt"] for i in idxs], sp, use_tqdm=False)
        for i, out in zip(idxs, outs, strict=True):
            replies[i] = _body(kind, out, model)
    return [r for r in replies if r is not None]


def main() -> None:
    from multiprocessing.connection import Client

    address, model, engine_json = sys.argv[1], sys.argv[2], sys.argv[3]
    conn = Client(address, family="AF_UNIX", authkey=bytes.fromhex(os.environ.pop("MEDSWALLOW_WORKER_AUTHKEY")))
    try:
        import vllm

        llm = vllm.LLM(model=model, **json.loads(engine_json))
    except Exception as exc:  # reported to the parent, which raises a UserError with the log tail
        conn.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return
    conn.send({"ready": True})
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        try:
            conn.send({"bodies": _handle(vllm, llm, model, msg)})
        except Exception as exc:  # one bad batch is recorded on its requests; the worker keeps serving
            conn.send({"error": f"{type(exc).__name__}: {str(exc)[:300]}"})


if __name__ == "__main__":
    main()
