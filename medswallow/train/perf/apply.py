"""``apply_perf(model, cfg)``: switch a gpt-oss model's throughput levers on, as a recipe's ``performance:`` says.

Works on the plain CausalLM or a PEFT model, before or after ``get_peft_model`` (the experts path reads
PEFT's wrappers at call time). Order matters and is fixed here: module forwards are replaced first
(experts, loss, attention), then wrapped for checkpointing, then compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medswallow.errors import UserError
from medswallow.train.perf.config import PerfConfig

APPLIED_ATTR = "_medswallow_perf"


@dataclass
class GptOssParts:
    """The modules the levers act on."""

    causal_lm: Any
    backbone: Any
    layers: list[Any]
    mlps: list[Any] = field(default_factory=list)


def gpt_oss_parts(model: Any) -> GptOssParts:
    """Find the GptOssForCausalLM (under PEFT wrappers too) and its layers, or say why not."""
    from transformers.models.gpt_oss.modeling_gpt_oss import GptOssForCausalLM, GptOssMLP

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not isinstance(base, GptOssForCausalLM):
        raise UserError(
            f"performance levers are written for gpt-oss (GptOssForCausalLM); this model is "
            f"{type(base).__name__}: remove the performance section or set its levers to keep"
        )
    layers = list(base.model.layers)
    return GptOssParts(base, base.model, layers, [m for m in base.modules() if isinstance(m, GptOssMLP)])


def _device(parts: GptOssParts) -> Any:
    return parts.backbone.embed_tokens.weight.device


def check_supported(cfg: PerfConfig, device: Any) -> None:
    """Refuse lever combinations that cannot train on this device, before any step runs."""
    if cfg.attention == "flex" and device.type == "cpu":
        raise UserError(
            "performance.attention: flex has no backward pass on CPU (torch 2.13 flex_attention); "
            "use attention: keep (eager) on CPU"
        )
    if cfg.loss == "liger":
        from medswallow.train.perf.loss import liger_available

        if not liger_available():
            raise UserError(
                "performance.loss: liger needs liger-kernel and a CUDA GPU (pip install liger-kernel); "
                "or use loss: chunked"
            )


def settle_auto(cfg: PerfConfig) -> PerfConfig:
    """``cfg`` with any lever still on ``auto`` set to leave the model as loaded.

    ``medswallow train`` resolves ``auto`` per device and memory first (``plan.resolve_performance``); what is
    left on auto here (a direct caller) means: change nothing.
    """
    if cfg.resolved:
        return cfg
    keep = {
        "attention": "keep" if cfg.attention == "auto" else cfg.attention,
        "experts": "keep" if cfg.experts == "auto" else cfg.experts,
        "checkpointing": "keep" if cfg.checkpointing == "auto" else cfg.checkpointing,
        "checkpoint_every": 1 if cfg.checkpoint_every == "auto" else cfg.checkpoint_every,
        "compile": False if cfg.compile == "auto" else cfg.compile,
        "micro_batch": "keep" if cfg.micro_batch == "auto" else cfg.micro_batch,
    }
    return cfg.model_copy(update=keep)


def apply_perf(model: Any, cfg: PerfConfig | None = None) -> Any:
    """Install the levers of ``cfg`` on ``model`` in place and return it. A second call is refused."""
    cfg = settle_auto(cfg or PerfConfig())
    parts = gpt_oss_parts(model)
    if getattr(parts.causal_lm, APPLIED_ATTR, None) is not None:
        raise UserError("performance levers are already applied to this model; apply them once")
    check_supported(cfg, _device(parts))

    if cfg.experts != "keep":
        from medswallow.train.perf.experts import install_experts

        for mlp in parts.mlps:
            install_experts(mlp, cfg.experts)
    if cfg.loss != "keep":
        from medswallow.train.perf.loss import install_chunked_loss

        install_chunked_loss(parts.causal_lm, cfg.loss, cfg.loss_chunk_tokens)
    if cfg.attention == "flex":
        from medswallow.train.perf.attention import install_flex_attention

        install_flex_attention(parts.causal_lm, parts.backbone)
    if cfg.owns_checkpointing:
        from medswallow.train.perf.checkpointing import apply_checkpointing

        if getattr(parts.causal_lm, "is_gradient_checkpointing", False):
            parts.causal_lm.gradient_checkpointing_disable()  # ours replaces it; both would recompute twice
        apply_checkpointing(
            parts.layers,
            cfg.checkpointing,
            list(cfg.checkpoint_blocks),
            cfg.every,
            cfg.checkpoint_save_matmuls,
            grouped_out_of_place=cfg.experts != "keep",
        )
    if cfg.compile:
        import os
        from pathlib import Path

        from medswallow.train.perf.capture import install_factor_preparation, install_router_capture

        # transformers' output hooks would break every layer's graph three times (router, attention, layer).
        install_router_capture(parts.backbone, parts.layers)
        if cfg.experts != "keep":
            install_factor_preparation(parts.backbone, parts.mlps)

        # A stable on-disk cache: the next run with the same shapes loads the compiled kernels instead of
        # compiling them again (torch's default lives under /tmp and is lost with it).
        os.environ.setdefault(
            "TORCHINDUCTOR_CACHE_DIR", str(Path.home() / ".cache" / "medswallow" / "torchinductor")
        )
        for layer in parts.layers:
            # In place: parameter names, state dicts and PEFT's module paths stay as they are.
            layer.compile(backend=cfg.compile_backend, mode=cfg.compile_mode)
    setattr(parts.causal_lm, APPLIED_ATTR, cfg)
    return model


def trainer_arguments(cfg: PerfConfig) -> dict[str, Any]:
    """TRL/transformers training arguments these levers need (merge them into the trainer's config)."""
    cfg = settle_auto(cfg)
    args: dict[str, Any] = {}
    if cfg.owns_checkpointing:
        args["gradient_checkpointing"] = False  # apply_perf checkpoints; the trainer must not do it again
    if cfg.padding_free:
        args["padding_free"] = True
    return args


def describe(cfg: PerfConfig) -> dict[str, str]:
    """One line per lever, for plans and benchmark tables."""
    cfg = settle_auto(cfg)
    ckpt: str = cfg.checkpointing
    if ckpt == "selective":
        ckpt = f"selective ({'+'.join(cfg.checkpoint_blocks)})"
    if ckpt in ("full",) or ckpt.startswith("selective"):
        if cfg.every > 1:
            ckpt += f", every {cfg.every} layers"
        if cfg.checkpoint_save_matmuls:
            ckpt += ", matmuls saved"
    return {
        "attention": cfg.attention,
        "experts": cfg.experts,
        "loss": cfg.loss if cfg.loss != "chunked" else f"chunked ({cfg.loss_chunk_tokens} tokens)",
        "checkpointing": ckpt,
        "compile": f"{cfg.compile_backend}" if cfg.compile else "off",
        "padding_free": "on" if cfg.padding_free else "off",
        "micro_batch": str(cfg.micro_batch),
    }
