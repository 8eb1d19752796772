"""Japanese medical benchmark runs: task loaders, prompts, answer extraction, scoring, runner, report.

Importing this package is light (standard library only); HF ``datasets``, the inference client and
matplotlib are imported by the functions that use them.
"""

from __future__ import annotations

from medswallow.bench.registry import TASKS, get_task, iter_benchmark_texts, load_task

__all__ = ["TASKS", "get_task", "iter_benchmark_texts", "load_task"]
