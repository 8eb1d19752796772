"""Stages and filters: the two hooks a processing step implements.

A :class:`Stage` maps a batch of documents to ``(kept, rejected)``. A :class:`Filter` is a stage with one
method to override, ``filter(doc) -> bool | (False, reason)``; the base class builds the rejected records
(reason prefixed with the filter's name) and quarantines a document whose check raises, so nothing
vanishes and the error shows up in the manifest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from medswallow.records import Document, Rejected

FilterResult = bool | tuple[bool, str]


class Stage(ABC):
    """A step over a batch of documents. Must be picklable: load heavy models lazily in :meth:`process`."""

    name: str = "stage"

    @abstractmethod
    def process(self, docs: list[Document]) -> tuple[list[Document], list[Rejected]]:
        """Return the documents kept and a rejected record for every document not kept."""

    def reject(self, doc: Document, reason: str, detail: str = "", kind: str = "dropped") -> Rejected:
        return Rejected(
            id=doc.id, source=doc.source, stage=self.name, reason=f"{self.name}:{reason}", kind=kind,
            text=doc.text, detail=detail,
            meta={"lang": doc.lang, **{k: v for k, v in doc.meta.items() if k in ("file", "line", "row", "pmid")}},
        )


class Filter(Stage):
    """Override :meth:`filter`; return True to keep, or ``(False, "reason")`` to drop with a reason."""

    name = "filter"

    @abstractmethod
    def filter(self, doc: Document) -> FilterResult:
        """Keep the document?"""

    def process(self, docs: list[Document]) -> tuple[list[Document], list[Rejected]]:
        kept: list[Document] = []
        rejected: list[Rejected] = []
        for doc in docs:
            try:
                result = self.filter(doc)
            except Exception as exc:  # one bad document must not end the build: quarantine it, visibly
                # Only the exception type is kept: its message could quote the document (PII).
                rejected.append(self.reject(doc, f"error:{type(exc).__name__}", kind="quarantined"))
                continue
            ok, reason = (result, "rejected") if isinstance(result, bool) else result
            if ok:
                kept.append(doc)
            else:
                rejected.append(self.reject(doc, reason))
        return kept, rejected
