"""Supervised fine-tuning (SFT) on chat data in harmony format, with reasoning.

A row is ``{"messages": [{"role", "content", "thinking"?}, ...]}``; the last turn is the assistant's, and its
``thinking`` (also read from ``reasoning`` / ``reasoning_content``) becomes the harmony ``analysis`` channel,
its ``content`` the ``final`` channel. With ``assistant_only_loss`` (the default) only assistant turns are
trained: the chat template's ``{% generation %}`` markers say which tokens those are; TRL swaps in its
marked copy of the gpt-oss template, and any other template without markers is refused before training.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from medswallow.config import StrictModel
from medswallow.errors import UserError
from medswallow.train.data import REJECT, TrainData, build_train_data, row_id
from medswallow.train.recipe import BaseRecipe, DataSource, RetentionSection

ROLES = ("system", "developer", "user", "assistant")
REASONING_KEYS = ("thinking", "reasoning", "reasoning_content")
HARMONY_MARKUP = ("<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|return|>", "<|call|>")


class SFTData(StrictModel):
    """Chat data: one conversation per row, ending with the assistant turn to learn."""

    train: list[DataSource] = Field(..., min_length=1, description="Chat sources (.jsonl or .parquet).")
    retention: RetentionSection | None = Field(
        default=None, description="General chat data mixed in to limit forgetting."
    )
    messages_field: str = Field(default="messages", description="Column holding the list of messages.")
    assistant_only_loss: bool = Field(
        default=True,
        description="Train on assistant turns only (analysis + final channels); false: on every token.",
    )
    max_length: int = Field(default=4096, ge=16, description="Longest conversation in tokens.")
    too_long: Literal["drop", "truncate"] = Field(
        default="drop",
        description="drop: skip longer conversations; truncate: keep the start (may cut the answer).",
    )
    packing: Literal["none", "bfd"] = Field(
        default="none",
        description="bfd: several conversations per row, kept apart by the attention mask (faster on GPU).",
    )
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        default=None,
        description="Harmony system prompt's reasoning level; a row's own reasoning_effort field wins.",
    )
    model_identity: str | None = Field(
        default=None, description="Harmony system prompt's first line (model identity)."
    )
    eval_fraction: float = Field(
        default=0.0, ge=0.0, lt=0.5, description="Held-out share of conversations for eval loss."
    )


class Recipe(BaseRecipe):
    kind: Literal["sft"] = "sft"
    data: SFTData


def normalise_messages(messages: Any) -> tuple[list[dict[str, str]] | None, str]:
    """Messages as the gpt-oss template wants them (no None-valued keys), or (None, why not)."""
    if not isinstance(messages, list) or not messages:
        return None, "no messages"
    out: list[dict[str, str]] = []
    for m in messages:
        if not isinstance(m, dict):
            return None, "message is not an object"
        role = m.get("role")
        if role not in ROLES:
            return None, f"unsupported role {str(role)[:20]!r}"
        content = m.get("content")
        if not isinstance(content, str):
            return None, f"{role} message without text content"
        msg = {"role": role, "content": content}
        if role == "assistant":
            thinking = next(
                (m[k] for k in REASONING_KEYS if isinstance(m.get(k), str) and m[k].strip()), None
            )
            if thinking is not None:
                msg["thinking"] = thinking
        if any(tag in text for text in msg.values() for tag in HARMONY_MARKUP):
            return None, "harmony markup inside message text"
        out.append(msg)
    if out[-1]["role"] != "assistant":
        return None, "does not end with an assistant turn"
    if not out[-1]["content"].strip():
        return None, "final assistant turn is empty"
    if not any(m["role"] == "user" for m in out):
        return None, "no user turn"
    return out, ""


def tokenize_conversations(
    batch: dict[str, list[Any]],
    indices: list[int],
    tokenizer: Any,
    messages_field: str,
    chat_template: str | None,
    assistant_only_loss: bool,
    max_length: int,
    truncate: bool,
    template_kwargs: dict[str, str],
) -> dict[str, list[Any]]:
    """Batched row function: validate, render with the chat template, tokenize, mark assistant tokens."""
    out: dict[str, list[Any]] = {"id": [], "input_ids": [], "assistant_masks": [], "n_tokens": [], REJECT: []}
    efforts = batch.get("reasoning_effort")
    for i, raw in enumerate(batch[messages_field]):
        out["id"].append(row_id(batch, i, indices[i]))
        ids: list[int] = []
        mask: list[int] = []
        messages, reason = normalise_messages(raw)
        if messages is not None:
            kwargs = dict(template_kwargs)
            if efforts is not None and efforts[i] in ("low", "medium", "high"):
                kwargs["reasoning_effort"] = efforts[i]
            try:
                enc = tokenizer.apply_chat_template(
                    messages,
                    chat_template=chat_template,
                    tokenize=True,
                    return_dict=True,
                    return_assistant_tokens_mask=assistant_only_loss,
                    **kwargs,
                )
            except Exception as exc:  # jinja raise_exception() and template bugs: one row, not the run
                reason = f"chat template error: {str(exc).splitlines()[0][:120]}"
            else:
                ids = list(enc["input_ids"])
                mask = list(enc["assistant_masks"]) if assistant_only_loss else [1] * len(ids)
                if assistant_only_loss and 1 not in mask:
                    reason = "no assistant tokens"
                elif len(ids) > max_length and not truncate:
                    reason = "longer than max_length"
        if reason:
            ids, mask = [], []
        out["input_ids"].append(ids)
        out["assistant_masks"].append(mask)
        out["n_tokens"].append(min(len(ids), max_length))
        out[REJECT].append(reason)
    return out


PROBE = [
    {"role": "user", "content": "probe question"},
    {"role": "assistant", "thinking": "probe reasoning", "content": "probe answer"},
]


def training_chat_template(tokenizer: Any, assistant_only_loss: bool) -> str | None:
    """The template to train with: the tokenizer's, or TRL's marked copy of it; refused when neither works.

    Checks with a probe conversation that the marked tokens are exactly the assistant's analysis and final
    messages, so a template with misplaced markers fails here rather than training on the wrong tokens.
    """
    if not assistant_only_loss:
        return None
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not isinstance(template, str | dict) or not template:
        raise UserError("the tokenizer has no chat template; give one with model.chat_template")
    if not has_generation_markers(template):
        try:
            template = get_training_chat_template(tokenizer)
        except Exception:  # TRL raises for templates it has no training copy of
            template = None
        if not template:
            raise UserError(
                "data.assistant_only_loss needs a chat template with {% generation %} markers around assistant "
                "turns; this model's template has none and TRL has no marked copy of it. Give a marked template "
                "with model.chat_template (see trl/chat_templates/gptoss_training.jinja) or set "
                "data.assistant_only_loss: false to train on every token"
            )
    enc = tokenizer.apply_chat_template(
        PROBE, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    trained = tokenizer.decode(
        [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    )
    if "probe answer" not in trained or "probe question" in trained:
        raise UserError(
            "the chat template's {% generation %} markers do not enclose exactly the assistant turn "
            f"(marked text of a probe conversation: {trained[:200]!r}); fix the markers in model.chat_template"
        )
    return str(template)


def load_data(recipe: Recipe, tokenizer: Any) -> TrainData:
    """Check the template, then read, validate and tokenize the chat sources; mix by examples."""
    d = recipe.data
    template = training_chat_template(tokenizer, d.assistant_only_loss)
    template_kwargs = {
        k: v
        for k, v in {"reasoning_effort": d.reasoning_effort, "model_identity": d.model_identity}.items()
        if v
    }
    return build_train_data(
        recipe,
        d.train,
        d.retention,
        required=d.messages_field,
        rows_fn=tokenize_conversations,
        fn_kwargs={
            "tokenizer": tokenizer,
            "messages_field": d.messages_field,
            "chat_template": template,
            "assistant_only_loss": d.assistant_only_loss,
            "max_length": d.max_length,
            "truncate": d.too_long == "truncate",
            "template_kwargs": template_kwargs,
        },
        unit="examples",
        eval_fraction=d.eval_fraction,
    )


def train(
    recipe: Recipe, data: TrainData, tokenizer: Any, callbacks: list[Any] | tuple[Any, ...] = ()
) -> Any:
    """Fine-tune with TRL's SFTTrainer on tokenized conversations; save the weights when done."""
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
    from medswallow.train.peft_targets import lora_config

    args = with_trl_args(
        SFTConfig,
        {
            **loop_arguments(recipe),
            "max_length": recipe.data.max_length,
            "packing": recipe.data.packing != "none",
            "packing_strategy": "bfd",
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
        train_dataset=data.train,
        eval_dataset=data.eval,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.lora, model.config) if recipe.method == "lora" else None,
    )
    attach_callbacks(trainer, recipe, callbacks)
    trainer.train(resume_from_checkpoint=resume_checkpoint(recipe))
    if finished(trainer):
        trainer.save_model(str(final_dir(recipe)))
    return trainer
