"""Load the model and tokenizer a recipe trains: hub id or local folder, MXFP4 dequantized, attention per device.

Every loader error names the model and what to do; the checks that need no weights (config, tokenizer,
parameter counts on the meta device) run before any weights are read, so a bad recipe fails in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medswallow.errors import UserError, require
from medswallow.train.recipe import BaseRecipe, ModelSection

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

PAD_TOKEN = "<|endoftext|>"  # gpt-oss has no pad token of its own; <|endoftext|> never appears in chat turns


def model_source(recipe: BaseRecipe) -> str:
    """A local folder (resolved against the recipe) when one exists or the value looks like a path; else a hub id."""
    name = recipe.model.name_or_path
    local = recipe.resolve(name)
    looks_local = name.startswith((".", "/", "~")) or name.count("/") != 1
    if local.exists() or looks_local:
        if not local.exists():
            raise UserError(f"model.name_or_path: {local} does not exist; give a local HF folder or a hub id")
        return str(local)
    return name


def _hub_hint(name: str) -> str:
    return (
        f"model {name!r} is not a local folder and is not in the local HF cache (is the hub reachable?); "
        f"download it first (`hf download {name}`) or set model.name_or_path to a local folder"
    )


def load_model_config(recipe: BaseRecipe) -> PretrainedConfig:
    """The model's config.json, without weights."""
    require("transformers", "train")
    from transformers import AutoConfig

    source = model_source(recipe)
    try:
        return AutoConfig.from_pretrained(
            source, revision=recipe.model.revision, trust_remote_code=recipe.model.trust_remote_code
        )
    except OSError:
        raise UserError(_hub_hint(source)) from None
    except ValueError as exc:
        raise UserError(f"model {source!r}: cannot read its config.json ({exc})") from None


def is_mxfp4(config: PretrainedConfig) -> bool:
    quant = getattr(config, "quantization_config", None)
    method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
    return str(getattr(method, "value", method)) == "mxfp4"


def training_device() -> torch.device:
    """This process's device: its local GPU under a launcher, the GPU when there is one, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def resolve_dtype(spec: ModelSection, device: torch.device) -> torch.dtype:
    import torch

    if spec.dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, spec.dtype)


def resolve_attention(spec: ModelSection, device: torch.device) -> str:
    """gpt-oss attention has sinks: on CPU only eager handles them; on GPU flex_attention is several times faster."""
    if spec.attn_implementation != "auto":
        if device.type == "cpu" and spec.attn_implementation != "eager":
            raise UserError(
                f"model.attn_implementation: {spec.attn_implementation!r} does not run gpt-oss on CPU "
                "(sinks are supported by eager only there); use auto or eager"
            )
        return spec.attn_implementation
    return "flex_attention" if device.type == "cuda" else "eager"


def sharded_launch() -> bool:
    """True under accelerate with FSDP or DeepSpeed: weights are placed by the launcher, not by device_map."""
    return os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" or (
        os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    )


def load_tokenizer(recipe: BaseRecipe) -> PreTrainedTokenizerBase:
    """The model's tokenizer, with a pad token and, if the recipe says so, a replacement chat template."""
    require("transformers", "train")
    from transformers import AutoTokenizer

    source = model_source(recipe)
    try:
        tok = AutoTokenizer.from_pretrained(
            source, revision=recipe.model.revision, trust_remote_code=recipe.model.trust_remote_code
        )
    except OSError:
        raise UserError(_hub_hint(source)) from None
    if recipe.model.chat_template:
        path = recipe.resolve(recipe.model.chat_template)
        if not path.is_file():
            raise UserError(f"model.chat_template: {path} not found")
        tok.chat_template = path.read_text(encoding="utf-8")
    if tok.pad_token is None:
        tok.pad_token = PAD_TOKEN if PAD_TOKEN in tok.get_vocab() else tok.eos_token
    return tok


def load_model(recipe: BaseRecipe) -> PreTrainedModel:
    """Weights for training: dtype and attention per device, MXFP4 dequantized, packed-sequence masks fixed."""
    import torch
    from transformers import AutoModelForCausalLM, set_seed

    from medswallow.train.packing import install_packed_sequence_masks

    spec = recipe.model
    device = training_device()
    config = load_model_config(recipe)
    kwargs: dict[str, Any] = {
        "dtype": resolve_dtype(spec, device),
        "attn_implementation": resolve_attention(spec, device),
        "trust_remote_code": spec.trust_remote_code,
    }
    if spec.experts_dtype == "mxfp4":
        from medswallow.train.mxfp4 import load_mxfp4_model

        if recipe.method != "lora":
            raise UserError("model.experts_dtype: mxfp4 keeps the experts frozen; it needs method: lora")
        if sharded_launch() or int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise UserError("model.experts_dtype: mxfp4 trains on one GPU per run; launch it without accelerate")
        from medswallow.train.mxfp4 import local_folder

        source = None if spec.random_init else local_folder(model_source(recipe), spec.revision)
        model = load_mxfp4_model(
            config, source, device=device, dtype=kwargs["dtype"], attn_implementation=kwargs["attn_implementation"],
            seed=recipe.train.seed,
        )
    elif spec.random_init:
        # Every rank must build the same weights: seed before the random init.
        set_seed(recipe.train.seed)
        build_on = device if device.type == "cuda" and not sharded_launch() else torch.device("cpu")
        with build_on:
            model = AutoModelForCausalLM.from_config(config, **kwargs)
    else:
        if is_mxfp4(config):
            if not spec.dequantize_mxfp4:
                raise UserError(
                    "model is an MXFP4 checkpoint, which cannot be trained as is; set model.dequantize_mxfp4: true"
                )
            from transformers import Mxfp4Config  # type: ignore[attr-defined]

            kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
        if device.type == "cuda" and not sharded_launch():
            kwargs["device_map"] = {"": device}
        model = AutoModelForCausalLM.from_pretrained(model_source(recipe), revision=spec.revision, **kwargs)
        if "quantization_config" in kwargs:
            finish_mxfp4_load(model, kwargs["dtype"])
    model.config.use_cache = False  # the KV cache is useless in training and clashes with checkpointing
    install_packed_sequence_masks(model)
    return model


def load_training_model(recipe: BaseRecipe) -> PreTrainedModel:
    """The model every recipe kind trains: loaded as above, then the recipe's settled performance levers.

    ``medswallow train`` and ``benchmarks/train_throughput.py`` both come through here, so what is measured is
    what runs.
    """
    from medswallow.train.perf import apply_perf

    return apply_perf(load_model(recipe), recipe.performance)  # type: ignore[no-any-return]


def finish_mxfp4_load(model: Any, dtype: Any) -> None:
    """Make a dequantized MXFP4 model a plain model of ``dtype``.

    transformers dequantizes the experts to bf16 whatever dtype was asked for (a float32 model then has bf16
    experts, and a merge adds float32 updates into bf16), and it remembers the conversion and "reverts" it on
    save, writing the experts under broken names ("gate_up_proj$") that no loader finds.
    """
    conversions = getattr(model, "_weight_conversions", None)
    if conversions:
        model._weight_conversions = [
            c
            for c in conversions
            if not any(type(op).__name__.startswith("Mxfp4") for op in getattr(c, "operations", []))
        ]
    model.to(dtype)


def count_parameters(recipe: BaseRecipe, config: PretrainedConfig | None = None) -> tuple[int, int]:
    """(total, trainable) parameter counts, from the config alone (the model is built on the meta device)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = config or load_model_config(recipe)
    if is_mxfp4(config):
        config = config.__class__.from_dict(
            {k: v for k, v in config.to_dict().items() if k != "quantization_config"}
        )
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=recipe.model.trust_remote_code)
    total = sum(p.numel() for p in model.parameters())
    if recipe.method == "full":
        return total, total
    from peft import get_peft_model

    from medswallow.train.peft_targets import lora_config

    peft_model = get_peft_model(model, lora_config(recipe.lora, config))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    return total, trainable


def save_tokenizer_and_generation_config(
    source: PreTrainedModel | str | Path, tokenizer: Any, out_dir: Path
) -> None:
    """Write what vLLM needs beside the weights: tokenizer files, chat template, generation defaults."""
    from transformers import GenerationConfig

    tokenizer.save_pretrained(str(out_dir))
    if isinstance(source, str | Path):
        try:
            gen = GenerationConfig.from_pretrained(str(source))
        except OSError:
            return
    else:
        gen = source.generation_config
    gen.save_pretrained(str(out_dir))
