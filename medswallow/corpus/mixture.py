"""Mixture sampling: each source up- or down-sampled to its token target with a fixed seed.

A source's target is its ``budget_tokens``, else its ``weight`` share of ``mixture.total_tokens``, else all of
it once. ``epochs = target / available``: every document is repeated ``floor(epochs)`` times and the
remainder is filled with documents taken in a seeded order (a hash of seed and id, so the choice does not
depend on file order or worker count) until the remainder's tokens are reached (within one document).
Upsampling stops at the source's ``max_epochs``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(slots=True)
class SourceTarget:
    available_tokens: int
    target_tokens: int
    requested_tokens: int | None  # what the recipe asked for (None: all once)
    capped_by_max_epochs: bool

    @property
    def epochs(self) -> float:
        return self.target_tokens / self.available_tokens if self.available_tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"epochs": round(self.epochs, 4)}


def source_targets(recipe: Any, available: dict[str, int]) -> dict[str, SourceTarget]:
    """Token target of every source, from its budget, weight or size."""
    weights = {s.name: s.weight for s in recipe.sources if s.budget_tokens is None and s.weight is not None}
    total_weight = sum(weights.values())
    out = {}
    for s in recipe.sources:
        have = int(available.get(s.name, 0))
        if s.budget_tokens is not None:
            requested: int | None = s.budget_tokens
        elif s.name in weights:
            requested = int(round(recipe.mixture.total_tokens * weights[s.name] / total_weight))
        else:
            requested = None
        target = have if requested is None else requested
        cap = int(math.floor(s.max_epochs * have))
        out[s.name] = SourceTarget(have, min(target, cap), requested, target > cap)
    return out


def sample_copies(order_keys: np.ndarray, tokens: np.ndarray, target: int) -> np.ndarray:
    """How many times each document goes into the mixture so that its tokens reach ``target``."""
    copies = np.zeros(len(tokens), dtype=np.int64)
    available = int(tokens.sum())
    if available <= 0 or target <= 0:
        return copies
    full, rest = divmod(int(target), available)
    copies[:] = full
    if rest:
        order = np.lexsort((np.arange(len(order_keys)), order_keys))
        reached = np.cumsum(tokens[order])
        take = min(int(np.searchsorted(reached, rest, side="left")) + 1, len(order))
        copies[order[:take]] += 1
    return copies
