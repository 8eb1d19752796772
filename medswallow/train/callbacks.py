"""Trainer callbacks every recipe uses: a rich progress bar, throughput and peak memory, a graceful stop.

They are plain ``transformers.TrainerCallback`` objects, so TRL's trainers (SFT, DPO, GRPO) take them as is.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from medswallow.console import console, progress


def peak_memory_gib() -> float:
    """Peak memory of this process: allocated GPU memory on CUDA, resident set size on CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**30 if sys.platform == "darwin" else rss / 2**20


class Throughput(TrainerCallback):
    """Training tokens per second (all processes) and peak memory, in the logs and in ``throughput.json``.

    Tokens are TRL's ``num_tokens`` (every token that went through the model, summed over processes), read at
    each log; time is the wall time inside optimizer steps. The first ``skip_steps`` steps of a run
    (compilation, allocator warm-up) are left out of the rate.
    """

    def __init__(self, out_dir: Path, skip_steps: int = 1) -> None:
        self.out_dir = Path(out_dir)
        self.skip_steps = skip_steps
        self.first = skip_steps  # the rate counts from the first log at or after this global step
        self.step_started = 0.0
        self.step_seconds: dict[int, float] = {}
        self.tokens_at: dict[int, float] = {}
        self.curve: list[dict[str, float]] = []  # loss and gradient norm per logged step (curve comparisons)

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        # A resumed run starts at the checkpoint's global step.
        self.first = state.global_step + self.skip_steps

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.step_started = time.perf_counter()

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.step_seconds[state.global_step] = time.perf_counter() - self.step_started

    def rate(self) -> tuple[int, float, int]:
        """(tokens, seconds, steps) between the first log at or after the warm-up and the last log."""
        logged = sorted(s for s in self.tokens_at if s >= self.first)
        if len(logged) < 2:
            return 0, 0.0, 0
        a, b = logged[0], logged[-1]
        seconds = sum(self.step_seconds.get(s, 0.0) for s in range(a + 1, b + 1))
        return int(self.tokens_at[b] - self.tokens_at[a]), seconds, b - a

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Any = None,
        **kw: Any,
    ) -> None:
        if logs and "loss" in logs:
            self.curve.append(
                {"step": state.global_step, **{k: float(logs[k]) for k in ("loss", "grad_norm") if k in logs}}
            )
        if not logs or "num_tokens" not in logs:
            return
        self.tokens_at[state.global_step] = float(logs["num_tokens"])
        tokens, seconds, _ = self.rate()
        if seconds > 0:
            logs["tokens_per_second"] = round(tokens / seconds, 1)
        logs["peak_memory_gib"] = round(peak_memory_gib(), 3)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        import torch

        tokens, seconds, steps = self.rate()
        timed = [v for k, v in self.step_seconds.items() if k > self.first]  # the steps after the warm-up
        summary = {
            "steps_measured": steps,
            "skipped_steps": self.skip_steps,
            "tokens": tokens,
            "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / seconds, 1) if seconds else None,
            # Trainers that log no token count (DPO, GRPO) still get a step time to turn into a rate.
            "seconds_per_step": round(sum(timed) / len(timed), 3) if timed else None,
            # The first step of a run carries compilation and allocator warm-up: reported apart.
            "first_step_seconds": round(self.step_seconds[min(self.step_seconds)], 3) if self.step_seconds else None,
            "peak_memory_gib": round(peak_memory_gib(), 3),
            # Every step's wall time: a stall (a recompilation, a checkpoint) shows as one long step.
            "step_seconds": {str(k): round(v, 3) for k, v in sorted(self.step_seconds.items())},
            "world_size": args.world_size,
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "curve": self.curve,
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "throughput.json").write_text(json.dumps(summary, indent=2) + "\n")


class RichProgress(TrainerCallback):
    """One rich progress bar (steps, elapsed, ETA) and a short line per log, on the main process only."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if not state.is_world_process_zero:
            return
        self.bar = progress()
        self.bar.start()
        self.task = self.bar.add_task("training", total=state.max_steps, completed=state.global_step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Any = None,
        **kw: Any,
    ) -> None:
        if self.bar is None or not logs:
            return
        keys = ("loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second", "peak_memory_gib")
        shown = "  ".join(f"{k}={_fmt(logs[k])}" for k in keys if k in logs)
        if shown:
            self.bar.console.print(f"step {state.global_step}: {shown}", highlight=False)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class StopAfter(TrainerCallback):
    """Checkpoint and stop after N steps or M minutes of this run, so a later run resumes where it stopped."""

    def __init__(self, steps: int | None = None, minutes: float | None = None) -> None:
        self.steps = steps
        self.minutes = minutes
        self.started = time.monotonic()
        self.start_step = 0
        self.stopped = False

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        self.started = time.monotonic()
        self.start_step = state.global_step

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        done_steps = self.steps is not None and state.global_step - self.start_step >= self.steps
        done_time = self.minutes is not None and (time.monotonic() - self.started) / 60 >= self.minutes
        if (done_steps or done_time) and state.global_step < state.max_steps:
            control.should_save = True
            control.should_training_stop = True
            self.stopped = True
            if state.is_world_process_zero:
                console.print(f"[yellow]stopping at step {state.global_step}[/yellow]: a checkpoint is saved")
