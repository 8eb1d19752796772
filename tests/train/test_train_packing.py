"""Packed sequences must give the logits each sequence gets alone (gpt-oss ignored the packing boundaries)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

LENGTHS = (40, 25, 150, 9)  # 150 > the tiny model's sliding window (128): the sliding mask is packed too


def _packed_and_alone(tiny_model_dir, fix: bool):
    import torch
    from transformers import AutoModelForCausalLM
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from medswallow.train.packing import install_packed_sequence_masks

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    if fix:
        assert install_packed_sequence_masks(model)
    seqs = [torch.randint(0, 199_000, (n,)).tolist() for n in LENGTHS]
    # The exact batch TRL's bfd packing / padding-free collator hands the model: one row, position_ids restart.
    batch = DataCollatorForLanguageModeling(pad_token_id=199999, padding_free=True)([{"input_ids": s} for s in seqs])
    assert "attention_mask" not in batch and batch["input_ids"].shape == (1, sum(LENGTHS))
    with torch.no_grad():
        alone = torch.cat([model(input_ids=torch.tensor([s])).logits[0] for s in seqs])
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
    return (packed - alone).abs().max().item()


def test_packed_logits_equal_unpacked_logits(tiny_model_dir):
    assert _packed_and_alone(tiny_model_dir, fix=True) < 1e-4


def test_without_the_fix_packed_examples_attend_to_each_other(tiny_model_dir):
    # Guards the test above: if transformers ever fixes GptOssModel, this fails and the hook can go.
    assert _packed_and_alone(tiny_model_dir, fix=False) > 1e-2


def test_the_hook_leaves_padded_batches_and_generation_alone(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from medswallow.train.packing import install_packed_sequence_masks

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.randint(0, 199_000, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padding
    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).logits
        gen_before = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False)
        install_packed_sequence_masks(model)
        install_packed_sequence_masks(model)  # idempotent
        after = model(input_ids=ids, attention_mask=mask).logits
        gen_after = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False)
    assert torch.equal(before, after)
    assert torch.equal(gen_before, gen_after)


@pytest.mark.parametrize("strategy", ["bfd", "bfd_split"])
def test_packed_rows_keep_the_order_of_their_documents(strategy):
    """BFD fills rows longest document first; pack_in_order puts each row back where its first document was."""
    from datasets import Dataset

    from medswallow.train.packing import pack_in_order

    lengths = [3, 8, 2, 5, 8, 1, 6, 4]  # document i is [i] * length: its tokens say where it came from
    docs = Dataset.from_dict({"input_ids": [[i] * n for i, n in enumerate(lengths)], "n_tokens": lengths})
    packed = pack_in_order(docs, 8, strategy)
    assert packed.column_names == ["input_ids", "seq_lengths"]
    firsts = [min(row) for row in packed["input_ids"]]  # the earliest document in each row
    assert firsts == sorted(firsts) and firsts[0] == 0  # rows in the order of their first document
    seen = [t for row in packed["input_ids"] for t in row]
    assert sorted(seen) == sorted(t for i, n in enumerate(lengths) for t in [i] * n)  # no token lost or repeated
    assert all(sum(s) == len(r) <= 8 for s, r in zip(packed["seq_lengths"], packed["input_ids"], strict=True))
