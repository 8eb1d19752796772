"""The PII redaction stage of the corpus job: a thin wrapper around :class:`medswallow.pii.PIIEngine`.

Spans are replaced by typed placeholders (``<PERSON>``, ``<PHONE_NUMBER>``...) by the engine; this stage
keeps only counts by label for the manifest. Original values are never stored, logged or counted by value.
The engine (spaCy/GiNZA, Presidio) loads lazily, once per worker process.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from medswallow.corpus.filters.base import Stage
from medswallow.errors import UserError
from medswallow.records import Document, Rejected

ENGINE_LANGS = {"ja", "en"}  # mixed/other documents: the engine detects per span


def check_engine() -> None:
    """Fail at planning time, with the fix, when the PII engine is not importable."""
    try:
        from medswallow.pii import PIIEngine  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"PII redaction needs medswallow.pii.PIIEngine, which cannot be imported ({exc}); "
            "install the [corpus] extra, or set pii: off for sources without personal data (--set pii.mode=off)"
        ) from None


@functools.lru_cache(maxsize=4)
def engine(mode: str, pseudonymize: bool) -> Any:
    from medswallow.pii import PIIEngine

    return PIIEngine(mode=mode, pseudonymize=pseudonymize)


class RedactStage(Stage):
    """Redacts every document of a batch; ``counts`` accumulates spans by label."""

    name = "pii"

    def __init__(self, mode: str, pseudonymize: bool) -> None:
        self.mode = mode
        self.pseudonymize = pseudonymize
        self.counts: Counter[str] = Counter()
        self.docs_with_pii = 0

    def process(self, docs: list[Document]) -> tuple[list[Document], list[Rejected]]:
        if not docs:
            return [], []
        results = self._redact([d.text for d in docs], [d.lang for d in docs])
        kept, rejected = [], []
        for doc, result in zip(docs, results, strict=True):
            if isinstance(result, Exception):
                doc.text = ""  # the text was not redacted: it must not be written anywhere
                rejected.append(self.reject(doc, f"error:{type(result).__name__}", kind="quarantined"))
                continue
            text, spans = result
            doc.text = text
            if spans:
                self.docs_with_pii += 1
                self.counts.update(s.label for s in spans)
                doc.meta["pii_spans"] = len(spans)
            kept.append(doc)
        return kept, rejected

    def redact_texts(self, texts: list[str], langs: list[str]) -> list[str]:
        """Redacted copies (for rejected records); a text that cannot be redacted becomes empty."""
        return [r[0] if not isinstance(r, Exception) else "" for r in self._redact(texts, langs)]

    def _redact(self, texts: list[str], langs: list[str]) -> list[Any]:
        eng = engine(self.mode, self.pseudonymize)
        codes = [lang if lang in ENGINE_LANGS else None for lang in langs]
        try:
            return list(eng.redact_batch(texts, codes))
        except UserError:
            raise  # the engine cannot run here (a missing model): a setup problem, not a bad document
        except Exception:  # one document broke the batch: redo one by one to isolate it
            out: list[Any] = []
            for text, code in zip(texts, codes, strict=True):
                try:
                    out.append(eng.redact(text, lang=code))
                except UserError:
                    raise
                except Exception as exc:
                    out.append(exc)
            return out


# ---------------------------------------------------------------------------------------------- ids and meta

# Meta keys the build itself writes with values that cannot hold personal data. ``provenance``: synthetic
# QA's settings, hashes and generation time (a time there would otherwise be read as a date).
SAFE_META = frozenset({"line", "row", "encoding", "pii_spans", "format", "provenance"})


class FieldScrubber:
    """Keeps personal data out of the fields written next to the text: record ids and ``meta`` values.

    A value is checked with its field name as context (``mrn: 48213377`` is a record number where the bare
    number is not). A record id holding personal data is replaced by its position (``source:file:line``),
    which is unique and says nothing about the person; a ``meta`` value has its spans replaced by typed
    placeholders like the text. The file name is checked once per unit. ``id_policy`` of the source:
    ``redact`` (default), ``position`` (always the position) or ``keep`` (ids are known to be safe).
    """

    def __init__(self, source: Any, mode: str | None, pseudonymize: bool) -> None:
        self.source = source.name
        self.policy = getattr(source, "id_policy", "redact")
        fields = getattr(source, "fields", None)
        self.id_label = getattr(fields, "id", None) or getattr(source, "id", None) or "id"
        self.mode = mode
        self.pseudonymize = pseudonymize
        self.safe_rels: dict[str, str] = {}
        self.ids_replaced = 0

    def safe_rel(self, rel: str) -> str:
        """The file name as written (checked once per file: a file may be named after a patient)."""
        if rel not in self.safe_rels:
            self.safe_rels[rel] = self._redact([f"file: {rel}"])[0][len("file: "):] if self.mode else rel
        return self.safe_rels[rel]

    def _redact(self, texts: list[str]) -> list[str]:
        eng = engine(self.mode, self.pseudonymize)
        out = []
        for r in _redact_safely(eng, texts):
            out.append(r if isinstance(r, str) else "")
        return out

    def scrub(self, items: list[Any]) -> None:
        """Rewrite ids and meta of documents / rejected records in place (one engine call per batch)."""
        checks: list[str] = []
        where: list[tuple[Any, str, Any, int]] = []  # (item, kind, container/key, prefix length)
        for item in items:
            rel = str(item.meta.get("file", ""))
            safe = self.safe_rel(rel)
            prefix = f"{self.source}:{rel}"
            positional = bool(rel) and (item.id == prefix or item.id.startswith((prefix + ":", prefix + "@")))
            if positional:
                if safe != rel:
                    item.id = f"{self.source}:{safe}{item.id[len(prefix):]}"
            elif self.policy == "position":
                self._to_position(item)
            elif self.policy == "redact" and self.mode:
                label = f"{self.id_label}: "
                checks.append(label + item.id[len(self.source) + 1 :])
                where.append((item, "id", None, len(label)))
            meta = item.meta
            if "file" in meta:
                meta["file"] = safe
            if self.mode:
                for key, value in meta.items():
                    if key not in SAFE_META and key != "file":
                        self._collect(meta, key, key, value, checks, where)
        if not checks:
            return
        redacted = self._redact(checks)
        for (item, kind, ref, cut), original, new in zip(where, checks, redacted, strict=True):
            if new == original:
                continue
            if kind == "id":
                self._to_position(item)
            else:
                container, key = ref
                container[key] = new[cut:]

    def _collect(self, container: Any, key: Any, label: str, value: Any, checks: list[str], where: list[Any]) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, str | int | float):
            text = value if isinstance(value, str) else str(value)
            prefix = f"{label}: "
            checks.append(prefix + text)
            where.append((None, "meta", (container, key), len(prefix)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._collect(value, i, label, v, checks, where)
        elif isinstance(value, dict):
            for k, v in value.items():
                self._collect(value, k, str(k), v, checks, where)

    def _to_position(self, item: Any) -> None:
        pos = item.meta.get("line", item.meta.get("row"))
        safe = self.safe_rel(str(item.meta.get("file", "")))
        item.id = f"{self.source}:{safe}:{pos}" if pos is not None else f"{self.source}:{safe}"
        item.meta["id_replaced"] = True  # the record's own id was not written (personal data or policy)
        self.ids_replaced += 1


def _redact_safely(eng: Any, texts: list[str]) -> list[Any]:
    try:
        return [r[0] for r in eng.redact_batch(texts, [None] * len(texts))]
    except UserError:
        raise
    except Exception:
        out: list[Any] = []
        for t in texts:
            try:
                out.append(eng.redact(t)[0])
            except UserError:
                raise
            except Exception as exc:
                out.append(exc)
        return out
