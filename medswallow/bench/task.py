"""What a benchmark is: a loader, a prompt and a scorer, composed (never subclassed).

A task file builds one ``Task`` from plain functions: ``load`` maps the benchmark's own files (or an HF
dataset) to ``Sample`` records, ``prompt`` names the prompt style the model card's harness used, and
``score`` decides whether an extracted answer is right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from medswallow.records import Sample


@dataclass
class Loaded:
    """What a loader returns: the items to score and the items it left out on purpose, with why."""

    samples: list[Sample]
    excluded: list[tuple[Sample, str]] = field(default_factory=list)


def set_match(sample: Sample, answer: list[str] | None) -> bool:
    """The robust scorer: exact match of the answer SET (order and duplicates ignored); extra accepted sets
    also count. "Any N of these" items accept only the N-sets; numeric entries compare values (the answer
    boxes of 116F74 make its gold ``04`` the value 0.4)."""
    if sample.always_correct:
        return True
    if answer is None or sample.voided:
        return False
    if not sample.labels:  # numeric entry: "26" == "26.0" == "２６"
        from medswallow.bench.extract import canonical_number

        gold = sample.meta.get("numeric_gold")
        if gold is None and len(sample.gold) == 1:
            try:
                gold = canonical_number(sample.gold[0])
            except ValueError:
                return False
        return answer == [gold]
    got = set(answer)
    if "any_n" not in sample.meta and got == set(sample.gold):
        return True
    return any(got == set(alt) for alt in sample.accepted)


# ---- the official modes: each benchmark's own evaluator, applied to one item ----------------------------
# Answer reading is the published code's (transcribed in medswallow.bench.official); the match below works
# on the Sample and the answer as published (``meta["published_answer"]``), and is checked item for item
# against the transcribed evaluators over every real item (tests/bench/test_official.py).

OfficialScorer = Callable[[Sample, str], tuple[str, bool]]


def _published(sample: Sample) -> list[str]:
    raw = sample.meta.get("published_answer", sample.gold)
    return [str(x) for x in raw] if isinstance(raw, list) else [str(raw)]


def official_igakuqa(sample: Sample, text: str) -> tuple[str, bool]:
    """jungokasai/IgakuQA: the whole reply, half-width and lower-cased, split on ","; 116A71 right for all;
    112B30 takes a or d."""
    from medswallow.bench.official import igakuqa_prediction

    pred = igakuqa_prediction(text)
    got = sorted(pred.split(","))
    if sample.always_correct:
        return pred, True
    if sample.accepted and "any_n" not in sample.meta and got in [sorted(a) for a in sample.accepted]:
        return pred, True
    return pred, got == sorted(_published(sample))


def official_aistairc(sample: Sample, text: str) -> tuple[str, bool]:
    """aistairc/medLLM_QA_benchmark: the first character of the first non-empty line, NFKC, split on
    ``,、，``, compared with the answer list as published (107_888-26's ``["d", ",", "e"]`` included)."""
    import unicodedata

    from medswallow.bench.official import aistairc_prediction

    pred = aistairc_prediction(text)
    norm = unicodedata.normalize("NFKC", pred).replace("、", ",").replace("，", ",")
    got = sorted(p.strip() for p in norm.split(","))
    if sample.always_correct:
        return pred, True
    if sample.accepted and "any_n" not in sample.meta and got in [sorted(a) for a in sample.accepted]:
        return pred, True
    return pred, got == sorted(_published(sample))


def official_pharma(sample: Sample, text: str) -> tuple[str, bool]:
    """EQUES-Inc/pharma-LLM-eval: the open-model post-processing (first line, before ":", 1 or 3 characters),
    split on "," and stripped, compared with the answer list as published (解なし items never match)."""
    from medswallow.bench.official import pharma_prediction

    pred = pharma_prediction(text)
    got = sorted(x.strip() for x in pred.split(","))
    return pred, got == sorted(_published(sample))


@dataclass(frozen=True)
class Task:
    """One benchmark: name, loader, prompt style, scorer and the published score to compare with."""

    name: str
    title: str
    load: Callable[[str], Loaded]
    prompt: str = "exam"  # a style in medswallow.bench.prompts.STYLES
    system: str = ""  # the system line of the exam-style prompts
    score: Callable[[Sample, list[str] | None], bool] = set_match
    published: float | None = None
    hf_id: str = ""  # where the data lives on the Hub (the user passes it; nothing ships)
    license: str = ""
    points_score: bool = False  # the exam's own points score is reported beside accuracy
    official: OfficialScorer | None = (
        None  # the benchmark's own evaluator for generated answers, if it has one
    )
    official_source: str = ""  # where that evaluator is published (repository and script)
