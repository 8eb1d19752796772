"""MedQA_JP: MedQA-USMLE (5 options) translated to Japanese; 1,273 items.

JMedBench format (HF ``Coldog2333/JMedBench`` config ``medqa_jp``, or its ``medqa_jp/test.jsonl``);
scored by accuracy.
"""

from __future__ import annotations

from medswallow.bench.task import Loaded, Task
from medswallow.bench.tasks._jmedbench import JMEDBENCH_ID, load_jmedbench

NAME = "medqa_jp"


def load(path_or_id: str) -> Loaded:
    return load_jmedbench(path_or_id, NAME, "medqa_jp")


TASK = Task(
    name=NAME,
    title="MedQA_JP",
    load=load,
    prompt="cot",
    published=0.5118,
    hf_id=JMEDBENCH_ID,
    license="MIT (JMedBench card)",
)
