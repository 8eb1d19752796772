"""The span a recognizer proposes before overlaps are resolved: shared by the engine and the NER modules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Candidate:
    """A span proposed by one recognizer, before overlaps are resolved."""

    start: int
    end: int
    label: str
    score: float
    source: str
