"""JMMLU Medical: the nine medical subjects of JMMLU (nlp-waseda/JMMLU), 1,271 items.

Format: one header-less CSV per subject (``anatomy.csv``...), UTF-8 with a BOM on line 1; columns
question, A, B, C, D, answer letter; choice cells carry stray spaces, which are stripped. The JMedBench copy
(config ``jmmlu_medical``) is read too when given an HF id.
"""

from __future__ import annotations

from pathlib import Path

from medswallow.bench.io import bad_row, iter_csv, source
from medswallow.bench.task import Loaded, Task
from medswallow.bench.tasks._jmedbench import load_jmedbench
from medswallow.errors import UserError
from medswallow.records import Sample

NAME = "jmmlu_medical"
SUBJECTS = (
    "anatomy",
    "clinical_knowledge",
    "college_biology",
    "college_medicine",
    "high_school_biology",
    "medical_genetics",
    "nutrition",
    "professional_medicine",
    "virology",
)
LABELS = ["A", "B", "C", "D"]


def csv_row_to_sample(where: str, cells: list[str], subject: str, n: int) -> Sample:
    question, *choices, answer = (c.strip() for c in cells)
    answer = answer.upper()
    if answer not in LABELS:
        raise bad_row(where, f"answer cell {answer!r} is not one of A, B, C, D", "is this a JMMLU CSV?")
    return Sample(
        id=f"{subject}-{n}",
        task=NAME,
        question=question,
        choices=list(choices),
        labels=list(LABELS),
        gold=[answer],
        category=subject,
        where=where,
    )


def _subject_files(root: Path) -> list[tuple[str, Path]]:
    if root.is_file():
        return [(root.stem, root)]
    found = []
    for subject in SUBJECTS:
        # Shallowest match wins (older checkouts nest a second JMMLU/ folder).
        matches = sorted(root.rglob(f"{subject}.csv"), key=lambda p: (len(p.parts), str(p)))
        if matches:
            found.append((subject, matches[0]))
    if not found:
        raise UserError(f"{NAME}: none of the subject CSVs ({', '.join(SUBJECTS[:3])}, ...) under {root}")
    return found


def load(path_or_id: str) -> Loaded:
    src = source(path_or_id, NAME)
    if isinstance(src, str) or (src / "jmmlu_medical").is_dir():  # JMedBench's copy (HF id or checkout)
        return load_jmedbench(path_or_id, NAME, "jmmlu_medical")
    samples = []
    for subject, path in _subject_files(src):
        for n, (where, cells) in enumerate(iter_csv(path, columns=6), start=1):
            samples.append(csv_row_to_sample(where, cells, subject, n))
    return Loaded(samples)


TASK = Task(
    name=NAME,
    title="JMMLU Medical",
    load=load,
    prompt="cot",
    published=0.7022,
    hf_id="(github nlp-waseda/JMMLU)",
    license="CC-BY-SA-4.0",
)
