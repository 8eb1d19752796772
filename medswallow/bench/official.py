"""The benchmarks' own answer reading and scoring, transcribed from their published code.

These are the reference the ``official`` scoring mode is tested against, item for item: each function keeps
the original's logic and its quirks (only ``mojimoji.zen_to_han`` is replaced by :func:`zen_to_han` below,
and printing, file reading and retries are left out). Sources, read at these commits:

- IgakuQA: github.com/jungokasai/IgakuQA @ 2bc4c3d159cf5505f6253d24a909fbd53237e239
  ``scripts/generation/chatgpt.py`` (``chatgpt_problem``: the reply, half-width and lower-cased, is the
  prediction) and ``scripts/evaluate_main.py`` (``accuracy``).
- JJSIMQA (and IgakuQA's copy there): github.com/aistairc/medLLM_QA_benchmark @
  614599e5042052a374fca74590a2dd95c80a56b3 ``scripts/generation/hf_vllm.py`` (``hf_problem``: the first
  character of the first non-empty line) and ``scripts/evaluate_main.py`` (``accuracy``).
- YakugakuQA: github.com/EQUES-Inc/pharma-LLM-eval @ 998387e8fe73f775990ca11d0a45d2a6819bf4e3
  ``scripts/generation/chatgpt.py`` (``run_openmodel``: the open-model post-processing) and
  ``scripts/generation/evaluate.py`` (``counting``, per category, points-weighted) as run by
  ``scripts/pipeline.py``; ``scripts/evaluate_main.py`` (``accuracy``) for the overall accuracy.
- JMedBench (likelihood): github.com/nii-nlp/med-eval @ 9e030138ab061e24c3d4d413ee4aa77de37735de
  ``evaluate_mcqa.py``: argmin of the summed option NLL, and of NLL per token (see ``likelihood.py``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any


def zen_to_han(text: str) -> str:
    """``mojimoji.zen_to_han`` for ASCII and digits: full-width ``！``-``～`` -> ASCII, U+3000 -> space.

    mojimoji also turns full-width katakana into half-width katakana; no gold answer holds katakana, so
    that part cannot change a comparison and is left out.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        elif code == 0x3000:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


# ---- jungokasai/IgakuQA ---------------------------------------------------------------------------


def igakuqa_prediction(answer: str) -> str:
    """scripts/generation/chatgpt.py ``chatgpt_problem``: ``mojimoji.zen_to_han(answer).lower()``."""
    return zen_to_han(answer).lower()


def igakuqa_accuracy(preds: list[dict[str, Any]], golds: list[dict[str, Any]]) -> dict[str, Any]:
    """scripts/evaluate_main.py ``accuracy``, as published."""
    count = 0
    correct = 0
    total = 0
    score = 0
    for pred, ans in zip(preds, golds, strict=False):
        prediction = pred["prediction"]
        prediction = sorted(prediction.split(","))
        gold = sorted(ans["answer"])
        points = int(ans["points"])
        if ans["problem_id"] == "116A71":
            correct += 1
            score += points
        elif ans["problem_id"] == "112B30" and (prediction == ["a"] or prediction == ["d"]):
            correct += 1
            score += points
        elif prediction == gold:
            correct += 1
            score += points
        count += 1
        total += points
    return {"accuracy": correct / count, "score": score, "total": total}


# ---- aistairc/medLLM_QA_benchmark -----------------------------------------------------------------


def aistairc_prediction(answer: str) -> str:
    """scripts/generation/hf_vllm.py ``hf_problem``: the first character of the first non-empty line."""
    ans_lines = answer.split("\n")
    t = ""
    for t in ans_lines:
        if len(t) != 0:
            break
    m = re.search(r"(.+?)\:?", t)
    if m:
        answer = m.group(1)
    else:
        answer = "NA"
    pred = zen_to_han(answer).lower()
    return pred


def aistairc_accuracy(preds: list[dict[str, Any]], golds: list[dict[str, Any]]) -> dict[str, Any]:
    """scripts/evaluate_main.py ``accuracy``, as published (accuracy in percent)."""
    count = 0
    correct = 0
    total = 0
    score = 0
    for pred, ans in zip(preds, golds, strict=False):
        prediction = pred["prediction"]
        prediction = unicodedata.normalize("NFKC", prediction)
        prediction = prediction.replace("、", ",")
        prediction = prediction.replace("，", ",")
        prediction = sorted([p.strip() for p in prediction.split(",")])
        gold = sorted(ans["answer"])
        points = int(ans["points"])
        if ans["problem_id"] == "116A71":
            correct += 1
            score += points
        elif ans["problem_id"] == "112B30" and (prediction == ["a"] or prediction == ["d"]):
            correct += 1
            score += points
        elif prediction == gold:
            correct += 1
            score += points
        count += 1
        total += points
    return {"accuracy": correct / count * 100, "score": score, "total": total}


# ---- EQUES-Inc/pharma-LLM-eval --------------------------------------------------------------------


def pharma_prediction(text: str) -> str:
    """scripts/generation/chatgpt.py ``run_openmodel`` post-processing of ``outputs[0].outputs[0].text``.

    An empty reply raises IndexError there; the retry loop gives up after three tries with ``'NA'``.
    """
    answer = text.strip()
    try:
        answer = answer.split("\n")[0].split(":")[0].strip()
        answer = answer.replace(" ", "")
        if len(answer) >= 3:
            if answer[1] == ",":
                answer = answer[:3]
            else:
                answer = answer[0]
        else:
            answer = answer[0]
        if answer[-1] == ",":
            answer = answer[:-1]
    except IndexError:
        answer = "NA"
    return answer


def pharma_counting(pred: dict[str, Any], ans: dict[str, Any]) -> bool:
    """scripts/generation/evaluate.py ``counting``: whether the item counts (its points) as correct."""
    prediction = pred["prediction"]
    prediction = sorted(x.strip() for x in prediction.split(","))
    gold = ans["answer"]
    gold = sorted(gold)
    return bool(prediction == gold)


def pharma_accuracy(preds: list[dict[str, Any]], golds: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall accuracy over items (scripts/evaluate_main.py ``accuracy``, without --text-only), each item
    judged by ``counting`` as the pipeline does."""
    count = 0
    correct = 0
    total = 0
    score = 0
    for pred, ans in zip(preds, golds, strict=False):
        points = int(ans["points"])
        if pharma_counting(pred, ans):
            correct += 1
            score += points
        count += 1
        total += points
    return {"accuracy": correct / count, "score": score, "total": total}
