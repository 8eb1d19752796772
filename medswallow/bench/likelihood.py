"""Option-likelihood scoring (JMedBench style): the NLL of each option's text after the question.

One ``/completions`` request per option with ``prompt_logprobs`` (a vLLM server, or the inference layer's
offline vLLM / transformers backends, which answer in the same shape), plus one for the context alone,
whose token count marks where the option's tokens start (the model's own tokenizer decides, so this works
for any model).
The chosen answer is the option with the lowest NLL (``nll``) or lowest NLL per token (``norm``); items
with k gold answers take the k best options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medswallow.records import Sample


@dataclass
class OptionScores:
    """Per-option total NLL and token count for one item (``None`` where the request failed)."""

    nll: list[float | None]
    n_tokens: list[int | None]
    error: str | None = None

    def ranked(self, normalised: bool) -> list[int]:
        def key(i: int) -> float:
            nll, n = self.nll[i], self.n_tokens[i]
            if nll is None or not n:
                return float("inf")
            return nll / n if normalised else nll

        return sorted(range(len(self.nll)), key=key)


def likelihood_prompts(context: str, sample: Sample) -> list[str]:
    """The context alone, then context + each option text."""
    return [context] + [context + choice for choice in sample.choices]


def scores_from_completions(results: list[Any]) -> OptionScores:
    """OptionScores from the completion results of ``likelihood_prompts`` (first = context alone)."""
    ctx, options = results[0], results[1:]
    failed = next((r.error for r in results if getattr(r, "error", None)), None)
    if failed or not ctx.prompt_logprobs:
        return OptionScores(
            [None] * len(options), [None] * len(options), error=failed or "no prompt logprobs"
        )
    n_ctx = len(ctx.prompt_logprobs)
    nll: list[float | None] = []
    n_tok: list[int | None] = []
    for r in options:
        lp = r.prompt_logprobs or []
        n = len(lp) - n_ctx
        if n <= 0:
            nll.append(None)
            n_tok.append(None)
            continue
        nll.append(-sum(t.logprob for t in lp[-n:] if t is not None))
        n_tok.append(n)
    return OptionScores(nll, n_tok)


def choose(sample: Sample, scores: OptionScores, normalised: bool) -> list[str] | None:
    """The labels of the k best options (k = number of gold answers), or None when nothing was scored."""
    if scores.error or all(x is None for x in scores.nll):
        return None
    k = max(1, len(sample.gold))
    order = {lab: i for i, lab in enumerate(sample.labels)}
    best = [sample.labels[i] for i in scores.ranked(normalised)[:k]]
    return sorted(best, key=order.__getitem__)
