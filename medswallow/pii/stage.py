"""Batched, multi-process PII work for the corpus pipeline and the CLI.

The engine travels to worker processes unloaded (it pickles to its settings) and loads Presidio, Sudachi and
spaCy once per worker. Results come back in input order. Only counts leave a worker's results as statistics;
values never do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medswallow.pii.engine import PIIEngine
from medswallow.records import Document, Span

Batch = tuple[list[str], list[str | None]]

_WORKER_ENGINE: PIIEngine | None = None


def _init_worker(engine: PIIEngine) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = engine.load()


@dataclass(frozen=True, slots=True)
class DocFailure:
    """The engine failed on one document: the exception type and where it was raised (never its message or text)."""

    reason: str


def failure_reason(exc: BaseException) -> str:
    """``IndexError in names.py:434`` - enough to report and fix, with nothing of the document in it."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" in {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"PII engine error: {type(exc).__name__}{where}"


def analyze_each(engine: PIIEngine, texts: list[str], langs: list[str | None]) -> list[list[Span] | DocFailure]:
    """``analyze_batch``, but a document the engine fails on becomes a ``DocFailure`` instead of failing the batch."""
    try:
        return list(engine.analyze_batch(texts, langs))
    except Exception:  # find the document(s) at fault; the others still get their spans
        out: list[list[Span] | DocFailure] = []
        for text, lang in zip(texts, langs, strict=True):
            try:
                out.append(engine.analyze(text, lang))
            except Exception as exc:
                out.append(DocFailure(failure_reason(exc)))
        return out


def _analyze(batch: Batch) -> list[list[Span] | DocFailure]:
    assert _WORKER_ENGINE is not None
    texts, langs = batch
    return analyze_each(_WORKER_ENGINE, texts, langs)


def analyze_batches(engine: PIIEngine, batches: Iterable[Batch], workers: int = 1) -> Iterator[list[list[Span] | DocFailure]]:
    """Spans (or a ``DocFailure``) per document for each batch of (texts, langs), in order.

    ``workers > 1`` runs batches in separate processes.
    """
    if workers <= 1:
        for texts, langs in batches:
            yield analyze_each(engine, texts, langs)
        return
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(engine,)) as pool:
        yield from pool.map(_analyze, batches, chunksize=1)


def redact_documents(engine: PIIEngine, docs: Sequence[Document]) -> tuple[list[Document], Counter[str]]:
    """Redact a batch of corpus documents in place of their text; returns them and PII counts by label.

    ``doc.meta["pii"]`` receives the per-document counts (labels and numbers only).
    """
    from medswallow.pii.anonymize import replace_spans

    counts: Counter[str] = Counter()
    all_spans = engine.analyze_batch([d.text for d in docs], [d.lang if d.lang not in ("", "und") else None for d in docs])
    for doc, spans in zip(docs, all_spans, strict=True):
        doc.text = replace_spans(doc.text, spans, pseudonymize=engine.pseudonymize)
        per_doc = Counter(s.label for s in spans)
        doc.meta["pii"] = dict(sorted(per_doc.items()))
        counts.update(per_doc)
    return list(docs), counts


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
