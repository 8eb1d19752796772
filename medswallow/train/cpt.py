"""Continued pre-training (CPT) on build-corpus shards: next-token loss on every token of every document.

Documents are tokenized with the model's tokenizer (special-token strings in the text stay plain text),
end with ``<|endoftext|>``, and are packed into ``data.max_length`` rows. The default packing,
``bfd_split``, keeps documents apart (block-diagonal attention, see ``packing.py``) and splits long ones
instead of dropping their tail.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from medswallow.config import StrictModel
from medswallow.train.data import REJECT, TrainData, build_train_data, row_id
from medswallow.train.recipe import BaseRecipe, DataSource, RetentionSection

DOC_END = "<|endoftext|>"


class CPTData(StrictModel):
    """Documents to continue pre-training on (build-corpus output: OUT/data/*.parquet)."""

    train: list[DataSource] = Field(
        ..., min_length=1, description="Corpus sources (build-corpus output folders)."
    )
    retention: RetentionSection | None = Field(
        default=None, description="General-domain text mixed in to limit forgetting."
    )
    text_field: str = Field(default="text", description="Column holding the document text.")
    max_length: int = Field(
        default=2048, ge=16, description="Tokens per packed row: longer sees more context, costs more memory."
    )
    packing: Literal["bfd_split", "bfd", "wrapped"] = Field(
        default="bfd_split",
        description="bfd_split: documents kept apart, long ones split (no token lost); bfd: same but drops what "
        "exceeds max_length; wrapped: one stream cut every max_length (documents see their neighbours).",
    )
    min_tokens: int = Field(
        default=1, ge=1, description="Drop documents shorter than this (after tokenization)."
    )
    eval_fraction: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="Held-out share of documents for eval loss."
    )


class Recipe(BaseRecipe):
    kind: Literal["cpt"] = "cpt"
    data: CPTData


def tokenize_documents(
    batch: dict[str, list[Any]],
    indices: list[int],
    tokenizer: Any,
    text_field: str,
    doc_end: int,
    min_tokens: int,
) -> dict[str, list[Any]]:
    """Batched row function: validate and tokenize documents; a reason in REJECT drops the row."""
    out: dict[str, list[Any]] = {"id": [], "input_ids": [], "n_tokens": [], REJECT: []}
    texts = batch[text_field]
    good = [i for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
    encoded = tokenizer([texts[i] for i in good], add_special_tokens=False, split_special_tokens=True)[
        "input_ids"
    ]
    by_row = dict(zip(good, encoded, strict=True))
    for i, text in enumerate(texts):
        out["id"].append(row_id(batch, i, indices[i]))
        ids = by_row.get(i)
        if ids is None:
            reason = "missing text" if not isinstance(text, str) else "empty text"
        elif len(ids) < min_tokens:
            reason = "too short"
        else:
            reason = ""
        ids = [*ids, doc_end] if reason == "" and ids is not None else []
        out["input_ids"].append(ids)
        out["n_tokens"].append(len(ids))
        out[REJECT].append(reason)
    return out


def load_data(recipe: Recipe, tokenizer: Any) -> TrainData:
    """Read, check and tokenize the corpus and retention sources; mix by tokens."""
    d = recipe.data
    return build_train_data(
        recipe,
        d.train,
        d.retention,
        required=d.text_field,
        rows_fn=tokenize_documents,
        fn_kwargs={
            "tokenizer": tokenizer,
            "text_field": d.text_field,
            "doc_end": tokenizer.convert_tokens_to_ids(DOC_END),
            "min_tokens": d.min_tokens,
        },
        unit="tokens",
        eval_fraction=d.eval_fraction,
    )


def train(
    recipe: Recipe, data: TrainData, tokenizer: Any, callbacks: list[Any] | tuple[Any, ...] = ()
) -> Any:
    """Continue pre-training with TRL's SFTTrainer on tokenized documents; save the weights when done."""
    from trl import SFTConfig, SFTTrainer

    from medswallow.train.arguments import (
        attach_callbacks,
        final_dir,
        finished,
        loop_arguments,
        resume_checkpoint,
        with_trl_args,
    )
    from medswallow.train.modeling import load_training_model
    from medswallow.train.packing import pack_in_order
    from medswallow.train.peft_targets import lora_config

    d = recipe.data
    train_rows, eval_rows = data.train, data.eval
    packing: dict[str, Any] = {"max_length": d.max_length, "packing": True, "packing_strategy": d.packing}
    if d.packing in ("bfd", "bfd_split"):
        # Packed here, in document order; the trainer gets finished padding-free rows.
        train_rows = pack_in_order(train_rows, d.max_length, d.packing)
        eval_rows = pack_in_order(eval_rows, d.max_length, d.packing) if eval_rows is not None else None
        packing = {"max_length": None, "packing": False, "padding_free": True}
    args = with_trl_args(
        SFTConfig,
        {
            **loop_arguments(recipe),
            **packing,
            "eval_strategy": "steps" if data.eval is not None else "no",
            "eval_steps": recipe.train.save_steps,
        },
        recipe.train.trl_args,
    )
    # After the config: under DeepSpeed ZeRO-3 it sets up partitioned loading.
    model = load_training_model(recipe)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.lora, model.config) if recipe.method == "lora" else None,
    )
    attach_callbacks(trainer, recipe, callbacks)
    trainer.train(resume_from_checkpoint=resume_checkpoint(recipe))
    if finished(trainer):
        trainer.save_model(str(final_dir(recipe)))
    return trainer
