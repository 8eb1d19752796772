"""JUSMLEQA_JP: the MedQA-USMLE questions with 4 options (JMedBench config usmleqa_jp; the name mapping is inferred); 1,273 items.

JMedBench format (HF ``Coldog2333/JMedBench`` config ``usmleqa_jp``, or its ``usmleqa_jp/test.jsonl``);
scored by accuracy.
"""

from __future__ import annotations

from medswallow.bench.task import Loaded, Task
from medswallow.bench.tasks._jmedbench import JMEDBENCH_ID, load_jmedbench

NAME = "jusmleqa_jp"


def load(path_or_id: str) -> Loaded:
    return load_jmedbench(path_or_id, NAME, "usmleqa_jp")


TASK = Task(
    name=NAME,
    title="JUSMLEQA_JP",
    load=load,
    prompt="cot",
    published=0.5584,
    hf_id=JMEDBENCH_ID,
    license="MIT (JMedBench card)",
)
