"""YakugakuQA: Japanese national pharmacist exams 097-109 (EQUES-Inc/pharma-LLM-eval; HF EQUES/YakugakuQA).

Format: ``data/<year>/<exam>.jsonl`` with ``metadata_<exam>.jsonl`` (a category per item) beside it; the
per-block copies ``<exam>-A.jsonl``... hold the same items and are read only when no whole-exam file is
there. Answers are 1-BASED digit strings (``["1", "2"]``); ``["解なし"]`` marks a voided item. ``comment``
is the official explanation and is never shown to the model. 4,485 items over 13 exams.
"""

from __future__ import annotations

import re
from pathlib import Path

from medswallow.bench.io import files_matching, iter_hf, iter_jsonl, source
from medswallow.bench.task import Loaded, Task
from medswallow.bench.tasks._exam import exam_row_to_sample

NAME = "yakugakuqa"


def _exam_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(item files, metadata files): whole-exam files preferred over the per-block copies."""
    if root.is_file():
        beside = root.parent / f"metadata_{root.stem}.jsonl"
        return [root], [beside] if beside.is_file() else []
    files = [p for p in root.rglob("*.jsonl") if p.is_file()]
    whole = sorted(p for p in files if re.fullmatch(r"\d{3}\.jsonl", p.name))
    blocks = sorted(p for p in files if re.fullmatch(r"\d{3}-[A-Z]\.jsonl", p.name))
    meta = sorted(p for p in files if re.fullmatch(r"metadata_\d{3}\.jsonl", p.name))
    items = whole or blocks or files_matching(root, r"(?!.*metadata).*\.jsonl", NAME, "data/2024/109.jsonl")
    return items, meta


def _categories(meta_files: list[Path]) -> dict[str, str]:
    cats: dict[str, str] = {}
    for f in meta_files:
        for _, row in iter_jsonl(f):
            if "problem_id" in row:
                cats[str(row["problem_id"]).strip()] = str(row.get("category") or "")
    return cats


def load(path_or_id: str) -> Loaded:
    cats: dict[str, str] = {}
    src = source(path_or_id, NAME)
    if isinstance(src, str):
        rows = list(iter_hf(src))
    else:
        items, meta = _exam_files(src)
        rows = [r for f in items for r in iter_jsonl(f)]
        cats = _categories(meta)
    out = Loaded([])
    seen: set[str] = set()
    for where, row in rows:
        s = exam_row_to_sample(where, row, NAME, digits=True)
        if s.id in seen:  # the same item from a block file and a whole-exam file
            continue
        seen.add(s.id)
        s.category = cats.get(s.id) or str(row.get("category") or "")
        s.meta["exam"] = s.id[:3]
        out.samples.append(s)
    return out


TASK = Task(
    name=NAME,
    title="YakugakuQA",
    load=load,
    prompt="exam",
    system="薬剤師国家試験を解きます。",
    published=0.6031,
    hf_id="EQUES/YakugakuQA",
    license="CC-BY-4.0 (HF card)",
)
