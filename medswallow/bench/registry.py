"""The explicit, lazy registry of benchmark tasks: names map to modules, imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from medswallow.bench.task import Loaded, Task
from medswallow.errors import UserError, did_you_mean

# name -> module defining TASK. Adding a benchmark: one small file in tasks/ and one line here.
TASKS: dict[str, str] = {
    "igakuqa": "medswallow.bench.tasks.igakuqa",
    "jjsimqa": "medswallow.bench.tasks.jjsimqa",
    "jmmlu_medical": "medswallow.bench.tasks.jmmlu_medical",
    "mmlu_medical_jp": "medswallow.bench.tasks.mmlu_medical_jp",
    "medmcqa_jp": "medswallow.bench.tasks.medmcqa_jp",
    "medqa_jp": "medswallow.bench.tasks.medqa_jp",
    "jusmleqa_jp": "medswallow.bench.tasks.jusmleqa_jp",
    "yakugakuqa": "medswallow.bench.tasks.yakugakuqa",
}


def get_task(name: str) -> Task:
    key = name.strip().lower()
    if key not in TASKS:
        raise UserError(f"unknown benchmark task '{name}'{did_you_mean(key, list(TASKS))}")
    task: Task = importlib.import_module(TASKS[key]).TASK
    return task


def load_task(name: str, path_or_hf_id: str) -> Loaded:
    """Load a benchmark from a local path or an HF dataset id (items plus what was left out, and why)."""
    return get_task(name).load(str(path_or_hf_id))


def iter_benchmark_texts(task_name: str, path_or_hf_id: str) -> Iterator[tuple[str, str]]:
    """``(item_id, question + "\\n" + choices joined by "\\n")`` for every item (decontamination input).

    Items left out of scoring (voided, or excluded as errata) are included: their text is still the
    benchmark's and must not leak into training data.
    """
    loaded = load_task(task_name, path_or_hf_id)
    for s in loaded.samples + [x for x, _ in loaded.excluded]:
        yield s.id, "\n".join([s.question, *s.choices])
