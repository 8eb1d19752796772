"""Scoring on hand-checked items: set match and its exceptions, repeats, bootstrap CIs, likelihood choice."""

from __future__ import annotations

import pytest

from medswallow.bench.likelihood import OptionScores, choose, scores_from_completions
from medswallow.bench.scoring import bootstrap_ci, paired_bootstrap_diff, summarise
from medswallow.bench.task import set_match
from medswallow.inference import CompletionResult, TokenLogprob
from medswallow.records import Sample


def sample(gold, labels=tuple("abcde"), **kw):
    choices = [f"choice {x}" for x in labels]
    return Sample(
        id=kw.pop("id", "x"),
        task="t",
        question="q",
        choices=choices,
        labels=list(labels),
        gold=list(gold),
        **kw,
    )


SET_MATCH = [
    (sample(["b"]), ["b"], True),
    (sample(["b"]), ["c"], False),
    (sample(["a", "e"]), ["e", "a"], True),  # order does not matter
    (sample(["a", "e"]), ["a"], False),  # a partial set is wrong
    (sample(["a", "e"]), ["a", "c", "e"], False),  # so is a superset
    (sample(["b"]), None, False),  # no answer read
    (sample(["a"], accepted=[["a"], ["d"]]), ["d"], True),  # 112B30 accepts a or d
    (sample(["a"], accepted=[["a"], ["d"]]), ["a", "d"], False),
    (sample(["e"], always_correct=True), None, True),  # 116A71 counts for everyone
    (sample(["b"], voided=True), ["b"], False),  # voided items have no right answer
    (sample(["26"], labels=()), ["26"], True),  # numeric entry
    (sample(["26"], labels=()), ["25"], False),
]


@pytest.mark.parametrize(("s", "answer", "expected"), SET_MATCH)
def test_set_match(s, answer, expected):
    assert set_match(s, answer) is expected


def test_bootstrap_is_seeded_and_sane():
    values = [1.0] * 7 + [0.0] * 3
    a = bootstrap_ci(values, n_boot=500, seed=1)
    assert a == bootstrap_ci(values, n_boot=500, seed=1)
    assert a[0] < 0.7 < a[1]
    assert 0.3 < a[0] and a[1] <= 1.0
    assert bootstrap_ci([1.0, 1.0, 1.0], n_boot=100) == (1.0, 1.0)
    d, lo, hi = paired_bootstrap_diff([0, 0, 1, 1], [1, 1, 1, 1], n_boot=200)
    assert d == 0.5 and lo <= 0.5 <= hi


def rec(i, repeat, correct, **kw):
    return {
        "id": i,
        "repeat": repeat,
        "correct": correct,
        "extracted_answer": ["a"] if correct else None,
        **kw,
    }


def test_summary_over_repeats_by_hand():
    # item x right in both repeats, y right in repeat 0 only, z never: per-item means 1, .5, 0
    records = [
        rec("x", 0, True),
        rec("x", 1, True),
        rec("y", 0, True),
        rec("y", 1, False),
        rec("z", 0, False),
        rec("z", 1, False, truncated=True),
    ]
    s = summarise(records, n_boot=200, seed=0)
    assert s["n"] == 3 and s["repeats"] == 2
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["accuracy_per_repeat"] == pytest.approx([2 / 3, 1 / 3])
    assert s["accuracy_std"] == pytest.approx(((1 / 6) ** 2 * 2) ** 0.5)
    assert s["truncation_rate"] == pytest.approx(1 / 6)
    assert s["no_answer_rate"] == pytest.approx(3 / 6)
    assert s["ci95"][0] <= 0.5 <= s["ci95"][1]


def test_points_text_only_categories_and_contraindicated():
    records = [
        rec("a", 0, True, points=3.0, category="循環器", text_only=True),
        rec(
            "b",
            0,
            False,
            points=1.0,
            category="循環器",
            text_only=False,
            contraindicated=["c"],
            extracted_answer=["c"],
        ),
        rec("c", 0, True, points=1.0, category="腎臓", text_only=True, contraindicated=["e"]),
    ]
    s = summarise(records, n_boot=50)
    assert s["points"] == {"score": 4.0, "total": 5.0}
    assert s["text_only"] == {"n": 2, "accuracy": 1.0}
    assert s["by_category"]["循環器"]["accuracy"] == 0.5 and s["by_category"]["腎臓"]["n"] == 1
    assert s["contraindicated_choice_rate"] == 0.5 and s["contraindicated_items"] == 2


def lp(x):
    return TokenLogprob(token="t", logprob=x)


def test_likelihood_scores_from_prompt_logprobs():
    # context has 3 prompt tokens; options add 2 and 1 tokens
    ctx = CompletionResult(prompt_logprobs=[None, lp(-1.0), lp(-1.0)])
    opt_a = CompletionResult(
        prompt_logprobs=[None, lp(-1.0), lp(-1.0), lp(-2.0), lp(-2.0)]
    )  # nll 4 over 2 tokens
    opt_b = CompletionResult(prompt_logprobs=[None, lp(-1.0), lp(-1.0), lp(-3.0)])  # nll 3 over 1 token
    sc = scores_from_completions([ctx, opt_a, opt_b])
    assert sc.nll == [4.0, 3.0] and sc.n_tokens == [2, 1]
    s = sample(["a"], labels=("a", "b"))
    assert choose(s, sc, normalised=False) == ["b"]  # 3 < 4
    assert choose(s, sc, normalised=True) == ["a"]  # 2 per token < 3 per token


def test_likelihood_picks_k_best_for_multi_answer_items_and_fails_cleanly():
    sc = OptionScores(nll=[5.0, 1.0, 9.0, 2.0, 7.0], n_tokens=[1, 1, 1, 1, 1])
    assert choose(sample(["b", "d"]), sc, normalised=False) == ["b", "d"]
    failed = scores_from_completions(
        [CompletionResult(error="http 500"), CompletionResult(), CompletionResult()]
    )
    assert failed.error == "http 500" and choose(sample(["a"]), failed, normalised=False) is None
