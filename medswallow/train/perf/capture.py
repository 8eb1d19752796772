"""What compiled decoder layers need from outside them: router logits without hooks, LoRA factors laid out.

Router logits for the MoE auxiliary loss come without transformers' output-capturing hooks in compiled layers.

transformers records ``router_logits`` (and hidden states, attentions) through forward hooks that read a
``ContextVar``; dynamo cannot trace ``ContextVar.get``, so each hooked module inside a compiled decoder layer
breaks its graph (three breaks per layer when the trainer asks for router logits, as TRL does for the
load-balancing loss). Graph breaks cost fusion, and every resume function is one more frame to guard and
recompile. With compiled layers the routers instead keep their last logits on themselves (an attribute write,
which dynamo replays after the graph), and a hook on the backbone, outside the compiled region, hands them
to the model output in layer order: the same tuple, so the same auxiliary loss.
"""

from __future__ import annotations

import types
from typing import Any

from medswallow.errors import UserError

LOGITS_ATTR = "_medswallow_router_logits"
HOOK_ATTR = "_medswallow_router_capture_hook"
FACTORS_HOOK_ATTR = "_medswallow_factors_hook"
HOOK_NAME = "output_capturing_hook"  # transformers.utils.output_capturing's hook function


def _recording_router_forward(self: Any, hidden_states: Any) -> Any:
    out = type(self).forward(self, hidden_states)
    setattr(self, LOGITS_ATTR, out[0])
    return out


def _remove_transformers_hooks(module: Any) -> None:
    for key, hook in list(module._forward_hooks.items()):
        if getattr(hook, "__name__", "") == HOOK_NAME:
            del module._forward_hooks[key]


def _collect_hook(backbone: Any, args: Any, kwargs: Any, output: Any) -> Any:
    """Forward hook on GptOssModel: the routers' logits where transformers' collector would have put them."""
    config = backbone.config
    wanted = [k for k in ("output_hidden_states", "output_attentions") if kwargs.get(k, getattr(config, k, False))]
    if wanted:
        raise UserError(
            "compiled decoder layers do not record hidden states or attention weights; "
            "set performance.compile: false to get them"
        )
    if getattr(output, "router_logits", None) is not None:
        routers = backbone._medswallow_routers
        logits = [getattr(router, LOGITS_ATTR, None) for router in routers]
        if any(item is None for item in logits):
            raise RuntimeError("a router ran without recording its logits")
        output["router_logits"] = tuple(logits)
    for router in backbone._medswallow_routers:
        setattr(router, LOGITS_ATTR, None)  # the output holds them now; the next forward records anew
    return output


def _factors_hook(backbone: Any, args: Any, kwargs: Any) -> None:
    """Forward pre-hook on GptOssModel: the experts' LoRA factors, cast and laid out before the layers run."""
    from medswallow.train.perf.experts import prepare_factors

    prepare_factors(backbone._medswallow_mlps)


def install_factor_preparation(backbone: Any, mlps: list[Any]) -> None:
    """Prepare the grouped experts' LoRA factors outside the compiled layers, at every forward. Idempotent."""
    backbone._medswallow_mlps = mlps
    if getattr(backbone, FACTORS_HOOK_ATTR, None) is None:
        handle = backbone.register_forward_pre_hook(_factors_hook, with_kwargs=True)
        setattr(backbone, FACTORS_HOOK_ATTR, handle)


def install_router_capture(backbone: Any, layers: list[Any]) -> None:
    """Make ``backbone`` (a GptOssModel whose layers get compiled) record router logits hook-free. Idempotent."""
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssTopKRouter

    routers = [m for layer in layers for m in layer.modules() if isinstance(m, GptOssTopKRouter)]
    for layer in layers:
        for module in layer.modules():
            _remove_transformers_hooks(module)
    for router in routers:
        router.forward = types.MethodType(_recording_router_forward, router)  # type: ignore[method-assign]
    backbone._medswallow_routers = routers
    # transformers installs its hooks lazily, on the first forward that asks for an output: never again here.
    backbone._output_capturing_hooks_installed = True
    if getattr(backbone, HOOK_ATTR, None) is None:
        setattr(backbone, HOOK_ATTR, backbone.register_forward_hook(_collect_hook, with_kwargs=True))
