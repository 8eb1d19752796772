"""JJSIMQA: Japanese specialist-level internal medicine questions (HF AIgroup-CVM-utokyohospital/JJSIMQA).

Same JSONL shape as IgakuQA (plus ``choices_orig``). Errata handled here: 107_64-4 is left out (its gold
marks four choices for an "all of the above" option; the dataset card says to exclude it), and 107_888-26's
gold ``["d", ",", "e"]`` is read as d and e. One stem says "２つ選べ" in full-width digits. The card's
exclusion leaves 459 of the 460 items to score (253 with one answer, 206 with two); the official evaluator
(aistairc/medLLM_QA_benchmark) counts all 460, so the official mode asks and counts 107_64-4 too.
"""

from __future__ import annotations

from medswallow.bench.io import files_matching, iter_hf, iter_jsonl, source
from medswallow.bench.task import Loaded, Task, official_aistairc
from medswallow.bench.tasks._exam import exam_row_to_sample

NAME = "jjsimqa"
EXCLUDE = {"107_64-4": "excluded by the dataset card (gold marks four choices of an 'all of the above' item)"}


def load(path_or_id: str) -> Loaded:
    src = source(path_or_id, NAME)
    if isinstance(src, str):
        rows = list(iter_hf(src))
    else:
        if src.is_dir() and (src / "jjsimqa.jsonl").is_file():  # also the medLLM_QA_benchmark folder
            files = [src / "jjsimqa.jsonl"]
        else:
            files = files_matching(src, r"(?!.*metadata).*\.jsonl", NAME, "jjsimqa.jsonl")
        rows = [r for f in files for r in iter_jsonl(f)]
    out = Loaded([])
    for where, row in rows:
        s = exam_row_to_sample(where, row, NAME)
        if s.id in EXCLUDE:
            s.meta["excluded"] = EXCLUDE[s.id]
            out.excluded.append((s, EXCLUDE[s.id]))
            continue
        out.samples.append(s)
    return out


TASK = Task(
    name=NAME,
    title="JJSIMQA",
    load=load,
    prompt="exam",
    system="医師国家試験を解きます。",
    published=0.6659,
    hf_id="AIgroup-CVM-utokyohospital/JJSIMQA",
    license="CC-BY-NC-SA-4.0 (research only)",
    official=official_aistairc,
    official_source="aistairc/medLLM_QA_benchmark scripts/evaluate_main.py",
)
