"""MMLU_Medical_JP: MMLU medical subjects translated to Japanese; 1,871 items.

JMedBench format (HF ``Coldog2333/JMedBench`` config ``mmlu_medical_jp``, or its ``mmlu_medical_jp/test.jsonl``);
scored by accuracy.
"""

from __future__ import annotations

from medswallow.bench.task import Loaded, Task
from medswallow.bench.tasks._jmedbench import JMEDBENCH_ID, load_jmedbench

NAME = "mmlu_medical_jp"


def load(path_or_id: str) -> Loaded:
    return load_jmedbench(path_or_id, NAME, "mmlu_medical_jp")


TASK = Task(
    name=NAME,
    title="MMLU_Medical_JP",
    load=load,
    prompt="cot",
    published=0.7320,
    hf_id=JMEDBENCH_ID,
    license="MIT (JMedBench card)",
)
