"""MedMCQA_JP: MedMCQA (Indian medical entrance exams) translated to Japanese; 4,183 items.

JMedBench format (HF ``Coldog2333/JMedBench`` config ``medmcqa_jp``, or its ``medmcqa_jp/test.jsonl``);
scored by accuracy.
"""

from __future__ import annotations

from medswallow.bench.task import Loaded, Task
from medswallow.bench.tasks._jmedbench import JMEDBENCH_ID, load_jmedbench

NAME = "medmcqa_jp"


def load(path_or_id: str) -> Loaded:
    return load_jmedbench(path_or_id, NAME, "medmcqa_jp")


TASK = Task(
    name=NAME,
    title="MedMCQA_JP",
    load=load,
    prompt="cot",
    published=0.5230,
    hf_id=JMEDBENCH_ID,
    license="MIT (JMedBench card)",
)
