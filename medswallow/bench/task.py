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
    """Exact match of the answer SET (order and duplicates ignored); extra accepted sets also count."""
    if sample.always_correct:
        return True
    if answer is None or sample.voided:
        return False
    if not sample.choices:  # numeric entry: "26" == "26.0" == "２６"
        from medswallow.bench.extract import extract_number

        gold = [g for x in sample.gold for g in (extract_number(x) or [x])]
        return sorted(answer) == sorted(gold)
    got = set(answer)
    return got == set(sample.gold) or any(got == set(alt) for alt in sample.accepted)


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
