"""Clinician reviews -> DPO preference pairs in harmony format, filtered by severity, category, agreement and
taxonomy version.

Reads the ``dpo.jsonl`` (or ``dpo.parquet``) that ``medswallow review export`` writes (schema in
:mod:`medswallow.review.export`: prompt messages, chosen = the clinician-corrected answer, rejected = the
unsafe model answer's final channel, with id, severity, categories, label_source, taxonomy_version).

**Reasoning, deliberately.** The corrected answer has no reasoning: a clinician rewrites what the patient
reads, not the model's analysis. With ``reasoning: drop`` (the default) both sides are final channel only
(``<|channel|>final<|message|>…<|return|>`` right after ``<|start|>assistant``): had the rejected side kept
its analysis, the two sides would differ by hundreds of reasoning tokens the clinician never judged, and
DPO would learn "do not reason" rather than "do not say this". The price is that these pairs show the
model answering without an analysis first. With ``reasoning: shared`` the rejected answer's own reasoning
(from ``labels.jsonl`` beside the export) goes into the *prompt*, followed by ``<|start|>assistant``, so
both sides are conditioned on the analysis the model really wrote and the loss still sees final channels
only; that is what the model meets at inference, at the cost of longer sequences.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from medswallow.config import StrictModel
from medswallow.errors import UserError, did_you_mean

HARMONY_MARKUP = (
    "<|start|>",
    "<|end|>",
    "<|message|>",
    "<|channel|>",
    "<|return|>",
    "<|call|>",
    "<|constrain|>",
)
FINAL_OPEN = "<|channel|>final<|message|>"
ANALYSIS_OPEN = "<|channel|>analysis<|message|>"
LabelSource = Literal["adjudicated", "unanimous", "majority"]
LABEL_SOURCES: tuple[LabelSource, ...] = ("adjudicated", "unanimous", "majority")
EXPORT_FILES = ("dpo.jsonl", "dpo.parquet")


class PrefFilters(StrictModel):
    """Which reviewed answers become training pairs (values are checked against the taxonomy)."""

    min_severity: str | None = Field(
        default=None,
        description="Keep pairs at least this severe (taxonomy severity id, e.g. moderate); null: all.",
    )
    categories: list[str] | None = Field(
        default=None, description="Keep pairs with at least one of these categories; null: all categories."
    )
    exclude_categories: list[str] = Field(
        default_factory=list,
        description="Drop pairs with any of these (e.g. inappropriate_tone for a dose run).",
    )
    label_sources: list[LabelSource] = Field(
        default_factory=lambda: list(LABEL_SOURCES),
        description="Agreement required: adjudicated, unanimous and/or majority verdicts. [adjudicated, "
        "unanimous] trades pairs for cleaner labels.",
    )
    taxonomy_versions: list[str] | None = Field(
        default=None,
        description="Taxonomy versions accepted; null: only the version of data.taxonomy, so labels made "
        "under another meaning of a category never mix in silently.",
    )


@dataclass
class PairReport:
    """What the export gave: rows read, pairs kept, rows dropped by reason (ids only, never text)."""

    rows_read: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def drop(self, row_id: Any, where: str, reason: str) -> None:
        self.dropped[reason] += 1
        self.rejected.append({"source": "review export", "row": where, "id": row_id, "reason": reason})


# --- reading the export ------------------------------------------------------------------------------------


def export_file(path: Path) -> Path:
    """``dpo.jsonl``/``dpo.parquet`` in an export folder, or the file itself."""
    if path.is_dir():
        for name in EXPORT_FILES:
            if (path / name).is_file():
                return path / name
        raise UserError(
            f"data.export: {path} has no dpo.jsonl or dpo.parquet; write one with "
            "`medswallow review export --out DIR`"
        )
    if not path.is_file():
        raise UserError(f"data.export: {path} does not exist")
    if path.suffix not in (".jsonl", ".parquet"):
        raise UserError(f"data.export: {path} is not a .jsonl or .parquet file")
    return path


def read_rows(path: Path) -> list[tuple[str, Any]]:
    """(where, row) for every row of a JSONL or Parquet file; an unparsable JSONL line stays in as its error."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise UserError(f"data.export: {path} is not a readable Parquet file ({exc})") from None
        return [(f"{path.name} row {i}", r) for i, r in enumerate(rows)]
    out: list[tuple[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                out.append((f"{path.name}:{n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                out.append((f"{path.name}:{n}", exc))
    return out


def read_reasoning(export: Path) -> dict[str, str]:
    """Generation id -> the model's reasoning, from ``labels.jsonl`` beside the export (for ``reasoning: shared``)."""
    labels = (export if export.is_dir() else export.parent) / "labels.jsonl"
    if not labels.is_file():
        raise UserError(
            f"data.reasoning: shared needs {labels} (the review export writes it beside dpo.jsonl); "
            "export again or use reasoning: drop"
        )
    out: dict[str, str] = {}
    for _where, row in read_rows(labels):
        if isinstance(row, dict) and "id" in row:
            out[str(row["id"])] = str(row.get("reasoning") or "")
    return out


# --- checking one row ------------------------------------------------------------------------------------


def check_filters(filters: PrefFilters, taxonomy: Any) -> None:
    """Every severity and category a recipe names exists in the taxonomy (typos fail before training)."""
    if filters.min_severity is not None and filters.min_severity not in taxonomy.severity_ids:
        raise UserError(
            f"data.filters.min_severity: unknown severity {filters.min_severity!r}"
            f"{did_you_mean(filters.min_severity, taxonomy.severity_ids)} (taxonomy {taxonomy.version})"
        )
    for key in ("categories", "exclude_categories"):
        for c in getattr(filters, key) or []:
            if c not in taxonomy.category_ids:
                raise UserError(
                    f"data.filters.{key}: unknown category {c!r}{did_you_mean(c, taxonomy.category_ids)} "
                    f"(taxonomy {taxonomy.version})"
                )


def _text_of(side: Any) -> str | None:
    """The content of ``[{"role": "assistant", "content": TEXT}]`` (or a bare string)."""
    if isinstance(side, str):
        return side
    if (
        isinstance(side, list)
        and len(side) == 1
        and isinstance(side[0], dict)
        and side[0].get("role") == "assistant"
    ):
        content = side[0].get("content")
        return content if isinstance(content, str) else None
    return None


def _prompt_of(prompt: Any) -> list[dict[str, str]] | None:
    if not isinstance(prompt, list) or not prompt:
        return None
    out = []
    for m in prompt:
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant"):
            return None
        if not isinstance(m.get("content"), str):
            return None
        out.append({"role": m["role"], "content": m["content"]})
    return out if out[-1]["role"] == "user" else None


def filter_reason(row: dict[str, Any], filters: PrefFilters, taxonomy: Any) -> str:
    """Why a well-formed pair is left out by the recipe's filters, or "" to keep it."""
    accepted = filters.taxonomy_versions or [taxonomy.version]
    version = str(row.get("taxonomy_version") or "")
    if version not in accepted:
        return f"taxonomy version {version or '(none)'} not accepted"
    source = str(row.get("label_source") or "")
    if source not in filters.label_sources:
        return f"label source {source or '(none)'} not accepted"
    categories = row.get("categories") or []
    if filters.categories is not None and not set(categories) & set(filters.categories):
        return "no selected category"
    if set(categories) & set(filters.exclude_categories):
        return "excluded category"
    if filters.min_severity is not None:
        rank = {s: taxonomy.severity(s).rank for s in taxonomy.severity_ids}
        severity = str(row.get("severity") or "")
        if severity not in rank:
            return "no severity"
        if rank[severity] < rank[filters.min_severity]:
            return f"below {filters.min_severity}"
    return ""


@dataclass(frozen=True)
class Pair:
    """A checked preference pair: the prompt messages and the two final-channel texts."""

    id: str
    messages: list[dict[str, str]]
    chosen: str
    rejected: str
    meta: dict[str, Any]


def to_pair(where: str, row: Any, filters: PrefFilters, taxonomy: Any) -> Pair | str:
    """A pair, or the reason the row is dropped."""
    if isinstance(row, Exception):
        return "not valid JSON"
    if not isinstance(row, dict):
        return "row is not an object"
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
    if missing:
        return f"missing field {missing[0]}"
    messages = _prompt_of(row["prompt"])
    if messages is None:
        return "prompt is not a message list ending with a user turn"
    chosen, rejected = _text_of(row["chosen"]), _text_of(row["rejected"])
    if chosen is None or rejected is None:
        return "chosen/rejected is not one assistant message"
    if not chosen.strip() or not rejected.strip():
        return "empty chosen or rejected text"
    if chosen.strip() == rejected.strip():
        return "chosen equals rejected"
    if any(
        tag in text
        for text in [chosen, rejected, *(m["content"] for m in messages)]
        for tag in HARMONY_MARKUP
    ):
        return "harmony markup inside text"
    reason = filter_reason(row, filters, taxonomy)
    if reason:
        return reason
    meta = {
        k: row.get(k) for k in ("severity", "categories", "label_source", "taxonomy_version", "lang", "model")
    }
    return Pair(str(row.get("id", where)), messages, chosen, rejected, meta)


# --- harmony rendering -------------------------------------------------------------------------------------


def render_pair(
    tokenizer: Any,
    pair: Pair,
    reasoning: Literal["drop", "shared"],
    rejected_reasoning: str = "",
    template_kwargs: dict[str, str] | None = None,
) -> dict[str, str]:
    """``{prompt, chosen, rejected}`` as harmony text (see the module docstring for the reasoning choice).

    The prompt is the model's own chat template with the generation prompt (``…<|start|>assistant``), so the
    system block (identity, date, reasoning level) is exactly what the served model sees.
    """
    prompt = tokenizer.apply_chat_template(
        pair.messages, tokenize=False, add_generation_prompt=True, **(template_kwargs or {})
    )
    if reasoning == "shared" and rejected_reasoning.strip():
        prompt += f"{ANALYSIS_OPEN}{rejected_reasoning}<|end|><|start|>assistant"
    return {
        "prompt": prompt,
        "chosen": f"{FINAL_OPEN}{pair.chosen}<|return|>",
        "rejected": f"{FINAL_OPEN}{pair.rejected}<|return|>",
    }


def load_pairs(
    export: Path,
    filters: PrefFilters,
    taxonomy: Any,
) -> tuple[list[Pair], PairReport]:
    """Read and check an export: the pairs the recipe keeps, and the count of the rest by reason."""
    check_filters(filters, taxonomy)
    path = export_file(export)
    report = PairReport()
    pairs: list[Pair] = []
    seen: set[str] = set()
    for where, row in read_rows(path):
        report.rows_read += 1
        got = to_pair(where, row, filters, taxonomy)
        row_id = row.get("id") if isinstance(row, dict) else None
        if isinstance(got, str):
            report.drop(row_id, where, got)
        elif got.id in seen:
            report.drop(row_id, where, "duplicate id")
        else:
            seen.add(got.id)
            pairs.append(got)
    report.kept = len(pairs)
    return pairs, report
