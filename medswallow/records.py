"""The record types that flow between stages; they are the contract between modules.

A stage takes records and returns records, plus a reason for every record it drops. Records are plain
dataclasses so they pickle cheaply across worker processes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    """One text document of the corpus job.

    ``id`` is unique within the build (sources prefix their own ids with the source name).
    ``meta`` carries source-specific fields (PMID, publication types, file path, line number...).
    """

    id: str
    text: str
    source: str
    lang: str = "und"
    meta: dict[str, Any] = field(default_factory=dict)
    n_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Rejected:
    """A record a stage dropped or quarantined, with the reason as data.

    ``kind`` is ``"dropped"`` (a filter said no: duplicate, low quality, contaminated...) or
    ``"quarantined"`` (the record is malformed: bad JSON, undecodable bytes, missing field...).
    ``text`` must already be PII-redacted (or empty) before it is written anywhere.
    """

    id: str
    source: str
    stage: str
    reason: str
    kind: str = "dropped"
    text: str = ""
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Span:
    """A labelled character span in a text: Python str offsets, ``end`` exclusive.

    ``lang`` is the span's own language where a document mixes languages ("" when not known).
    """

    start: int
    end: int
    label: str
    score: float = 1.0
    lang: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label, "score": round(self.score, 4)}
        if self.lang:
            out["lang"] = self.lang
        return out


@dataclass(slots=True)
class Sample:
    """One benchmark item, as every task loader produces it (the eval job's record).

    ``labels`` are the choice labels shown to the model (``a``-``e``, ``A``-``D`` or ``1``-``5``) and
    ``gold`` the labels of the correct choices; numeric-entry items have no choices and a free-text gold
    (``["26"]``). ``accepted`` lists further answer sets that also count (IgakuQA 112B30 accepts a or d).
    ``voided`` items (points "0", 解なし) have no scorable answer and are left out of accuracy.
    ``where`` says where the item came from (``file:line`` or ``hf-id[split] row n``) for messages.
    """

    id: str
    task: str
    question: str
    choices: list[str]
    labels: list[str]
    gold: list[str]
    accepted: list[list[str]] = field(default_factory=list)
    always_correct: bool = False
    voided: bool = False
    text_only: bool = True
    points: float = 1.0
    category: str = ""
    where: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
