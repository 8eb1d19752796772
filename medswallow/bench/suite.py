"""Eval suites: a typed YAML recipe naming the model, the backend, the sampling and the task runs.

``medswallow eval SUITE.yaml --model M --base-url URL -o OUT [--set a.b=c]``. Data paths may use
``${VAR}`` and ``${VAR:-default}`` (expanded from the environment) and are relative to the suite file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator

from medswallow.config import StrictModel
from medswallow.errors import UserError

Mode = Literal["generative", "likelihood"]
Effort = Literal["low", "medium", "high"]


class SamplingConfig(StrictModel):
    """Sampling for generated answers; unset fields keep the model card's defaults."""

    temperature: float | None = Field(default=None, description="Model card: 0.6. 0 = greedy.")
    top_p: float | None = Field(default=None, description="Model card: 0.95.")
    top_k: int | None = Field(default=None, description="Model card: 20.")
    min_p: float | None = Field(default=None, description="Model card: 0.0.")
    max_tokens: int | None = Field(
        default=None, ge=1, description="Budget for reasoning + answer; a cut answer is scored wrong."
    )
    reasoning_effort: Effort | None = Field(
        default=None, description="Harmony reasoning effort: low, medium or high."
    )
    extra: dict[str, Any] | None = Field(
        default=None, description="Extra request fields (e.g. repetition_penalty)."
    )

    def merged(self, over: SamplingConfig | None) -> SamplingConfig:
        if over is None:
            return self
        data = self.model_dump()
        data.update({k: v for k, v in over.model_dump().items() if v is not None})
        return SamplingConfig(**data)

    def params(self, seed: int | None) -> Any:
        """The inference layer's SamplingParams (model card defaults for every unset field)."""
        from medswallow.inference import SamplingParams

        kwargs = {k: v for k, v in self.model_dump().items() if v is not None}
        return SamplingParams(seed=seed, **kwargs)


class TaskRun(StrictModel):
    """One benchmark run: which task, where its data is, how it is prompted and scored."""

    task: str = Field(description="Benchmark name: igakuqa, jjsimqa, jmmlu_medical, mmlu_medical_jp, ...")
    data: str = Field(description="Local file/folder in the benchmark's format, or an HF dataset id.")
    name: str | None = Field(
        default=None, description="Name in the report (default: task, plus '@likelihood' for that mode)."
    )
    mode: Mode = Field(
        default="generative", description="generative: chat + answer extraction; likelihood: option NLL."
    )
    prompt: str | None = Field(
        default=None, description="Prompt style (exam, cot; likelihood: minimal, standard, instructed)."
    )
    user_template: str | None = Field(
        default=None, description="Custom user template ({question} {choices} {labels} {n})."
    )
    system: str | None = Field(default=None, description="Override the task's system line ('' for none).")
    limit: int | None = Field(default=None, ge=1, description="Only the first N items (smoke runs).")
    text_only: bool = Field(default=False, description="Only items that need no figure.")
    sampling: SamplingConfig | None = Field(
        default=None, description="Overrides of the suite's sampling for this task."
    )

    @property
    def run_name(self) -> str:
        if self.name:
            return self.name
        return self.task if self.mode == "generative" else f"{self.task}@likelihood"


class BackendConfig(StrictModel):
    """Where answers come from."""

    kind: Literal["server", "vllm", "transformers"] = Field(
        default="server",
        description="server: OpenAI-compatible vLLM servers (one or more); vllm / transformers: a local model "
        "folder run in process by the inference layer's offline backends (no server).",
    )
    base_urls: list[str] = Field(default_factory=list, description="Server URLs (data-parallel replicas).")
    concurrency: int = Field(
        default=64,
        ge=1,
        description="Requests in flight across all servers; higher: more throughput, more KV memory.",
    )
    timeout: float = Field(
        default=1800, gt=0, description="Seconds per request (long reasoning needs long timeouts)."
    )
    max_retries: int = Field(default=5, ge=0)
    device: str | None = Field(
        default=None, description="transformers backend: cpu or cuda (default: cuda if present)."
    )
    engine_args: dict[str, Any] | None = Field(
        default=None,
        description="vllm backend: arguments for vllm.LLM (e.g. {max_model_len: 8192, tensor_parallel_size: 8}).",
    )


class Suite(StrictModel):
    """An eval suite: model, backend, sampling, repeats and the task runs."""

    name: str = Field(default="eval", description="Suite name (report title).")
    model: str | None = Field(
        default=None, description="Served model name or model folder; --model overrides."
    )
    backend: BackendConfig = Field(default_factory=lambda: BackendConfig())
    sampling: SamplingConfig = Field(default_factory=lambda: SamplingConfig())
    repeats: int = Field(
        default=1, ge=1, description="Samples per item (seeds seed..seed+repeats-1); more: tighter mean."
    )
    seed: int = Field(default=0, description="Base seed for sampling and the bootstrap.")
    bootstrap: int = Field(default=1000, ge=0, description="Bootstrap resamples for 95% CIs (0: none).")
    cache_dir: str | None = Field(
        default=None, description="Response cache (default: OUT/cache); shared caches skip answered requests."
    )
    tasks: list[TaskRun] = Field(min_length=1)

    _base_dir: Path | None = PrivateAttr(default=None)

    @field_validator("tasks")
    @classmethod
    def _unique_names(cls, tasks: list[TaskRun]) -> list[TaskRun]:
        seen: set[str] = set()
        for t in tasks:
            if t.run_name in seen:
                raise ValueError(f"two task runs are named '{t.run_name}'; give one a 'name:'")
            seen.add(t.run_name)
        return tasks

    def data_path(self, run: TaskRun) -> str:
        """``run.data`` with ``${VAR}`` expanded and relative paths resolved against the suite file."""
        from medswallow.bench.io import is_hf_id

        raw = re.sub(  # ${VAR:-default}: the default when VAR is unset or empty
            r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1)) or m.group(2), run.data
        )
        missing = [v for v in re.findall(r"\$\{(\w+)\}", raw) if v not in os.environ]
        if missing:
            raise UserError(
                f"task '{run.run_name}': data path {raw!r} uses ${{{missing[0]}}}, which is not set; "
                f"export {missing[0]}=/path/to/benchmarks or pass --set tasks.N.data=PATH"
            )
        expanded = os.path.expandvars(raw)
        if is_hf_id(expanded) or Path(expanded).is_absolute() or self._base_dir is None:
            return expanded
        local = self._base_dir / expanded
        return str(local.resolve()) if local.exists() else expanded
