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
