"""IgakuQA: Japanese national medical licensing exams 2018-2022 (jungokasai/IgakuQA).

Format: ``data/20xx/1xx-[A-F].jsonl`` (``*_metadata.jsonl`` and ``*_translate.jsonl`` beside them are not
items), or one concatenated JSONL. 2,000 items; 529 need a figure that is not included
(``text_only: false``); 12 numeric-entry items have no choices and a number as answer. Scored by exact
match of the answer set, plus the exam's points score. As in the official evaluator, 116A71 counts as
correct for everyone and 112B30 accepts a or d.
"""

from __future__ import annotations

import re
from pathlib import Path

from medswallow.bench.io import files_matching, is_hf_id, iter_hf, iter_jsonl, local_path
from medswallow.bench.task import Loaded, Task
from medswallow.bench.tasks._exam import exam_row_to_sample
from medswallow.bench.tasks._jmedbench import jmedbench_row_to_sample

NAME = "igakuqa"
ALWAYS_CORRECT = {"116A71"}
ACCEPTED = {"112B30": [["a"], ["d"]]}


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    blocks = [p for p in root.rglob("*.jsonl") if p.is_file() and _is_block(p.name)]
    if blocks:
        return sorted(blocks)
    return files_matching(root, r"(?!.*(metadata|translate)).*\.jsonl", NAME, "data/2018/112-A.jsonl")


def _is_block(name: str) -> bool:
    return re.fullmatch(r"\d{3}-[A-Z]\.jsonl", name) is not None


def load(path_or_id: str) -> Loaded:
    if is_hf_id(path_or_id):
        rows = list(iter_hf(path_or_id, config=None if ":" in path_or_id else "igakuqa"))
    else:
        rows = [r for f in _files(local_path(path_or_id, NAME)) for r in iter_jsonl(f)]
    samples = []
    for i, (where, row) in enumerate(rows):
        if "problem_id" not in row and "options" in row:  # the JMedBench copy
            samples.append(jmedbench_row_to_sample(where, row, NAME, i))
            continue
        s = exam_row_to_sample(where, row, NAME)
        s.category = s.id[:3]  # exam number: 112..116
        s.always_correct = s.id in ALWAYS_CORRECT
        s.accepted = ACCEPTED.get(s.id, [])
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
)
