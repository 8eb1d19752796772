"""Row mapping shared by the exam-style JSONL benchmarks (IgakuQA, JJSIMQA, YakugakuQA).

All three publish ``{problem_id, problem_text, choices, answer, points, text_only?}`` per line; they differ
in answer labels (letters vs 1-based digits) and errata, which their task files pass in.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from medswallow.bench.io import bad_row, require_fields
from medswallow.records import Sample

EXAM_FIELDS = ("problem_id", "problem_text", "choices", "answer")
VOID_MARKERS = {"解なし", "なし", "該当なし"}
_N_SELECT = re.compile(r"(\d)\s*つ選べ")


def letter_labels(n: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(n)]


def digit_labels(n: int) -> list[str]:
    return [str(i + 1) for i in range(n)]


def normalise_answer(raw: Any) -> list[str]:
    """Gold answers as clean labels: NFKC (full-width -> ASCII), lower-case, separators dropped.

    ``["d", ",", "e"]`` (a JJSIMQA erratum) and ``["d,e"]`` both become ``["d", "e"]``.
    """
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        text = unicodedata.normalize("NFKC", str(item)).strip().lower()
        for part in re.split(r"[,、，\s]+", text):
            if part and part not in out:
                out.append(part)
    return out


def points_of(raw: Any) -> float:
    try:
        return float(str(raw).strip())
    except ValueError:
        return 1.0


def n_select(question: str) -> int | None:
    """The count the stem asks for ("2つ選べ", full-width "２つ選べ"), if it says one."""
    m = _N_SELECT.search(unicodedata.normalize("NFKC", question))
    return int(m.group(1)) if m else None


def exam_row_to_sample(where: str, row: dict[str, Any], task: str, *, digits: bool = False) -> Sample:
    """Map one exam-format row to a Sample. ``digits``: answers are 1-based digit strings (YakugakuQA)."""
    require_fields(where, row, EXAM_FIELDS, f"{task} JSONL ({', '.join(EXAM_FIELDS)})")
    choices = row["choices"]
    if choices is None:
        choices = []
    if not isinstance(choices, list):
        raise bad_row(where, f"'choices' must be a list, got {type(choices).__name__}")
    choices = [str(c).strip() for c in choices]
    labels = (digit_labels if digits else letter_labels)(len(choices))
    gold = normalise_answer(row["answer"])
    voided = any(g in VOID_MARKERS for g in gold) or points_of(row.get("points", 1)) == 0
    raw_answer = row["answer"]
    # How many answers the file lists, as published (107_888-26's ["d", ",", "e"] counts 3 here).
    meta: dict[str, Any] = {"published_answers": len(raw_answer) if isinstance(raw_answer, list) else 1}
    if choices and not voided:
        outside = [g for g in gold if g not in labels]
        if outside:
            # Kept (an outside count must still match) but flagged: it can never be answered right.
            meta["warning"] = f"gold {outside} is not among the labels {labels[0]}-{labels[-1]}"
    if not gold:
        meta["warning"] = "empty answer"
    asked = n_select(str(row["problem_text"]))
    if asked is not None:
        meta["n_select"] = asked
    text_only = row.get("text_only", True)
    return Sample(
        id=str(row["problem_id"]).strip(),
        task=task,
        question=str(row["problem_text"]).strip(),
        choices=choices,
        labels=labels,
        gold=gold,
        voided=voided,
        text_only=bool(text_only) if text_only is not None else True,
        points=points_of(row.get("points", 1)),
        where=where,
        meta=meta,
    )
