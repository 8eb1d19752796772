"""YakugakuQA: Japanese national pharmacist exams 097-109 (EQUES-Inc/pharma-LLM-eval; HF EQUES/YakugakuQA).

Format: ``data/<year>/<exam>.jsonl`` with ``metadata_<exam>.jsonl`` (a category per item) beside it; the
per-block copies ``<exam>-A.jsonl``... hold the same items and are read only when no whole-exam file is
there. Answers are 1-BASED digit strings (``["1", "2"]``); ``["解なし"]`` marks a voided item. ``comment``
is the official explanation and is never shown to the model. 4,485 items over 13 exams (345 each).

Read from the data: 396 figure items whose choices are a figure (``"choices": "IMAGES"``) are kept as the
figure subset (answerable by label, reported apart like IgakuQA's figure items); 解なし in any written
variant voids an item; "any N of these" rules (in the answer text or the metadata ``note``, e.g. 109305)
accept any N of the listed answers; items repeating an earlier stem and choices (109030 = 109003,
109040 = 109004) are flagged ``duplicate_of``.
"""

from __future__ import annotations

import re
from pathlib import Path

from medswallow.bench.io import files_matching, iter_hf, iter_jsonl, source
from medswallow.bench.task import Loaded, Task, official_pharma
from medswallow.bench.tasks._exam import exam_row_to_sample, flag_duplicates

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


def _metadata(meta_files: list[Path]) -> dict[str, dict[str, str]]:
    """problem_id -> {category, note} (the published metadata files repeat their rows; first wins)."""
    out: dict[str, dict[str, str]] = {}
    for f in meta_files:
        for _, row in iter_jsonl(f):
            if "problem_id" in row:
                pid = str(row["problem_id"]).strip()
                out.setdefault(
                    pid, {"category": str(row.get("category") or ""), "note": str(row.get("note") or "")}
                )
    return out


def load(path_or_id: str) -> Loaded:
    meta: dict[str, dict[str, str]] = {}
    src = source(path_or_id, NAME)
    if isinstance(src, str):
        rows = list(iter_hf(src))
    else:
        items, meta_files = _exam_files(src)
        rows = [r for f in items for r in iter_jsonl(f)]
        meta = _metadata(meta_files)
    out = Loaded([])
    seen: set[str] = set()
    for where, row in rows:
        pid = str(row.get("problem_id", "")).strip()
        if pid in seen:  # the same item from a block file and a whole-exam file
            continue
        seen.add(pid)
        info = meta.get(pid, {})
        s = exam_row_to_sample(where, row, NAME, digits=True, note=info.get("note", ""))
        s.category = info.get("category") or str(row.get("category") or "")
        s.meta["exam"] = s.id[:3]
        out.samples.append(s)
    flag_duplicates(out.samples)
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
    official=official_pharma,
    official_source="EQUES-Inc/pharma-LLM-eval scripts/generation/evaluate.py",
)
