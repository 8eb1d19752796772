"""LoRA targets for gpt-oss by name: ``attention`` and ``experts`` groups become PEFT module/parameter names.

gpt-oss experts are not ``nn.Linear`` layers but 3-D parameters (``mlp.experts.gate_up_proj``,
``mlp.experts.down_proj``), so PEFT reaches them through ``target_parameters``; it cannot apply dropout there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medswallow.errors import UserError
from medswallow.train.recipe import LoraSection

if TYPE_CHECKING:  # pragma: no cover
    from peft import LoraConfig

ATTENTION_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj"]
EXPERT_PARAMETERS = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]


def lora_targets(section: LoraSection, num_layers: int | None = None) -> tuple[list[str] | str, list[str]]:
    """(target_modules, target_parameters) for a LoRA section."""
    if section.target_modules is not None:
        modules: list[str] | str = list(section.target_modules)
    elif "all-linear" in section.targets:
        modules = "all-linear"
    elif "attention" in section.targets:
        modules = list(ATTENTION_MODULES)
    else:
        modules = []
    if section.target_parameters is not None:
        parameters = list(section.target_parameters)
    elif "experts" in section.targets:
        if section.expert_layers is None:
            parameters = list(EXPERT_PARAMETERS)
        else:
            bad = [i for i in section.expert_layers if num_layers is not None and not 0 <= i < num_layers]
            if bad and num_layers is not None:
                raise UserError(
                    f"lora.expert_layers: {bad} out of range; the model has layers 0..{num_layers - 1}"
                )
            # Full paths: a bare "7.mlp..." suffix is unambiguous in PEFT too, but the full name reads better.
            parameters = [f"layers.{i}.{name}" for i in section.expert_layers for name in EXPERT_PARAMETERS]
    else:
        parameters = []
    if not modules and not parameters:
        raise UserError(
            "lora: nothing to train; name at least one group in lora.targets or give target_modules"
        )
    return modules, parameters


def lora_config(section: LoraSection, model_config: Any = None) -> LoraConfig:
    """The PEFT ``LoraConfig`` of a recipe's ``lora`` section."""
    from peft import LoraConfig

    num_layers = getattr(model_config, "num_hidden_layers", None)
    modules, parameters = lora_targets(section, num_layers)
    return LoraConfig(
        r=section.r,
        lora_alpha=section.alpha,
        lora_dropout=section.dropout,
        target_modules=modules or None,
        target_parameters=parameters or None,
        bias="none",
        task_type="CAUSAL_LM",
    )
