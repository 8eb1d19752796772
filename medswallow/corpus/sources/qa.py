"""QA datasets (JSONL, CSV or Parquet) rendered to QA-style text with a template.

Choices are lettered (``a. ...``); an answer given as letters or a 0-based index is rendered with its
choice text. A record without a field the template uses is quarantined (``missing_field:<name>``): a
template never renders with a hole in it.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

from medswallow.corpus.sources.base import Item, SourceReader, Unit
from medswallow.corpus.sources.csv import read_csv_records
from medswallow.corpus.sources.fields import as_text, template_fields
from medswallow.corpus.sources.jsonl import read_json_lines
from medswallow.errors import UserError

PRESETS: dict[str, str] = {
    "exam_ja": "問題: {question}\n{choices}\n答え: {answer}",
    "exam_en": "Question: {question}\n{choices}\nAnswer: {answer}",
    "qa_ja": "質問: {question}\n回答: {answer}",
    "qa_en": "Question: {question}\nAnswer: {answer}",
}
EXPLANATION_LABEL = {"exam_ja": "解説", "qa_ja": "解説", "exam_en": "Explanation", "qa_en": "Explanation"}
LETTERS = string.ascii_lowercase


def render_choices(choices: Any) -> tuple[str, dict[str, str]] | None:
    """``("a. x\\nb. y", {"a": "x", ...})`` from a list, a dict (label -> text) or a string of lines."""
    if isinstance(choices, dict):
        labelled = {str(k).strip().lower(): as_text(v) or "" for k, v in choices.items()}
    elif isinstance(choices, list | tuple):
        labelled = {LETTERS[i] if i < 26 else str(i + 1): as_text(v) or "" for i, v in enumerate(choices)}
    elif isinstance(choices, str) and choices.strip():
        return choices.strip(), {}
    else:
        return None
    if not labelled:
        return None
    return "\n".join(f"{k}. {v}" for k, v in labelled.items()), labelled


def render_answer(answer: Any, labelled: dict[str, str]) -> str | None:
    """Letters ("b", ["b", "d"], "b,d") or a 0-based index -> "b. text"; anything else as text."""
    if answer is None or answer == "" or answer == []:
        return None
    if isinstance(answer, bool):
        return str(answer)
    if isinstance(answer, int) and labelled:
        keys = list(labelled)
        return f"{keys[answer]}. {labelled[keys[answer]]}" if 0 <= answer < len(keys) else None
    items = answer if isinstance(answer, list | tuple) else [answer]
    if labelled and all(isinstance(a, str) for a in items):
        letters = [p.strip().lower() for a in items for p in str(a).replace("、", ",").split(",") if p.strip()]
        if letters and all(letter in labelled for letter in letters):
            return ", ".join(f"{letter}. {labelled[letter]}" for letter in letters)
    return as_text(answer)


class QAReader(SourceReader):
    suffixes = (".jsonl", ".jsonl.gz", ".csv", ".tsv", ".parquet")

    def __init__(self, cfg: Any, base_dir: Any) -> None:
        super().__init__(cfg, base_dir)
        self.template = PRESETS.get(cfg.template, cfg.template)
        self.preset = cfg.template if cfg.template in PRESETS else None
        self.fields = template_fields(self.template)
        if not self.fields:
            raise UserError(
                f"source '{cfg.name}': template {cfg.template!r} is neither a preset ({', '.join(PRESETS)}) nor uses any {{field}}"
            )

    def read(self, unit: Unit) -> Iterator[Item]:
        name = unit.path.lower()
        if name.endswith((".csv", ".tsv")):
            delim = "\t" if name.endswith(".tsv") else ","
            yield from read_csv_records(self, unit, self.cfg.encoding, delim, True, self._item)
        elif name.endswith(".parquet"):
            from medswallow.corpus.sources.parquet import iter_parquet_rows

            yield from iter_parquet_rows(self, unit, self._item)
        else:
            yield from read_json_lines(self, unit, self.cfg.encoding, self._item)

    def _item(self, record: Any, local_id: str, unit: Unit, line: int) -> Item:
        if not isinstance(record, dict):
            return self.quarantine(local_id, "not_an_object", unit, line=line)
        cfg = self.cfg
        if cfg.id:
            rid = as_text(record.get(cfg.id))
            if rid is None:
                return self.quarantine(local_id, f"missing_field:{cfg.id}", unit, line=line)
            local_id = rid
        values: dict[str, str] = {}
        labelled: dict[str, str] = {}
        for name in self.fields:
            if name == "question":
                value = as_text(record.get(cfg.question))
                missing = cfg.question
            elif name == "choices":
                rendered = render_choices(record.get(cfg.choices)) if cfg.choices else None
                value, labelled = rendered if rendered else (None, {})
                missing = cfg.choices or "choices"
            elif name == "answer":
                continue  # rendered last: it needs the choice labels
            elif name == "explanation":
                value = as_text(record.get(cfg.explanation)) if cfg.explanation else None
                missing = cfg.explanation or "explanation"
            else:
                value, missing = as_text(record.get(name)), name
            if value is None:
                return self.quarantine(local_id, f"missing_field:{missing}", unit, line=line)
            values[name] = value
        if "answer" in self.fields:
            if not labelled and cfg.choices and record.get(cfg.choices) is not None:
                rendered = render_choices(record.get(cfg.choices))
                labelled = rendered[1] if rendered else {}
            answer = render_answer(record.get(cfg.answer), labelled) if cfg.answer else None
            if answer is None:
                return self.quarantine(local_id, f"missing_field:{cfg.answer or 'answer'}", unit, line=line)
            values["answer"] = answer
        text = self.template.format(**values)
        if self.preset and cfg.explanation:
            explanation = as_text(record.get(cfg.explanation))
            if explanation:
                text += f"\n{EXPLANATION_LABEL[self.preset]}: {explanation}"
        meta = {k: record.get(k) for k in cfg.meta if k in record}
        return self.document(local_id, text, unit, line=line, **meta)
