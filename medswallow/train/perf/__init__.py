"""Training-throughput levers for gpt-oss: flex attention with sinks, grouped-GEMM experts with fused LoRA,
chunked cross-entropy, selective activation checkpointing, compiled decoder layers, padding-free batches.

A recipe embeds :class:`PerfConfig` as ``performance:``; the training code calls
``apply_perf(model, recipe.performance)`` and merges ``trainer_arguments(recipe.performance)`` into its
trainer config. Each lever is switchable and checked for equal loss and gradients against the plain path.
"""

from medswallow.train.perf.apply import apply_perf, describe, trainer_arguments
from medswallow.train.perf.config import PerfConfig

__all__ = ["PerfConfig", "apply_perf", "describe", "trainer_arguments"]
