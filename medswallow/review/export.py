"""Export reviews: labels as JSONL and HF datasets Parquet, and DPO preference pairs for TRL.

``medswallow review export --out DIR`` writes:

``DIR/labels.jsonl`` and ``DIR/labels.parquet`` — one row per reviewed answer::

    id                 int     generation id in the review database
    prompt_set, prompt_id, lang, topic, prompt, system
    model, checkpoint  str     who answered
    sampling           str     JSON of every sampling setting used
    answer, reasoning  str     final channel and analysis channel of the answer
    finish_reason      str;  truncated: bool;  latency_s: float
    annotations        list of {annotator, verdict, severity, categories, spans, corrected_text,
                                confidence, taxonomy_version}
                       annotator is a pseudonym: "A" + 6 hex digits of an HMAC of the username keyed
                       with a random secret of the database (stable across its exports, not derivable)
    final_source       adjudicated | unanimous | majority | partial | disputed  (see labels.FinalLabel)
    final_verdict_source, final_categories_source, final_severity_source
                       how each part was decided: adjudicated | unanimous | majority | worst | disputed
    final_verdict      safe | unsafe | null (disputed)
    final_severity, final_categories, final_spans, final_corrected_text
    taxonomy_version   version of safety/taxonomy.yaml at export time

    spans: list of {start, end, category, severity, quote, note}; Python str offsets into ``answer``, end
    exclusive; ``note`` is the annotator's note on that span.

``DIR/dpo.jsonl`` and ``DIR/dpo.parquet`` — TRL's conversational preference format (``DPOTrainer`` reads
``prompt``/``chosen``/``rejected`` directly), one row per answer whose final verdict is unsafe and that has
a clinician-corrected text changing at least ``MIN_CORRECTION_CHARS`` (3) characters (``--dpo-min-change``)::

    prompt     [{"role": "system", "content": ...}?, {"role": "user", "content": PROMPT}]
    chosen     [{"role": "assistant", "content": CLINICIAN-CORRECTED ANSWER}]
    rejected   [{"role": "assistant", "content": THE UNSAFE MODEL ANSWER (final channel)}]
    id, model, checkpoint, lang, topic, categories, severity, label_source, taxonomy_version

The corrected text is the adjudicator's when the answer was adjudicated, else that of the most confident
annotator who agreed with the final verdict. ``DIR/manifest.json`` has the counts, the reasons rows were
left out, and the taxonomy version.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import os
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medswallow.errors import UserError
from medswallow.review.labels import (
    DEFAULT_POLICY,
    FinalLabel,
    GenerationRow,
    LabelPolicy,
    LabelRow,
    ReviewData,
    final_labels,
    load_review,
)
from medswallow.review.models import utcnow
from medswallow.review.store import Actor, ReviewStore
from medswallow.review.taxonomy import Taxonomy

DPO_COLUMNS = ("prompt", "chosen", "rejected")
EXPORT_ROOT_ENV = "MEDSWALLOW_REVIEW_EXPORT_ROOT"


def export_root() -> Path:
    return Path(os.environ.get(EXPORT_ROOT_ENV, "review-exports")).expanduser().resolve()


def export_path(out_dir: str | Path) -> Path:
    """``out_dir`` inside the export root, or a UserError: the web app never writes elsewhere on the server."""
    root = export_root()
    wanted = Path(out_dir).expanduser()
    target = (wanted if wanted.is_absolute() else root / wanted).resolve()  # resolves ``..`` and symlinks
    if target != root and root not in target.parents:
        raise UserError(
            f"exports from the app go under {root}; choose a folder name inside it "
            f"(the server's admin sets the root with {EXPORT_ROOT_ENV})"
        )
    return target


def pseudonym_key(store: ReviewStore) -> bytes:
    from medswallow.review.store import secret

    return secret(store, "pseudonym_key")


@dataclass(slots=True)
class ExportReport:
    out_dir: Path
    labels: int = 0
    dpo_pairs: int = 0
    dpo_skipped: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def _spans(spans: Any) -> list[dict[str, Any]]:
    return [
        {"start": s.start, "end": s.end, "category": s.category, "severity": s.severity, "quote": s.quote, "note": s.note}
        for s in spans
    ]


def pseudonyms(data: ReviewData, key: bytes) -> dict[str, str]:
    """Annotator pseudonyms: a keyed HMAC of the username (the key is a random secret of the database).

    Not derivable from the usernames (sorted order, initials) by anyone without the database, stable
    across exports of one database (so an annotator's labels can be followed from export to export).
    """
    names = sorted({r.annotator for r in data.labels} | {a.adjudicator for a in data.adjudications.values()})
    for width in range(6, 65, 2):  # lengthen on the (unlikely) collision of two short digests
        alias = {n: "A" + hmac.new(key, n.lower().encode(), hashlib.sha256).hexdigest()[:width] for n in names}
        if len(set(alias.values())) == len(alias):
            return alias
    raise AssertionError("SHA-256 collision")


MIN_CORRECTION_CHARS = 3
"""A correction must change at least this many characters (after folding whitespace and full-width forms)
to become a DPO pair: a pair whose answers differ by a character or two teaches DPO next to nothing and
mostly adds noise. Such answers stay in labels.jsonl with their correction."""


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def changed_chars(a: str, b: str) -> int:
    """How many characters an edit from ``a`` to ``b`` touches (replaced, inserted or deleted)."""
    prefix = 0
    limit = min(len(a), len(b))
    while prefix < limit and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and a[len(a) - 1 - suffix] == b[len(b) - 1 - suffix]:
        suffix += 1
    a_mid, b_mid = a[prefix : len(a) - suffix], b[prefix : len(b) - suffix]
    if not a_mid or not b_mid:
        return len(a_mid) + len(b_mid)
    matcher = difflib.SequenceMatcher(None, a_mid, b_mid, autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


def label_row(g: GenerationRow, labels: list[LabelRow], final: FinalLabel, alias: dict[str, str], version: str) -> dict[str, Any]:
    return {
        "id": g.generation_id,
        "prompt_set": g.prompt_set,
        "prompt_id": g.prompt_id,
        "lang": g.lang,
        "topic": g.topic,
        "prompt": g.prompt,
        "system": g.system or "",
        "model": g.model,
        "checkpoint": g.checkpoint,
        "sampling": json.dumps(g.sampling, sort_keys=True, ensure_ascii=False),
        "answer": g.answer,
        "reasoning": g.reasoning,
        "finish_reason": g.finish_reason,
        "truncated": g.truncated,
        "latency_s": g.latency_s,
        "annotations": [
            {
                "annotator": alias[r.annotator],
                "verdict": r.verdict,
                "severity": r.severity or "",
                "categories": list(r.categories),
                "spans": _spans(r.spans),
                "corrected_text": r.corrected_text,
                "confidence": r.confidence,
                "taxonomy_version": r.taxonomy_version,
            }
            for r in labels
        ],
        "final_source": final.source,
        "final_verdict_source": final.verdict_source,
        "final_categories_source": final.categories_source,
        "final_severity_source": final.severity_source,
        "final_verdict": final.verdict,
        "final_severity": final.severity or "",
        "final_categories": list(final.categories),
        "final_spans": _spans(final.spans),
        "final_corrected_text": final.corrected_text,
        "taxonomy_version": version,
    }


def dpo_row(g: GenerationRow, final: FinalLabel, version: str, min_change: int = MIN_CORRECTION_CHARS) -> dict[str, Any] | str:
    """A preference pair, or the reason there is none."""
    if final.verdict is None:
        return "disputed (not adjudicated)"
    if final.verdict != "unsafe":
        return "judged safe"
    if not final.corrected_text.strip():
        return "no corrected text"
    if not g.answer.strip():
        return "empty model answer"
    if _fold(final.corrected_text) == _fold(g.answer):
        return "correction equals the answer (up to whitespace and character width)"
    if changed_chars(_fold(g.answer), _fold(final.corrected_text)) < min_change:
        return f"correction changes fewer than {min_change} characters"
    prompt = ([{"role": "system", "content": g.system}] if g.system else []) + [{"role": "user", "content": g.prompt}]
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": final.corrected_text}],
        "rejected": [{"role": "assistant", "content": g.answer}],
        "id": g.generation_id,
        "model": g.model,
        "checkpoint": g.checkpoint,
        "lang": g.lang,
        "topic": g.topic,
        "categories": list(final.categories),
        "severity": final.severity or "",
        "label_source": final.source,
        "taxonomy_version": final.taxonomy_version or version,
    }


def _write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    from datasets import Dataset

    Dataset.from_list(rows).to_parquet(str(path))


def export_review(
    store: ReviewStore,
    actor: Actor,
    out_dir: str | Path,
    taxonomy: Taxonomy,
    prompt_set: str | None = None,
    parquet: bool = True,
    policy: LabelPolicy = DEFAULT_POLICY,
    min_change: int = MIN_CORRECTION_CHARS,
) -> ExportReport:
    """Write the export files into ``out_dir``.

    A logged-in user (the web app) may write only under the export root (``$MEDSWALLOW_REVIEW_EXPORT_ROOT``,
    default ``./review-exports``; a relative ``out_dir`` is taken inside it); the operator at the command
    line, who has the server's shell anyway, may write anywhere.
    """
    actor.require("export")
    out = Path(out_dir) if actor.id is None else export_path(out_dir)
    data = load_review(store, actor, prompt_set)
    finals = final_labels(data, policy)
    grouped = data.by_generation()
    alias = pseudonyms(data, pseudonym_key(store))
    out.mkdir(parents=True, exist_ok=True)
    labels = [
        label_row(data.generations[gid], grouped.get(gid, []), fl, alias, taxonomy.version)
        for gid, fl in finals.items()
    ]
    dpo: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    for gid, fl in finals.items():
        row = dpo_row(data.generations[gid], fl, taxonomy.version, min_change)
        if isinstance(row, str):
            skipped[row] += 1
        else:
            dpo.append(row)
    report = ExportReport(out, labels=len(labels), dpo_pairs=len(dpo), dpo_skipped=dict(skipped))
    for name, rows in (("labels", labels), ("dpo", dpo)):
        _write_jsonl(rows, out / f"{name}.jsonl")
        report.files.append(out / f"{name}.jsonl")
        if parquet and rows:
            _write_parquet(rows, out / f"{name}.parquet")
            report.files.append(out / f"{name}.parquet")
    manifest = {
        "exported_at": utcnow().isoformat() + "Z",
        "database": store.url,
        "prompt_set": prompt_set,
        "taxonomy_version": taxonomy.version,
        "label_taxonomy_versions": dict(Counter(r.taxonomy_version for r in data.labels)),
        "generations": len(data.generations),
        "labelled": len(labels),
        "final_sources": dict(Counter(fl.source for fl in finals.values())),
        "severity_rule": policy.severity,
        "dpo_min_changed_chars": min_change,
        "dpo_pairs": len(dpo),
        "dpo_skipped": dict(skipped),
        "dpo_format": "TRL conversational preference: prompt/chosen/rejected message lists",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report.files.append(out / "manifest.json")
    with store.write(actor) as (_session, audit):
        audit("export", "review", None, out_dir=str(out), prompt_set=prompt_set, labels=len(labels), dpo_pairs=len(dpo))
    return report
