"""Row mapping shared by the exam-style JSONL benchmarks (IgakuQA, JJSIMQA, YakugakuQA).

All three publish ``{problem_id, problem_text, choices, answer, points, text_only?}`` per line; they differ
in answer labels (letters vs 1-based digits) and errata. Every special answer is read from the data itself
(the written forms below), so a corrected re-release of a file needs no code change:

- ``["d", ",", "e"]``: a separator as an answer (JJSIMQA 107_888-26) -> d and e;
- ``["a or d"]``: either answer accepted (IgakuQA 112B30) -> gold a, accepted [a] or [d], one answer asked;
- ``["解なし"]`` and its written variants (``"解なし（設問が不明確…）"``, ``"5（…図に不備があり", "解なしとなった）"``)
  -> voided;
- ``["1", "3", "5（いずれか2つ選択で正解とする）"]`` (or the same rule in the metadata ``note``) -> any 2 of {1,3,5};
- ``"choices": "IMAGES"`` (YakugakuQA): the choices are a figure that is not included -> a figure item;
- ``points`` "0": the exam left the item out of its own scoring -> kept, marked ``excluded_by_exam``;
- numeric entry with answer boxes (IgakuQA ``解答：①.②`` and gold ``"04"``) -> the value 0.4.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Any

from medswallow.bench.io import bad_row, require_fields
from medswallow.records import Sample

EXAM_FIELDS = ("problem_id", "problem_text", "choices", "answer")
VOID_MARKERS = {"解なし", "なし", "該当なし"}
FIGURE_CHOICES = "IMAGES"  # YakugakuQA's placeholder for choices drawn in a figure
_N_SELECT = re.compile(r"(\d)\s*つ選べ")
_ANY_N = re.compile(r"いずれか\s*([0-9一二三四五])\s*つ")
_KANJI_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_EITHER = re.compile(r"^\s*([a-z0-9])\s+or\s+([a-z0-9])\s*$")
_BOXES = "①②③④⑤⑥⑦⑧⑨"


def letter_labels(n: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(n)]


def digit_labels(n: int) -> list[str]:
    return [str(i + 1) for i in range(n)]


def normalise_answer(raw: Any) -> list[str]:
    """Gold answers as clean labels: NFKC (full-width -> ASCII), lower-case, separators dropped.

    ``["d", ",", "e"]`` (a JJSIMQA erratum) and ``["d,e"]`` both become ``["d", "e"]``.
    """
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        text = unicodedata.normalize("NFKC", str(item)).strip().lower()
        for part in re.split(r"[,、，\s]+", text):
            if part and part not in out:
                out.append(part)
    return out


def letters_of(raw: Any) -> list[str]:
    """Choice letters written as a list, one string of letters (``['cde']``) or with stray spaces (``[' e']``)."""
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        text = unicodedata.normalize("NFKC", str(item)).strip().lower()
        for ch in re.sub(r"[^a-z]", "", text):
            if ch not in out:
                out.append(ch)
    return sorted(out)


def points_of(raw: Any) -> float:
    try:
        return float(str(raw).strip())
    except ValueError:
        return 1.0


def n_select(question: str) -> int | None:
    """The count the stem asks for ("2つ選べ", full-width "２つ選べ"), if it says one."""
    m = _N_SELECT.search(unicodedata.normalize("NFKC", question))
    return int(m.group(1)) if m else None


def any_n(text: str) -> int | None:
    """N of an "any N of these are accepted" rule (``いずれか2つを選択で正解``, ``いずれか一つ``), if stated."""
    m = _ANY_N.search(unicodedata.normalize("NFKC", text))
    if not m:
        return None
    tok = m.group(1)
    return int(tok) if tok.isdigit() else _KANJI_DIGITS[tok]


def box_value(question: str, gold: str) -> str | None:
    """The number an answer-box gold stands for: ``解答：①.②`` with gold ``04`` is 0.4; ``1, ①②③ kcal``
    with ``130`` is 1130. None when the stem has no boxes or the gold does not fill them digit for digit.
    """
    at = question.rfind("解答")
    if at < 0 or "." in gold or not gold.isdigit():
        return None
    template = question[at:].split("\n")[0]
    boxes = [c for c in template if c in _BOXES]
    if not boxes or len(boxes) != len(gold):
        return None
    digits = iter(gold)
    filled = "".join(next(digits) if c in _BOXES else c for c in template)
    m = re.search(r"\d+(?:\.\d+)?", filled.replace(",", "").replace(" ", ""))
    return m.group() if m else None


def canonical_number(s: str) -> str:
    """``26.0`` -> ``26``, ``7.20`` -> ``7.2``, ``04`` -> ``4``: numbers compared by value."""
    f = float(s)
    return str(int(f)) if f.is_integer() else repr(f)


def _parse_answer(raw: Any) -> tuple[list[str], dict[str, Any]]:
    """(gold labels, facts) from a published answer list; facts hold voided / accepted / any_n."""
    items = [unicodedata.normalize("NFKC", str(x)) for x in (raw if isinstance(raw, list) else [raw])]
    facts: dict[str, Any] = {}
    if any("解なし" in x for x in items) or any(x.strip() in VOID_MARKERS for x in items):
        facts["voided"] = True
        return [], facts
    if len(items) == 1 and (m := _EITHER.match(items[0].lower())):
        facts["either"] = [m.group(1), m.group(2)]
        return [m.group(1)], facts
    n = None
    cleaned = []
    for x in items:
        n = n or any_n(x)
        cleaned.append(re.sub(r"[（(].*$", "", x))  # "5（いずれか2つ…）" -> "5"
    if n is not None:
        facts["any_n"] = n
    return normalise_answer(cleaned), facts


def exam_row_to_sample(
    where: str, row: dict[str, Any], task: str, *, digits: bool = False, note: str = ""
) -> Sample:
    """Map one exam-format row to a Sample. ``digits``: answers are 1-based digit strings (YakugakuQA);
    ``note``: the item's metadata note (YakugakuQA states "any N accepted" rules there too)."""
    require_fields(where, row, EXAM_FIELDS, f"{task} JSONL ({', '.join(EXAM_FIELDS)})")
    choices = row["choices"]
    raw_answer = row["answer"]
    gold, facts = _parse_answer(raw_answer)
    question = str(row["problem_text"]).strip()
    # How many answers the file lists, as published (107_888-26's ["d", ",", "e"] counts 3 here).
    meta: dict[str, Any] = {
        "published_answers": len(raw_answer) if isinstance(raw_answer, list) else 1,
        "published_answer": raw_answer,
    }
    figure_choices = isinstance(choices, str) and choices.strip() == FIGURE_CHOICES
    if figure_choices:
        # The choices are a figure that is not included: the labels stay answerable, the texts are unknown.
        top = max([int(g) for g in gold if g.isdigit()] + [5]) if digits else 5
        labels = (digit_labels if digits else letter_labels)(top)
        choices = []
        meta["figure_choices"] = True
    else:
        if choices is None:
            choices = []
        if not isinstance(choices, list):
            raise bad_row(
                where,
                f"'choices' must be a list (or \"{FIGURE_CHOICES}\" for a figure), got {type(choices).__name__}",
            )
        choices = [str(c).strip() for c in choices]
        labels = (digit_labels if digits else letter_labels)(len(choices))
    points = points_of(row.get("points", 1))
    voided = bool(facts.get("voided"))
    if points == 0 and not voided:
        meta["excluded_by_exam"] = True  # points "0": the exam itself did not score it
    accepted: list[list[str]] = []
    n = facts.get("any_n") or any_n(note)
    if facts.get("either"):
        accepted = [[x] for x in facts["either"]]
        meta["n_answers"] = 1
    elif n is not None and not voided and n < len(gold):
        accepted = [list(c) for c in itertools.combinations(gold, n)]
        meta["any_n"] = n
        meta["n_answers"] = n
    if labels and not voided:
        outside = [g for g in gold if g not in labels]
        if outside:
            # Kept (an outside count must still match) but flagged: it can never be answered right.
            meta["warning"] = f"gold {outside} is not among the labels {labels[0]}-{labels[-1]}"
    if not gold and not voided:
        meta["warning"] = "empty answer"
    if not labels and len(gold) == 1:  # numeric entry
        value = box_value(question, gold[0])
        try:
            meta["numeric_gold"] = canonical_number(value or gold[0])
        except ValueError:
            meta["warning"] = f"numeric-entry answer {gold[0]!r} is not a number"
        if value is not None:
            meta["answer_boxes"] = gold[0]
    asked = n_select(question)
    if asked is not None:
        meta["n_select"] = asked
    text_only = row.get("text_only", True)
    return Sample(
        id=str(row["problem_id"]).strip(),
        task=task,
        question=question,
        choices=choices,
        labels=labels,
        gold=gold,
        accepted=accepted,
        voided=voided,
        text_only=(bool(text_only) if text_only is not None else True) and not figure_choices,
        points=points,
        where=where,
        meta=meta,
    )


def flag_duplicates(samples: list[Sample]) -> None:
    """Mark items whose stem and choices repeat an earlier item's (``meta["duplicate_of"]``); both stay."""
    first: dict[tuple[str, tuple[str, ...]], str] = {}
    for s in samples:
        if s.meta.get("figure_choices"):
            continue  # figure stems repeat with different figures
        key = (s.question, tuple(s.choices))
        if key in first:
            s.meta["duplicate_of"] = first[key]
        else:
            first[key] = s.id
