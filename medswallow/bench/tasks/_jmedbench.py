"""Row mapping and loader shared by the JMedBench multiple-choice subsets.

JMedBench (HF ``Coldog2333/JMedBench``, one folder per config with ``test.jsonl``) publishes
``{sample_id, question, options: [...], answer_idx: 0-based int, n_options, metadata}`` per line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medswallow.bench.io import (
    bad_row,
    files_matching,
    iter_hf,
    iter_jsonl,
    require_fields,
    source,
)
from medswallow.bench.task import Loaded
from medswallow.records import Sample

JMEDBENCH_ID = "Coldog2333/JMedBench"
FIELDS = ("question", "options", "answer_idx")


def upper_labels(n: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(n)]


def jmedbench_row_to_sample(where: str, row: dict[str, Any], task: str, index: int) -> Sample:
    require_fields(where, row, FIELDS, "JMedBench JSONL (sample_id, question, options, answer_idx)")
    options = row["options"]
    if not isinstance(options, list) or not options:
        raise bad_row(where, "'options' must be a non-empty list of strings")
    choices = [str(o) for o in options]  # as published: med-eval's templates render the raw option text
    labels = upper_labels(len(choices))
    try:
        idx = int(row["answer_idx"])
    except (TypeError, ValueError):
        raise bad_row(where, f"'answer_idx' must be a 0-based integer, got {row['answer_idx']!r}") from None
    if not 0 <= idx < len(choices):
        raise bad_row(where, f"'answer_idx' {idx} is outside the {len(choices)} options (it is 0-based)")
    meta = row.get("metadata")
    category = ""
    if isinstance(meta, dict):
        category = str(meta.get("subject") or meta.get("category") or meta.get("subject_name") or "")
    sid = row.get("sample_id", row.get("id", index))
    return Sample(
        id=str(sid),
        task=task,
        question=str(row["question"]).strip(),
        choices=choices,
        labels=labels,
        gold=[labels[idx]],
        category=category,
        where=where,
    )


def find_config_file(root: Path, config: str, task: str) -> list[Path]:
    """``root`` may be the file itself, the config folder, or a JMedBench checkout."""
    if root.is_file():
        return [root]
    for candidate in (root / config / "test.jsonl", root / "test.jsonl"):
        if candidate.is_file():
            return [candidate]
    return files_matching(root, rf"{config}.*\.jsonl", task, f"{config}/test.jsonl")


def load_jmedbench(path_or_id: str, task: str, config: str) -> Loaded:
    """Load one JMedBench config from a local file/folder or the HF dataset (config chosen for you)."""
    src = source(path_or_id, task)
    if isinstance(src, str):
        rows = iter_hf(src, config=config)
    else:
        rows = (r for f in find_config_file(src, config, task) for r in iter_jsonl(f))
    return Loaded([jmedbench_row_to_sample(w, r, task, i) for i, (w, r) in enumerate(rows)])
