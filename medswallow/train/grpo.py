"""GRPO with verifiable medical rewards on multiple-choice exams (TRL GRPOTrainer), as RLVR did for math.

Training items come in any benchmark task format, read by the :mod:`medswallow.bench` loaders (past exams,
question banks that are not evaluation sets), and are prompted exactly as ``medswallow eval`` prompts them.
Rewards (:mod:`medswallow.train.rewards`): the eval's answer extraction and set match on the final channel,
a well-formed harmony answer, an optional length penalty and an optional safety penalty.

Before any weights load, every training item is checked against the evaluation sets (eval suites and/or
task data named in the recipe) by character n-gram overlap; any overlap refuses the run and lists the item
ids on both sides. Generation runs through transformers (default; works on CPU) or through vLLM via TRL:
``vllm_server`` talks to ``trl vllm-serve`` on other GPUs, ``vllm_colocate`` shares the training GPUs.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from medswallow.config import StrictModel
from medswallow.console import console
from medswallow.errors import UserError, did_you_mean
from medswallow.records import Sample
from medswallow.train.data import SourceReport, TrainData, write_rejected
from medswallow.train.recipe import BaseRecipe
from medswallow.train.rewards import RewardsSection

# --- recipe ------------------------------------------------------------------------------------------------


def _known_task(value: str) -> str:
    from medswallow.bench.registry import TASKS

    key = value.strip().lower()
    if key not in TASKS:
        raise ValueError(f"unknown benchmark task {value!r}{did_you_mean(key, list(TASKS))}")
    return key


class ExamSource(StrictModel):
    """Training items in one benchmark task's format (the task names the loader and the default prompt)."""

    task: str = Field(
        ..., description="Format and prompt of the items: igakuqa, yakugakuqa, jmmlu_medical, ..."
    )
    data: str = Field(
        ...,
        description="Local file/folder in that format (relative to the recipe; ${VAR} expanded), or an HF id.",
    )
    name: str | None = Field(default=None, description="Label in tables; default: task:folder.")
    limit: int | None = Field(default=None, ge=1, description="Only the first N items (quick experiments).")
    prompt: str | None = Field(
        default=None, description="Prompt style (exam, cot); default: the task's, as in eval."
    )
    system: str | None = Field(default=None, description="Override the task's system line ('' for none).")

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        return _known_task(value)


class EvalSet(StrictModel):
    """An evaluation set named directly: a task and its data."""

    task: str
    data: str = Field(..., description="Local file/folder (relative to the recipe) or an HF id.")

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        return _known_task(value)


class DecontamSection(StrictModel):
    """The check that no training item is (part of) an evaluation item."""

    suites: list[str] = Field(
        default_factory=list, description="Eval suite YAMLs: every task run's data is an evaluation set."
    )
    sets: list[EvalSet] = Field(default_factory=list, description="More evaluation sets, named directly.")
    ngram: int = Field(
        default=24,
        ge=8,
        description="Character n-gram length on text without spaces and punctuation (~8 English words).",
    )
    min_overlap: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Overlap: this share of the shorter item's n-grams appears in the other.",
    )
    allow_unchecked: bool = Field(
        default=False,
        description="Train without any evaluation set to check against (results cannot be trusted then).",
    )


class GRPOData(StrictModel):
    """Multiple-choice training items in benchmark formats."""

    train: list[ExamSource] = Field(..., min_length=1)
    text_only: bool = Field(
        default=True, description="Leave out items that need a figure (the model cannot see it)."
    )
    max_prompt_length: int = Field(
        default=1024, ge=16, description="Items whose prompt is longer are left out."
    )
    reasoning_effort: Literal["low", "medium", "high"] = Field(
        default="medium",
        description="Harmony reasoning level in the system prompt; match how the model is evaluated.",
    )
    decontamination: DecontamSection = Field(default_factory=DecontamSection)

    _completion_length: int = PrivateAttr(default=0)

    @property
    def max_length(self) -> int:
        """Longest sequence trained on: prompt plus completion (the plan's memory estimate reads it)."""
        return self.max_prompt_length + self._completion_length


class GenerationSection(StrictModel):
    """How completions are sampled: G per prompt, through transformers or vLLM."""

    backend: Literal["transformers", "vllm_server", "vllm_colocate"] = Field(
        default="transformers",
        description="transformers: model.generate in the training process (any device, slow); vllm_server: a "
        "`trl vllm-serve --model MODEL` on other GPUs (fastest; weights synced every step); vllm_colocate: "
        "vLLM inside each training process, sharing its GPU.",
    )
    num_generations: int = Field(
        default=8, ge=2, description="Completions per prompt (the group GRPO normalises over)."
    )
    max_completion_length: int = Field(
        default=2048,
        ge=1,
        description="Tokens of reasoning + answer; a cut-off answer gets no format reward.",
    )
    temperature: float = Field(
        default=1.0, gt=0, description="Sampling temperature (1.0 keeps the policy's own distribution)."
    )
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int | None = Field(default=None, ge=1)
    min_p: float | None = Field(default=None, ge=0, le=1)
    vllm_server_url: str = Field(
        default="http://127.0.0.1:8000", description="vllm_server: where `trl vllm-serve` listens."
    )
    vllm_server_timeout: float = Field(
        default=240, gt=0, description="vllm_server: seconds to wait for it at start."
    )
    vllm_gpu_memory_utilization: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="vllm_colocate: share of each GPU given to vLLM (the rest trains).",
    )


class GRPOSection(StrictModel):
    """The policy-gradient loss (TRL GRPOConfig); anything else goes through train.trl_args."""

    beta: float = Field(
        default=0.0,
        ge=0,
        description="KL penalty to the reference. 0: no reference model (less memory, the DAPO choice); "
        "> 0: LoRA uses the adapter-disabled base, full loads a second copy.",
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(
        default="dapo", description="How token losses are averaged."
    )
    epsilon: float = Field(default=0.2, gt=0, description="Lower clip range of the policy ratio.")
    epsilon_high: float | None = Field(
        default=0.28, gt=0, description="Upper clip (DAPO clip-higher); null: epsilon."
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        default="group",
        description="Divide advantages by the reward std of the group, of the batch, or not at all.",
    )
    num_iterations: int = Field(default=1, ge=1, description="Policy updates per generated batch.")
    mask_truncated_completions: bool = Field(
        default=False,
        description="Leave cut-off completions out of the loss (they still count for the group mean).",
    )


class Recipe(BaseRecipe):
    kind: Literal["grpo"] = "grpo"
    data: GRPOData
    generation: GenerationSection = Field(default_factory=GenerationSection)
    grpo: GRPOSection = Field(default_factory=GRPOSection)
    rewards: RewardsSection = Field(default_factory=RewardsSection)

    @model_validator(mode="after")
    def _link(self) -> Recipe:
        self.data._completion_length = self.generation.max_completion_length
        return self


# --- decontamination ---------------------------------------------------------------------------------------


def normalise_for_overlap(text: str) -> str:
    """The corpus decontamination's matching key (NFKC, case-folded, no spaces or punctuation), so spacing,
    punctuation and full-width forms never hide a copy and both checks agree on what "the same text" is."""
    from medswallow.corpus.normalize import match_key

    return match_key(text)


def item_text(sample: Sample) -> str:
    """What is compared: the question and its choices (as :func:`medswallow.bench.iter_benchmark_texts` gives)."""
    return "\n".join([sample.question, *sample.choices])


@dataclass(frozen=True)
class Overlap:
    train_id: str
    eval_id: str
    share: float


class OverlapIndex:
    """Character n-grams of the evaluation items, looked up by training item.

    Two items overlap when ``min_overlap`` of the shorter one's n-grams occur in the other, so a training
    item that copies only the question of an eval item (or an eval item quoted inside a longer training
    item) is caught. Items shorter than ``ngram`` characters are compared whole. The corpus's
    ``BenchmarkIndex`` is built for documents instead: it indexes each question and choice on its own and
    skips those shorter than the n-gram, so a short exam item ("鉄欠乏性貧血でみられる所見はどれか。" with
    one-word choices) is not indexed at all; an item-to-item check needs the whole item as one text.
    """

    def __init__(self, ngram: int, min_overlap: float) -> None:
        self.ngram = ngram
        self.min_overlap = min_overlap
        self.index: dict[int, list[int]] = defaultdict(list)
        self.ids: list[str] = []
        self.sizes: list[int] = []
        self.short: dict[str, list[int]] = defaultdict(list)  # whole normalised text of short eval items

    def grams(self, text: str) -> set[int]:
        from medswallow.corpus.ngrams import char_ngram_hashes

        norm = normalise_for_overlap(text)
        if len(norm) < self.ngram:
            return set()
        return {int(h) for h in char_ngram_hashes(norm, self.ngram)}

    def add(self, item_id: str, text: str) -> None:
        i = len(self.ids)
        self.ids.append(item_id)
        grams = self.grams(text)
        self.sizes.append(len(grams))
        if not grams:
            norm = normalise_for_overlap(text)
            if norm:
                self.short[norm].append(i)
            return
        for g in grams:
            self.index[g].append(i)

    def __len__(self) -> int:
        return len(self.ids)

    def find(self, item_id: str, text: str) -> list[Overlap]:
        grams = self.grams(text)
        norm = normalise_for_overlap(text)
        found = [Overlap(item_id, self.ids[i], 1.0) for i in self.short.get(norm, [])]
        if not grams:
            return found
        hits: Counter[int] = Counter()
        for g in grams:
            hits.update(self.index.get(g, ()))
        for i, n in hits.items():
            share = n / max(1, min(len(grams), self.sizes[i]))
            if share >= self.min_overlap:
                found.append(Overlap(item_id, self.ids[i], round(share, 3)))
        return found


def data_location(recipe: Recipe, raw: str, where: str) -> str:
    """A data path with ``${VAR}`` expanded and made absolute against the recipe; an HF id as it is."""
    from medswallow.bench.io import is_hf_id

    missing = [v for v in re.findall(r"\$\{(\w+)\}", raw) if v not in os.environ]
    if missing:
        raise UserError(
            f"{where}: {raw!r} uses ${{{missing[0]}}}, which is not set; export {missing[0]}=/path or --set {where}=PATH"
        )
    expanded = os.path.expandvars(raw)
    return expanded if is_hf_id(expanded) else str(recipe.resolve(expanded))


def eval_sets(recipe: Recipe) -> list[tuple[str, str]]:
    """(task, data) of every evaluation set the recipe names, suites first."""
    from medswallow.bench.suite import Suite
    from medswallow.config import load_config

    dec = recipe.data.decontamination
    sets: list[tuple[str, str]] = []
    for s in dec.suites:
        path = recipe.resolve(s)
        if not path.is_file():
            raise UserError(f"data.decontamination.suites: {path} not found")
        suite = load_config(Suite, path)
        sets += [(run.task, suite.data_path(run)) for run in suite.tasks]
    for i, e in enumerate(dec.sets):
        sets.append((e.task, data_location(recipe, e.data, f"data.decontamination.sets.{i}.data")))
    return list(dict.fromkeys(sets))  # a suite scoring one set twice (generative + likelihood) is read once


def build_index(recipe: Recipe) -> OverlapIndex:
    """The n-gram index of every evaluation item the recipe names."""
    from medswallow.bench.registry import iter_benchmark_texts

    dec = recipe.data.decontamination
    index = OverlapIndex(dec.ngram, dec.min_overlap)
    for task, data in eval_sets(recipe):
        for item_id, text in iter_benchmark_texts(task, data):
            index.add(f"{task}:{item_id}", text)
    return index


def check_decontamination(recipe: Recipe, items: list[tuple[str, Sample]]) -> int:
    """Refuse the run when any training item overlaps an evaluation item; returns how many eval items were checked."""
    dec = recipe.data.decontamination
    if not dec.suites and not dec.sets:
        if dec.allow_unchecked:
            console.print(
                "[yellow]note:[/yellow] no evaluation sets named: training items are not checked for overlap"
            )
            return 0
        raise UserError(
            "data.decontamination: name the evaluation sets to check the training items against (suites: "
            "[pipelines/eval/....yaml] or sets: [{task, data}]); set allow_unchecked: true to train without the check"
        )
    index = build_index(recipe)
    overlaps = [o for source, s in items for o in index.find(f"{source}:{s.id}", item_text(s))]
    if overlaps:
        shown = "; ".join(f"{o.train_id} ~ {o.eval_id} ({o.share:.0%})" for o in overlaps[:20])
        more = f" and {len(overlaps) - 20} more" if len(overlaps) > 20 else ""
        n_train = len({o.train_id for o in overlaps})
        raise UserError(
            f"{n_train} training items overlap evaluation items (training ~ eval, share of n-grams): {shown}{more}. "
            "Remove them from the training data (or the set from data.decontamination if it is not an evaluation set)"
        )
    return len(index)


# --- data --------------------------------------------------------------------------------------------------


def source_name(source: ExamSource) -> str:
    return source.name or f"{source.task}:{Path(source.data.rstrip('/')).name}"


def skip_reason(sample: Sample, text_only: bool) -> str:
    """Why an item gives no training signal, or ""."""
    if sample.voided:
        return "voided item (no answer)"
    if sample.always_correct:
        return "counted correct for every answer"
    if text_only and not sample.text_only:
        return "needs a figure"
    if not sample.gold:
        return "no gold answer"
    return ""


def item_prompt(sample: Sample, source: ExamSource) -> list[dict[str, str]]:
    """The chat messages of one item, built the way ``medswallow eval`` builds them."""
    from medswallow.bench.prompts import chat_messages, get_style
    from medswallow.bench.registry import get_task

    task = get_task(sample.task)
    style = get_style(source.prompt or task.prompt)
    system = task.system if source.system is None else source.system
    return chat_messages(sample, style, system)


def load_items(recipe: Recipe) -> list[tuple[ExamSource, list[Sample]]]:
    from medswallow.bench.registry import get_task

    out = []
    for i, src in enumerate(recipe.data.train):
        data = data_location(recipe, src.data, f"data.train.{i}.data")
        samples = get_task(src.task).load(data).samples
        out.append((src, samples[: src.limit] if src.limit else samples))
    return out


def load_data(recipe: Recipe, tokenizer: Any) -> TrainData:
    """Load the exam items, check them against the evaluation sets, build prompts, drop what cannot train."""
    from datasets import Dataset

    from medswallow.train.rewards import build_rewards

    # The trainer's arguments (batch vs group size, reward weights) are checked now, not after the weights load.
    grpo_config(recipe, build_rewards(recipe.rewards, recipe.generation.max_completion_length)[1])
    loaded = load_items(recipe)
    checked = check_decontamination(
        recipe, [(source_name(src), s) for src, samples in loaded for s in samples]
    )
    if checked:
        console.print(
            f"decontamination: {sum(len(s) for _, s in loaded)} training items checked against {checked} evaluation items, no overlap"
        )
    rows: list[dict[str, Any]] = []
    reports: list[SourceReport] = []
    rejected: list[dict[str, Any]] = []
    effort = {"reasoning_effort": recipe.data.reasoning_effort}
    for src, samples in loaded:
        report = SourceReport(name=source_name(src), role="train", rows_read=len(samples))
        for i, s in enumerate(samples):
            reason = skip_reason(s, recipe.data.text_only)
            if not reason:
                prompt = item_prompt(s, src)
                enc = tokenizer.apply_chat_template(
                    prompt, tokenize=True, return_dict=True, add_generation_prompt=True, **effort
                )
                n = len(enc["input_ids"])
                if n > recipe.data.max_prompt_length:
                    reason = "prompt longer than max_prompt_length"
            if reason:
                report.dropped[reason] += 1
                rejected.append({"source": report.name, "row": i, "id": s.id, "reason": reason})
                continue
            sample_json = json.dumps(s.to_dict(), ensure_ascii=False)
            rows.append(
                {
                    "prompt": prompt,
                    "sample": sample_json,
                    "n_tokens": n + recipe.generation.max_completion_length,
                }
            )
            report.rows_kept += 1
            report.tokens += n
        reports.append(report)
    write_rejected(rejected, recipe.output_dir)
    if not rows:
        raise UserError(
            "no usable training items: every item was left out (see the table and rejected.jsonl)"
        )
    train = Dataset.from_list(rows).shuffle(seed=recipe.train.seed).flatten_indices()
    return TrainData(train, None, reports, "examples")


# --- training ----------------------------------------------------------------------------------------------


def generation_arguments(g: GenerationSection) -> dict[str, Any]:
    """GRPOConfig fields of the generation section (vLLM through TRL's integration when asked for)."""
    kwargs: dict[str, Any] = {
        "num_generations": g.num_generations,
        "max_completion_length": g.max_completion_length,
        "temperature": g.temperature,
        "top_p": g.top_p,
        "top_k": g.top_k or 0,
        "min_p": g.min_p,
        "use_vllm": g.backend != "transformers",
    }
    if g.backend == "vllm_server":
        kwargs.update(
            vllm_mode="server",
            vllm_server_base_url=g.vllm_server_url,
            vllm_server_timeout=g.vllm_server_timeout,
        )
    elif g.backend == "vllm_colocate":
        kwargs.update(vllm_mode="colocate", vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization)
    return kwargs


def grpo_config(recipe: Recipe, reward_weights: list[float]) -> Any:
    from trl import GRPOConfig

    from medswallow.train.arguments import loop_arguments, with_trl_args

    p = recipe.grpo
    return with_trl_args(
        GRPOConfig,
        {
            **loop_arguments(recipe),
            **generation_arguments(recipe.generation),
            "beta": p.beta,
            "loss_type": p.loss_type,
            "epsilon": p.epsilon,
            "epsilon_high": p.epsilon_high if p.epsilon_high is not None else p.epsilon,
            "scale_rewards": p.scale_rewards,
            "num_iterations": p.num_iterations,
            "mask_truncated_completions": p.mask_truncated_completions,
            "reward_weights": reward_weights,
            "chat_template_kwargs": {"reasoning_effort": recipe.data.reasoning_effort},
        },
        recipe.train.trl_args,
    )


def train(
    recipe: Recipe, data: TrainData, tokenizer: Any, callbacks: list[Any] | tuple[Any, ...] = ()
) -> Any:
    """Reinforce right, well-formed answers with TRL's GRPOTrainer; save the weights when done."""
    from trl import GRPOTrainer

    from medswallow.train.arguments import attach_callbacks, final_dir, finished, resume_checkpoint
    from medswallow.train.modeling import load_training_model
    from medswallow.train.peft_targets import lora_config
    from medswallow.train.rewards import build_rewards

    funcs, weights = build_rewards(recipe.rewards, recipe.generation.max_completion_length)
    args = grpo_config(recipe, weights)
    model = load_training_model(recipe)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=list(funcs),
        args=args,
        train_dataset=data.train,
        processing_class=tokenizer,
        peft_config=lora_config(recipe.lora, model.config) if recipe.method == "lora" else None,
    )
    attach_callbacks(trainer, recipe, callbacks)
    trainer.train(resume_from_checkpoint=resume_checkpoint(recipe))
    if finished(trainer):
        trainer.save_model(str(final_dir(recipe)))
    return trainer
