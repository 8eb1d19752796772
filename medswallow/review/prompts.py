"""Clinical prompt sets: read JSONL/CSV files (``safety/prompts/*.jsonl``) and import them into the store.

One prompt per line (JSONL) or row (CSV, header required). Fields: ``prompt`` (or ``text``, required),
``id`` (defaults to FILE-LINE), ``lang`` (``ja``/``en``; guessed from the script when absent), ``topic``,
``system``, ``expects_referral`` (true when a safe answer must send the patient to urgent care),
``reviewer_notes`` (what a safe answer covers; shown to adjudicators). Other fields are kept in ``meta``.
Bad lines are skipped with the line number and the reason; the good ones are imported.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from medswallow.errors import UserError
from medswallow.review.models import Generation, Prompt, PromptSet
from medswallow.review.store import Actor, ReviewStore

KNOWN = {"id", "prompt", "text", "lang", "topic", "system", "expects_referral", "reviewer_notes"}
_JA_CHARS = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


@dataclass(slots=True)
class PromptRow:
    external_id: str
    text: str
    lang: str = "und"
    topic: str = ""
    system: str | None = None
    expects_referral: bool = False
    reviewer_notes: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ImportReport:
    prompt_set_id: int
    name: str
    added: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, reason)


def guess_lang(text: str) -> str:
    return "ja" if _JA_CHARS.search(text) else "en"


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    s = str(value).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"{where}: expects_referral must be true or false, got {value!r}")


def row_from_mapping(data: dict[str, Any], default_id: str, where: str) -> PromptRow:
    text = data.get("prompt", data.get("text"))
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: missing 'prompt' (the question to ask the model)")
    lang = str(data.get("lang") or guess_lang(text)).strip().lower()
    if lang not in ("ja", "en"):
        raise ValueError(f"{where}: lang must be 'ja' or 'en', got {lang!r}")
    system = data.get("system")
    return PromptRow(
        external_id=str(data.get("id") or default_id).strip(),
        text=text.strip(),
        lang=lang,
        topic=str(data.get("topic") or "").strip(),
        system=str(system) if system else None,
        expects_referral=_as_bool(data.get("expects_referral", False), where),
        reviewer_notes=str(data.get("reviewer_notes") or ""),
        meta={k: v for k, v in data.items() if k not in KNOWN},
    )


def read_prompt_file(path: str | Path) -> tuple[list[PromptRow], list[tuple[str, str]]]:
    """Parse a JSONL or CSV prompt file; returns the good rows and (where, reason) for each bad one."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: prompt file not found")
    try:
        raw = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{p}: not UTF-8 text; save it as UTF-8 and retry") from None
    if p.suffix.lower() == ".csv":
        return _read_csv(raw, p)
    if p.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return _read_jsonl(raw, p)
    raise UserError(f"{p}: unsupported prompt file type {p.suffix!r}; use .jsonl or .csv")


def _read_jsonl(raw: str, p: Path) -> tuple[list[PromptRow], list[tuple[str, str]]]:
    rows, bad = [], []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p.name} line {n}"
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError(f"{where}: expected a JSON object")
            rows.append(row_from_mapping(data, f"{p.stem}-{n}", where))
        except json.JSONDecodeError as exc:
            bad.append((where, f"not valid JSON ({exc.msg})"))
        except ValueError as exc:
            bad.append((where, str(exc).split(": ", 1)[-1]))
    return rows, bad


def _read_csv(raw: str, p: Path) -> tuple[list[PromptRow], list[tuple[str, str]]]:
    reader = csv.DictReader(io.StringIO(raw))
    header = reader.fieldnames or []
    if "prompt" not in header and "text" not in header:
        raise UserError(f"{p.name} line 1: the CSV header needs a 'prompt' column (found: {', '.join(header) or 'none'})")
    rows, bad = [], []
    for n, data in enumerate(reader, start=2):
        where = f"{p.name} line {n}"
        try:
            clean = {k: v for k, v in data.items() if k is not None and v not in (None, "")}
            rows.append(row_from_mapping(clean, f"{p.stem}-{n}", where))
        except ValueError as exc:
            bad.append((where, str(exc).split(": ", 1)[-1]))
    return rows, bad


def import_prompts(
    store: ReviewStore,
    actor: Actor,
    name: str,
    rows: list[PromptRow],
    description: str = "",
    source: str = "",
    skipped: list[tuple[str, str]] | None = None,
) -> ImportReport:
    """Add ``rows`` to the prompt set ``name`` (created if new). Re-importing the same rows is a no-op."""
    actor.require("manage_prompts")
    if not name.strip():
        raise UserError("a prompt set needs a name")
    with store.write(actor) as (session, audit):
        pset = session.scalar(select(PromptSet).where(PromptSet.name == name))
        if pset is None:
            pset = PromptSet(name=name, description=description, source=source)
            session.add(pset)
            session.flush()
            audit("prompt_set.create", "prompt_set", pset.id, name=name, source=source)
        report = ImportReport(pset.id, name, skipped=list(skipped or []))
        existing = {p.external_id: p for p in session.scalars(select(Prompt).where(Prompt.prompt_set_id == pset.id))}
        seen: set[str] = set()
        for row in rows:
            if row.external_id in seen:
                report.skipped.append((row.external_id, "duplicate id in this import"))
                continue
            seen.add(row.external_id)
            old = existing.get(row.external_id)
            if old is not None:
                if old.text == row.text and old.system == row.system:
                    report.unchanged += 1
                    continue
                answered = session.scalar(select(Generation.id).where(Generation.prompt_id == old.id).limit(1))
                if answered is not None:
                    report.skipped.append(
                        (row.external_id, "text changed but answers to the old text exist: import it under a new set name")
                    )
                    continue
                old.text, old.system = row.text, row.system
                report.added += 1
                continue
            session.add(
                Prompt(
                    prompt_set_id=pset.id,
                    external_id=row.external_id,
                    lang=row.lang,
                    topic=row.topic,
                    text=row.text,
                    system=row.system,
                    expects_referral=row.expects_referral,
                    reviewer_notes=row.reviewer_notes,
                    meta=row.meta,
                )
            )
            report.added += 1
        audit(
            "prompt_set.import",
            "prompt_set",
            pset.id,
            added=report.added,
            unchanged=report.unchanged,
            skipped=len(report.skipped),
            source=source,
        )
    return report


def import_prompt_file(
    store: ReviewStore, actor: Actor, path: str | Path, name: str | None = None, description: str = ""
) -> ImportReport:
    rows, bad = read_prompt_file(path)
    if not rows and bad:
        shown = "; ".join(f"{w}: {r}" for w, r in bad[:5])
        raise UserError(f"{path}: no valid prompt found ({shown})")
    return import_prompts(store, actor, name or Path(path).stem, rows, description, str(path), skipped=bad)


@dataclass(frozen=True, slots=True)
class PromptSetInfo:
    id: int
    name: str
    description: str
    n_prompts: int


def list_prompt_sets(store: ReviewStore) -> list[PromptSetInfo]:
    from sqlalchemy import func

    with store.read() as session:
        rows = session.execute(
            select(PromptSet, func.count(Prompt.id))
            .outerjoin(Prompt, Prompt.prompt_set_id == PromptSet.id)
            .group_by(PromptSet.id)
            .order_by(PromptSet.name)
        ).all()
        return [PromptSetInfo(s.id, s.name, s.description, n) for s, n in rows]


def prompt_set_id(store: ReviewStore, name: str) -> int:
    with store.read() as session:
        sid = session.scalar(select(PromptSet.id).where(PromptSet.name == name))
        if sid is None:
            from medswallow.errors import did_you_mean

            names = list(session.scalars(select(PromptSet.name)))
            raise UserError(f"no prompt set named {name!r}{did_you_mean(name, names)}")
        return int(sid)


def generation_ids(store: ReviewStore, name: str | None = None) -> list[int]:
    """Ids of the answers to the prompt set ``name`` (every answer when None), oldest first."""
    q = select(Generation.id).order_by(Generation.id)
    if name is not None:
        q = q.join(Prompt, Prompt.id == Generation.prompt_id).where(Prompt.prompt_set_id == prompt_set_id(store, name))
    with store.read() as session:
        return list(session.scalars(q))
