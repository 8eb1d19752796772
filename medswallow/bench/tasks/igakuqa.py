"""IgakuQA: Japanese national medical licensing exams 2018-2022 (jungokasai/IgakuQA).

Format: ``data/20xx/1xx-[A-F].jsonl``, with ``1xx-A_metadata.jsonl`` beside each block (specialty category
and the block's contraindicated choices, 禁忌肢) and ``*_translate.jsonl`` (English, not items); or one
concatenated JSONL. 2,000 items; 529 need a figure that is not included (``text_only: false``); 12
numeric-entry items have no choices and a number as answer. Scored by exact match of the answer set, plus
the exam's points score. As in the official evaluator, 116A71 counts as correct for everyone; 112B30's gold
is written "a or d" (either accepted, one answer asked). Items with points "0" (11; the exam did not score
them) are kept and marked: the robust accuracy leaves them out, the official evaluator counts all 2,000.
禁忌肢 lists written as one string of letters (``['cde']``) are split into letters.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from medswallow.bench.io import files_matching, iter_hf, iter_jsonl, source
from medswallow.bench.task import Loaded, Task, official_igakuqa
from medswallow.bench.tasks._exam import exam_row_to_sample, letters_of
from medswallow.bench.tasks._jmedbench import jmedbench_row_to_sample

NAME = "igakuqa"
ALWAYS_CORRECT = {"116A71"}


def _files(root: Path) -> tuple[list[Path], list[Path]]:
    """(item files, metadata files)."""
    if (root / "igakuqa" / "test.jsonl").is_file():  # a JMedBench checkout or hub snapshot
        return [root / "igakuqa" / "test.jsonl"], []
    if (root / "igakuqa.jsonl").is_file():  # the aistairc/medLLM_QA_benchmark concatenated copy
        return [root / "igakuqa.jsonl"], []
    if root.is_file():
        beside = root.with_name(f"{root.stem}_metadata.jsonl")
        return [root], [beside] if beside.is_file() else []
    files = [p for p in root.rglob("*.jsonl") if p.is_file()]
    blocks = sorted(p for p in files if re.fullmatch(r"\d{3}-[A-Z]\.jsonl", p.name))
    meta = sorted(p for p in files if re.fullmatch(r"\d{3}-[A-Z]_metadata\.jsonl", p.name))
    if blocks:
        return blocks, meta
    rx = r"(?!.*(metadata|translate)).*\.jsonl"
    return files_matching(root, rx, NAME, "data/2018/112-A.jsonl"), meta


def _metadata(files: list[Path]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in files:
        for _, row in iter_jsonl(f):
            if "problem_id" in row:
                out[str(row["problem_id"]).strip()] = row
    return out


def load(path_or_id: str) -> Loaded:
    meta: dict[str, dict[str, Any]] = {}
    src = source(path_or_id, NAME)
    if isinstance(src, str):
        rows = list(iter_hf(src, config=None if ":" in src else "igakuqa"))
    else:
        items, meta_files = _files(src)
        rows = [r for f in items for r in iter_jsonl(f)]
        meta = _metadata(meta_files)
    samples = []
    for i, (where, row) in enumerate(rows):
        if "problem_id" not in row and "options" in row:  # the JMedBench copy
            samples.append(jmedbench_row_to_sample(where, row, NAME, i))
            continue
        s = exam_row_to_sample(where, row, NAME)
        info = meta.get(s.id, {})
        s.category = str(info.get("category") or "")
        s.meta["exam"] = s.id[:3]  # 112..116
        kinki = letters_of(info.get("kinki") or [])
        if kinki:
            s.meta["contraindicated"] = kinki
        s.always_correct = s.id in ALWAYS_CORRECT
        samples.append(s)
    return Loaded(samples)


TASK = Task(
    name=NAME,
    title="IgakuQA",
    load=load,
    prompt="exam",
    system="医師国家試験を解きます。",
    published=0.7048,
    hf_id="(github jungokasai/IgakuQA data/)",
    license="no license stated: research use",
    points_score=True,
    official=official_igakuqa,
    official_source="jungokasai/IgakuQA scripts/evaluate_main.py",
)
