"""Reading and checking the JSONL files of ``medswallow pii``: documents to scan and gold-labelled documents.

A bad line becomes a ``BadLine`` naming the file, the line and the field; the caller either stops with that
message or quarantines the line. Messages never quote the line's text (it may hold the very PII being removed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medswallow.errors import UserError


@dataclass(slots=True)
class InputDoc:
    """One line of a ``pii detect``/``redact`` input: ``{"id", "text", "lang"?}``."""

    line: int
    id: str
    text: str
    lang: str | None
    spans: list[dict[str, Any]] | None = None
    kind: str = ""


@dataclass(slots=True)
class BadLine:
    """A line that could not be used, with the reason (no content)."""

    line: int
    id: str | None
    reason: str

    def message(self, path: Path) -> str:
        where = f"{path}:{self.line}" + (f" (id {self.id!r})" if self.id else "")
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "reason": self.reason}


def _parse(line_no: int, raw: bytes, gold: bool) -> InputDoc | BadLine:
    try:
        text_line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(line_no, None, f"not UTF-8 (byte {exc.start}); re-encode the file as UTF-8")
    try:
        obj = json.loads(text_line)
    except json.JSONDecodeError as exc:
        return BadLine(line_no, None, f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return BadLine(line_no, None, "expected a JSON object like {\"id\": ..., \"text\": ...}")
    doc_id = obj.get("id")
    doc_id = str(doc_id) if doc_id is not None else None
    if doc_id is None:
        return BadLine(line_no, None, "missing field 'id'")
    text = obj.get("text")
    if not isinstance(text, str):
        return BadLine(line_no, doc_id, "missing field 'text'" if text is None else "field 'text' must be a string")
    lang = obj.get("lang")
    if lang is not None and not isinstance(lang, str):
        return BadLine(line_no, doc_id, "field 'lang' must be a string such as \"ja\" or \"en\"")
    spans = None
    if gold:
        spans = obj.get("spans")
        if not isinstance(spans, list):
            return BadLine(line_no, doc_id, "missing field 'spans' (a list of {\"start\", \"end\", \"label\"})")
        for k, sp in enumerate(spans):
            if not isinstance(sp, dict) or not all(key in sp for key in ("start", "end", "label")):
                return BadLine(line_no, doc_id, f"spans[{k}] needs 'start', 'end' and 'label'")
            if not (isinstance(sp["start"], int) and isinstance(sp["end"], int)) or not 0 <= sp["start"] < sp["end"] <= len(text):
                return BadLine(line_no, doc_id, f"spans[{k}] has offsets outside the text (0 <= start < end <= {len(text)})")
    kind = obj.get("kind")
    return InputDoc(line_no, doc_id, text, lang or None, spans, kind if isinstance(kind, str) else "")


def read_docs(path: Path, gold: bool = False) -> Iterator[InputDoc | BadLine]:
    """Documents of a JSONL file, one per non-empty line, or a ``BadLine`` for each unusable line."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a .jsonl file")
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if raw.strip():
                yield _parse(line_no, raw.rstrip(b"\r\n"), gold)


def count_lines(path: Path) -> int:
    """Non-empty lines of a file (for progress totals)."""
    with path.open("rb") as fh:
        return sum(1 for raw in fh if raw.strip())
