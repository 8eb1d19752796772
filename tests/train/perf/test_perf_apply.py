"""The ``performance:`` section and ``apply_perf``: validation, refusals, and all CPU levers at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from medswallow.config import load_config
from medswallow.errors import UserError
from medswallow.train.perf import PerfConfig, apply_perf, describe, trainer_arguments
from tests.train.perf.helpers import (
    assert_close_scaled,
    assert_close_tree,
    build_model,
    trainable_grads,
    twin,
)

LORA = {
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "target_parameters": ["layers.1.mlp.experts.gate_up_proj", "layers.1.mlp.experts.down_proj"],
}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("experts: groupd\n", "experts"),
        ("chekpointing: full\n", "did you mean 'checkpointing'"),
        ("checkpointing: keep\ncheckpoint_every: 2\n", "checkpoint_every"),
        ("checkpointing: selective\ncheckpoint_blocks: [mlp, ffn]\n", "checkpoint_blocks"),
        ("loss_chunk_tokens: 0\n", "loss_chunk_tokens"),
    ],
)
def test_bad_sections_name_the_field(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "perf.yaml"
    path.write_text(yaml_text)
    with pytest.raises(UserError, match=message):
        load_config(PerfConfig, path)


def test_a_valid_section_and_what_the_trainer_must_change(tmp_path: Path) -> None:
    path = tmp_path / "perf.yaml"
    path.write_text("experts: grouped\ncheckpointing: selective\ncheckpoint_blocks: [mlp]\npadding_free: true\n")
    cfg = load_config(PerfConfig, path, ["checkpoint_every=2"])
    assert cfg.checkpoint_every == 2
    assert trainer_arguments(cfg) == {"gradient_checkpointing": False, "padding_free": True}
    assert trainer_arguments(PerfConfig()) == {}
    assert describe(cfg)["checkpointing"] == "selective (mlp), every 2 layers"


def test_refusals_are_user_errors() -> None:
    model = build_model()
    with pytest.raises(UserError, match="no backward pass on CPU"):
        apply_perf(model, PerfConfig(attention="flex"))
    apply_perf(model, PerfConfig(experts="grouped"))
    with pytest.raises(UserError, match="already applied"):
        apply_perf(model, PerfConfig(experts="grouped"))
    with pytest.raises(UserError, match="written for gpt-oss"):
        apply_perf(torch.nn.Linear(2, 2), PerfConfig())


def test_all_cpu_levers_together_train_like_the_plain_model() -> None:
    """Grouped experts + fused expert LoRA + chunked loss + selective checkpointing + padding-free batch."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from medswallow.train.packing import install_packed_sequence_masks

    ref = build_model(layers=2, lora=LORA)
    ref.config._experts_implementation = "eager"
    fast = twin(ref)
    apply_perf(fast, PerfConfig(
        experts="grouped", loss="chunked", loss_chunk_tokens=8, checkpointing="selective",
        checkpoint_blocks=["attention", "mlp"], padding_free=True,
    ))
    install_packed_sequence_masks(fast.get_base_model())
    gen = torch.Generator().manual_seed(6)
    examples = [{"input_ids": torch.randint(3, 512, (n,), generator=gen).tolist()} for n in (9, 5, 12)]
    padded = DataCollatorForLanguageModeling(pad_token_id=0)(examples)
    flat = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(examples)

    want = ref(**padded, output_router_logits=False)
    want.loss.backward()
    got = fast(**flat, output_router_logits=False)
    got.loss.backward()
    assert got.logits is None
    assert_close_scaled(got.loss, want.loss, 1e-6, "loss")
    assert_close_tree(trainable_grads(fast), trainable_grads(ref))
