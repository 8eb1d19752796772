"""A tiny gpt-oss with hand-set weights that writes harmony channels, so vLLM's reasoning split is testable.

The random tiny model emits noise and never opens a channel. This one copies it and sets the weights so
that every layer adds nothing to the residual stream (attention and expert output projections are zero):
the next token then depends on the current token only, through the embedding and ``lm_head``. Its
transitions spell the harmony format:

    assistant -> <|channel|> -> analysis -> <|message|> -> " Think" -> " step" -> <|end|> -> <|start|> -> assistant ...

so a plain request reasons forever and is cut by max_tokens inside the analysis channel. Two places are
weak (logit 40, with a runner-up at 20, instead of 100) so that a request's ``logit_bias`` can redirect
them: after ``<|channel|>`` (``analysis`` 40 or ``final`` 20) and after ``" step"`` (``<|end|>`` 40 or
``<|return|>`` 20). Every other token stays at logit 0, far below, so the output is the chain even when
sampling at temperature 1.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

ASSISTANT, CHANNEL, MESSAGE, END, START, RETURN = 173781, 200005, 200008, 200007, 200006, 200002
ANALYSIS, FINAL, THINK, STEP = 35644, 17196, 24672, 5983
STRONG, WEAK, RUNNER_UP = 100.0, 40.0, 20.0
# (current token, next token, logit of that transition)
TRANSITIONS = [
    (ASSISTANT, CHANNEL, STRONG),
    (CHANNEL, ANALYSIS, WEAK),
    (CHANNEL, FINAL, RUNNER_UP),
    (ANALYSIS, MESSAGE, STRONG),
    (FINAL, MESSAGE, STRONG),
    (MESSAGE, THINK, STRONG),
    (THINK, STEP, STRONG),
    (STEP, END, WEAK),
    (STEP, RETURN, RUNNER_UP),
    (END, START, STRONG),
    (START, ASSISTANT, STRONG),
]
# logit_bias for requests: "<|channel|>analysis<|message|> Think step<|return|>" (stops inside reasoning)
STOP_IN_REASONING_BIAS = {str(RETURN): 30}
# "<|channel|>final<|message|> Think step<|return|>" (an answer, no reasoning)
ANSWER_BIAS = {str(FINAL): 30, str(RETURN): 30}
# analysis or final after each <|channel|>, <|end|> or <|return|> after each message, 50/50 (sample it)
COIN_BIAS = {str(FINAL): 20, str(RETURN): 20}


def build_thinker_model(tiny_dir: Path, out_dir: Path) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    marker = out_dir / "thinker.json"
    if marker.exists():
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in tiny_dir.iterdir():
        if f.name != "model.safetensors" and f.is_file():
            shutil.copy(f, out_dir / f.name)
    weights = load_file(str(tiny_dir / "model.safetensors"))
    for name, tensor in weights.items():
        if name.endswith(("self_attn.o_proj.weight", "self_attn.o_proj.bias", "experts.down_proj", "experts.down_proj_bias")):
            weights[name] = torch.zeros_like(tensor)
        if name.endswith("norm.weight"):
            weights[name] = torch.ones_like(tensor)
    embed, head = weights["model.embed_tokens.weight"].float(), torch.zeros_like(weights["lm_head.weight"], dtype=torch.float32)
    hidden = embed.shape[1]
    sources = sorted({src for src, _, _ in TRANSITIONS})
    dim = {tok: i for i, tok in enumerate(sources)}
    for tok in sources:  # one-hot embeddings: after RMSNorm the value at its dimension is sqrt(hidden)
        embed[tok] = 0.0
        embed[tok, dim[tok]] = 1.0
    for src, dst, logit in TRANSITIONS:
        head[dst, dim[src]] = logit / math.sqrt(hidden)
    dtype = weights["lm_head.weight"].dtype
    weights["model.embed_tokens.weight"], weights["lm_head.weight"] = embed.to(dtype), head.to(dtype)
    save_file({k: v.contiguous() for k, v in weights.items()}, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    marker.write_text(json.dumps({"transitions": TRANSITIONS}))
    return out_dir
