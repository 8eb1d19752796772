"""Benchmark decontamination: drop documents that reproduce items of the JP medical benchmarks.

Items (question and choices) come from the benchmark loaders of ``medswallow eval`` for sets that name a
task, or from plain JSONL/text files for any other set. Each item is split into segments (question, each
choice) and indexed by character n-grams of its matching key (NFKC, case-folded, no whitespace or
punctuation), so a reformatted copy ("a. ..." lists, full-width letters) still matches. A document is
contaminated by an item when it holds at least ``min_overlap`` of that item's n-grams; the rejected record
names the set, the item id and the overlap.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medswallow.corpus.filters.base import Stage
from medswallow.corpus.ngrams import char_ngram_hashes
from medswallow.corpus.normalize import match_key
from medswallow.errors import UserError
from medswallow.records import Document, Rejected


@dataclass
class BenchmarkIndex:
    """n-gram hash -> items (CSR arrays), plus each item's n-gram count and name."""

    ngram: int
    hashes: np.ndarray  # sorted unique uint64
    offsets: np.ndarray  # int64, len(hashes) + 1
    item_of: np.ndarray  # int32 item numbers, grouped by hash
    item_ngrams: np.ndarray  # int32, distinct n-grams per item
    items: list[tuple[str, str]]  # (set name, item id)
    sets: dict[str, dict[str, int]]  # per set: items read, indexed, too short

    def save(self, path: Path) -> None:
        np.savez(path.with_suffix(".npz"), hashes=self.hashes, offsets=self.offsets, item_of=self.item_of, item_ngrams=self.item_ngrams)
        path.with_suffix(".json").write_text(
            json.dumps({"ngram": self.ngram, "items": self.items, "sets": self.sets}, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: Path) -> BenchmarkIndex:
        arrays = np.load(path.with_suffix(".npz"))
        info = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return cls(
            info["ngram"], arrays["hashes"], arrays["offsets"], arrays["item_of"], arrays["item_ngrams"],
            [tuple(x) for x in info["items"]], info["sets"],
        )

    def match(self, text: str) -> tuple[int, float] | None:
        """The item with the largest overlap if it reaches any n-gram at all: ``(item number, overlap)``."""
        if len(self.hashes) == 0:
            return None
        hit = _hits(self.hashes, np.unique(char_ngram_hashes(match_key(text), self.ngram)))
        if len(hit) == 0:
            return None
        starts, ends = self.offsets[hit], self.offsets[hit + 1]
        lengths = ends - starts
        idx = np.repeat(starts - np.cumsum(np.r_[0, lengths[:-1]]), lengths) + np.arange(lengths.sum())
        items, counts = np.unique(self.item_of[idx], return_counts=True)
        overlap = counts / self.item_ngrams[items]
        best = int(np.argmax(overlap))
        return int(items[best]), float(overlap[best])


def _hits(hashes: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Positions in the sorted ``hashes`` of the values of ``h`` that are present."""
    pos = np.searchsorted(hashes, h)
    inside = pos < len(hashes)
    pos, h = pos[inside], h[inside]
    return pos[hashes[pos] == h]


# ---------------------------------------------------------------------------------------------- building


def iter_items(entry: Any, base_dir: Path) -> Iterator[tuple[str, str]]:
    """``(item_id, text)`` of one benchmark set of the recipe."""
    path = Path(entry.path)
    local = path if path.is_absolute() else base_dir / path
    if entry.task:
        try:
            from medswallow.bench import iter_benchmark_texts
        except ImportError:
            raise UserError(
                f"decontamination set '{entry.task}' names a task, but the benchmark loaders are not installed; "
                "give the items as a JSONL or text file (format: jsonl|text) instead"
            ) from None
        yield from iter_benchmark_texts(entry.task, str(local) if local.exists() else entry.path)
        return
    if not local.is_file():
        raise UserError(f"decontamination set '{set_name(entry)}': file not found: {local}")
    fmt = entry.format
    if fmt == "auto":
        fmt = "jsonl" if local.name.endswith((".jsonl", ".json", ".jsonl.gz")) else "text"
    from medswallow.corpus.sources.base import read_text_file

    text, why = read_text_file(str(local), "auto", 1 << 31)
    if text is None:
        raise UserError(f"decontamination set '{set_name(entry)}': cannot read {local} ({why})")
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if fmt == "text":
            yield f"{n}", line
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UserError(f"decontamination set '{set_name(entry)}': {local} line {n} is not valid JSON") from None
        parts: list[str] = []
        for field in entry.fields:
            value = record.get(field) if isinstance(record, dict) else None
            if isinstance(value, list):
                parts.extend(str(v) for v in value)
            elif isinstance(value, dict):
                parts.extend(str(v) for v in value.values())
            elif value is not None:
                parts.append(str(value))
        item_id = str(record.get(entry.id_field)) if entry.id_field and isinstance(record, dict) else str(n)
        if parts:
            yield item_id, "\n".join(parts)


def set_name(entry: Any) -> str:
    return entry.name or entry.task or Path(entry.path).stem


def build_index(cfg: Any, base_dir: Path) -> BenchmarkIndex:
    """Index every item of every set named in the recipe's ``decontamination`` section."""
    n = cfg.ngram
    items: list[tuple[str, str]] = []
    sets: dict[str, dict[str, int]] = {}
    hash_parts: list[np.ndarray] = []
    item_parts: list[np.ndarray] = []
    counts: list[int] = []
    for entry in cfg.benchmarks:
        name = set_name(entry)
        stats = sets.setdefault(name, {"items": 0, "indexed": 0, "too_short": 0})
        for item_id, text in iter_items(entry, base_dir):
            stats["items"] += 1
            # Segments (question, each choice) are matched separately: renderings put labels between them.
            keys = [match_key(seg) for seg in text.split("\n")]
            grams = [char_ngram_hashes(k, n) for k in keys if len(k) >= n]
            if not grams:
                stats["too_short"] += 1
                continue
            h = np.unique(np.concatenate(grams))
            number = len(items)
            items.append((name, item_id))
            counts.append(len(h))
            hash_parts.append(h)
            item_parts.append(np.full(len(h), number, dtype=np.int32))
            stats["indexed"] += 1
    if not hash_parts:
        empty = np.empty(0, dtype=np.uint64)
        return BenchmarkIndex(n, empty, np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32), items, sets)
    all_h = np.concatenate(hash_parts)
    all_i = np.concatenate(item_parts)
    order = np.lexsort((all_i, all_h))
    all_h, all_i = all_h[order], all_i[order]
    uniq, starts = np.unique(all_h, return_index=True)
    offsets = np.r_[starts, len(all_h)].astype(np.int64)
    return BenchmarkIndex(n, uniq, offsets, all_i, np.asarray(counts, dtype=np.int32), items, sets)


@functools.lru_cache(maxsize=2)
def load_index(path: str) -> BenchmarkIndex:
    return BenchmarkIndex.load(Path(path))


class DecontamStage(Stage):
    """Drops documents holding at least ``min_overlap`` of one benchmark item's n-grams."""

    name = "decontam"

    def __init__(self, index_path: str, min_overlap: float) -> None:
        self.index_path = index_path
        self.min_overlap = min_overlap

    def process(self, docs: list[Document]) -> tuple[list[Document], list[Rejected]]:
        index = load_index(self.index_path)
        kept: list[Document] = []
        rejected: list[Rejected] = []
        for doc in docs:
            found = index.match(doc.text)
            if found is None or found[1] < self.min_overlap:
                kept.append(doc)
                continue
            set_, item = index.items[found[0]]
            rejected.append(self.reject(doc, set_, detail=f"item {item}, overlap {found[1]:.2f}"))
        return kept, rejected
