from __future__ import annotations

import numpy as np
import pytest

from medswallow.corpus.mixture import sample_copies, source_targets
from medswallow.corpus.recipe import Recipe


def recipe(**sources):
    return Recipe.model_validate(
        {"mixture": {"total_tokens": 3000}, "sources": [{"name": n, "type": "jsonl", "paths": ["x"], **kw} for n, kw in sources.items()]}
    )


def test_targets_from_budget_weight_and_cap():
    r = recipe(a={"budget_tokens": 500}, b={"weight": 2.0}, c={"weight": 1.0, "max_epochs": 1.5}, d={})
    t = source_targets(r, {"a": 1000, "b": 1000, "c": 400, "d": 70})
    assert (t["a"].target_tokens, t["a"].epochs) == (500, 0.5)
    assert t["b"].target_tokens == 2000 and t["b"].epochs == 2.0
    assert t["c"].requested_tokens == 1000 and t["c"].target_tokens == 600 and t["c"].capped_by_max_epochs
    assert t["d"].target_tokens == 70 and t["d"].requested_tokens is None


@pytest.mark.parametrize("target", [0, 1, 450, 1000, 1001, 2500, 3000])
def test_sample_copies_reaches_target_within_one_document(target):
    rng = np.random.default_rng(3)
    tokens = rng.integers(5, 60, size=40)
    tokens = (tokens * 1000 / tokens.sum()).astype(np.int64)
    tokens[0] += 1000 - tokens.sum()
    keys = rng.integers(0, 2**63, size=40, dtype=np.uint64)
    copies = sample_copies(keys, tokens, target)
    got = int((copies * tokens).sum())
    assert target <= got < target + tokens.max() or target == 0 and got == 0
    assert copies.max() - copies.min() <= 1  # every document repeats floor(epochs) or one more times
    assert (sample_copies(keys, tokens, target) == copies).all()  # deterministic


def test_weights_need_a_total():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="mixture.total_tokens"):
        Recipe.model_validate({"sources": [{"name": "a", "type": "jsonl", "paths": ["x"], "weight": 1}]})
