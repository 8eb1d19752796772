"""One unit of work: read -> normalise -> language -> quality -> PII -> decontaminate -> tokens and dedup keys.

Documents stream through the stages in batches and are written as Parquet row groups as they come, so a
unit's memory stays bounded whatever its size. Every record read ends up in exactly one place: the unit's
intermediate Parquet (survivors), or its rejected file with a reason (dropped or quarantined). The stats
file counts both; it is written last, so its presence means the unit is complete.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medswallow.corpus.filters.base import Stage
from medswallow.corpus.layout import Layout, commit, tmp_path, write_json
from medswallow.corpus.sources.base import Item, SourceReader, Unit
from medswallow.errors import UserError
from medswallow.records import Document, Rejected

BATCH = 256
ROW_GROUP = 2048
REDACT_MARGIN = 200  # extra characters redacted before a rejected text is cut, so no value is cut in half


@dataclass
class UnitStats:
    source: str
    unit: str
    files: int = 1
    read: int = 0
    kept: int = 0
    bytes_in: int = 0
    tokens_kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    tokens_dropped: Counter[str] = field(default_factory=Counter)
    langs: Counter[str] = field(default_factory=Counter)
    pii: Counter[str] = field(default_factory=Counter)
    pii_docs: int = 0
    decontam: list[dict[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def tick(self, stage: str, since: float) -> None:
        """Add the CPU seconds since ``since`` (``time.process_time()``) to a stage: per-stage cost that
        does not depend on how busy the machine is."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.process_time() - since

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "unit": self.unit, "files": self.files, "read": self.read, "kept": self.kept,
            "bytes_in": self.bytes_in, "tokens_kept": self.tokens_kept,
            "dropped": dict(self.dropped), "quarantined": dict(self.quarantined),
            "tokens_dropped": dict(self.tokens_dropped), "langs": dict(self.langs), "pii": dict(self.pii),
            "pii_docs": self.pii_docs, "decontam": self.decontam,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def build_stages(recipe: Any, source: Any, layout: Layout) -> list[Stage]:
    """The stages a source's documents go through, in order."""
    from medswallow.corpus.filters.quality import LanguageFilter, quality_filters

    stages: list[Stage] = [LanguageFilter(recipe.languages.keep, recipe.languages.mixed_min_share)]
    if source.quality:
        stages.extend(quality_filters(recipe.quality))
    mode = recipe.pii_mode(source)
    if mode != "off":
        from medswallow.corpus.redact import RedactStage

        stages.append(RedactStage(mode, recipe.pii.pseudonymize))
    if recipe.decontamination.enabled and source.decontaminate and layout.decontam_index.with_suffix(".npz").exists():
        from medswallow.corpus.decontam import DecontamStage

        stages.append(DecontamStage(str(layout.decontam_index), recipe.decontamination.min_overlap))
    return stages


def safe_read(reader: SourceReader, unit: Unit) -> Iterator[Item]:
    """The reader's records; an unexpected error ends the unit as one quarantined record naming it."""
    it = reader.read(unit)
    n = 0
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except (UserError, MemoryError):
            raise
        except Exception as exc:  # a reader bug or an unforeseen library error on odd input
            yield reader.quarantine(
                f"{unit.rel}@{n}", f"read_error:{type(exc).__name__}", unit,
                detail=f"reading stopped after {n} records; the rest of the file is not in the build",
            )
            return
        n += 1
        yield item


class UnitWriter:
    """Streams survivors to the unit's Parquet and rejected records to its JSONL."""

    def __init__(self, recipe: Any, layout: Layout, rank: int) -> None:
        self.recipe = recipe
        self.layout = layout
        self.rank = rank
        self.data_path = layout.process_data(rank)
        self.rej_path = layout.rejected_file("process", rank)
        self.sig_path = layout.process_signatures(rank)
        self.data_tmp = tmp_path(self.data_path)
        self.rej_tmp = tmp_path(self.rej_path)
        self.sig_tmp = tmp_path(self.sig_path)
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        self.rej_path.parent.mkdir(parents=True, exist_ok=True)
        self.rej_file = self.rej_tmp.open("w", encoding="utf-8")
        self.sig_file = self.sig_tmp.open("wb")  # streamed: a unit's signatures never sit in memory whole
        self.n_rejected = 0
        self.schema = process_schema(recipe.dedup.bands)
        self.pending: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self.n_pending = 0
        self.writer: Any = None

    def add_rows(self, columns: dict[str, list[Any]], signatures: np.ndarray) -> None:
        """Append rows given as columns (building Arrow columns is much cheaper than rows) and their
        MinHash signatures (row order is the same)."""
        self.sig_file.write(np.ascontiguousarray(signatures, dtype="<u4").tobytes())
        for name, values in columns.items():
            self.pending[name].extend(values)
        self.n_pending += len(columns["id"])
        if self.n_pending >= ROW_GROUP:
            self._flush()

    def add_rejected(self, records: list[Rejected]) -> None:
        for r in records:
            self.rej_file.write(json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
        self.n_rejected += len(records)

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(self.pending, schema=self.schema)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.data_tmp, self.schema, compression="zstd")
        self.writer.write_table(table)
        self.pending = {name: [] for name in self.schema.names}
        self.n_pending = 0

    def close(self) -> None:
        import pyarrow.parquet as pq

        if self.n_pending:
            self._flush()
        elif self.writer is None:
            pq.write_table(self.schema.empty_table(), self.data_tmp, compression="zstd")
        if self.writer is not None:
            self.writer.close()
        self.rej_file.close()
        self.sig_file.close()
        commit(self.sig_tmp, self.sig_path)
        commit(self.data_tmp, self.data_path)
        if self.n_rejected:
            commit(self.rej_tmp, self.rej_path)
        else:
            self.rej_tmp.unlink(missing_ok=True)
            self.rej_path.unlink(missing_ok=True)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.rej_file.close()
        self.sig_file.close()
        for tmp in (self.data_tmp, self.rej_tmp, self.sig_tmp):
            tmp.unlink(missing_ok=True)


def process_schema(bands: int) -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()), ("text", pa.large_string()), ("source", pa.string()), ("lang", pa.string()),
            ("n_tokens", pa.int32()), ("n_bytes", pa.int64()), ("meta", pa.string()), ("dedup", pa.bool_()),
            ("order", pa.uint64()), ("exact", pa.uint64()),
            *[(f"b{j}", pa.uint64()) for j in range(bands)],
        ]
    )


class UnitProcessor:
    """Runs one unit through the stages; see the module docstring."""

    def __init__(self, recipe: Any, layout: Layout, rank: int, files: list[Unit]) -> None:
        from medswallow.corpus.dedup.minhash import MinHasher
        from medswallow.corpus.normalize import Normalizer
        from medswallow.corpus.sources import make_reader

        self.recipe = recipe
        self.layout = layout
        self.rank = rank
        unit = files[0]
        self.files = files
        self.source = recipe.source(unit.source)
        self.reader = make_reader(self.source, recipe.base_dir, recipe)
        self.normalize = Normalizer(recipe.normalize)
        self.stages = build_stages(recipe, self.source, layout)
        self.redactor = next((s for s in self.stages if s.name == "pii"), None)
        self.scrubber = self._scrubber()
        d = recipe.dedup
        self.dedup = self.source.dedup and (d.exact or d.near)
        self.hasher = MinHasher(d.bands, d.rows, d.seed, d.ngram_ja, d.ngram_other)
        self.stats = UnitStats(unit.source, unit.rel, files=len(files))
        self.writer = UnitWriter(recipe, layout, rank)

    def _scrubber(self) -> Any:
        """Ids and meta pass the PII engine where the source is redacted (see FieldScrubber)."""
        mode = self.recipe.pii_mode(self.source)
        if mode == "off" and self.source.id_policy != "position":
            return None
        from medswallow.corpus.redact import FieldScrubber

        return FieldScrubber(self.source, None if mode == "off" else mode, self.recipe.pii.pseudonymize)

    def _items(self) -> Iterator[Item]:
        for unit in self.files:  # small files read together as one unit of work
            yield from safe_read(self.reader, unit)

    def run(self) -> UnitStats:
        try:
            batch: list[Document] = []
            t0 = time.process_time()
            for item in self._items():
                self.stats.read += 1
                if isinstance(item, Rejected):
                    # Readers never attach raw text; a derived source (synthetic QA) may: redact it then.
                    self._rejected([item], redact=bool(item.text), scrub=True)
                    continue
                self.stats.bytes_in += len(item.text.encode("utf-8"))
                item.text = self.normalize(item.text)
                if not item.text:
                    self._rejected([_reject(item, "normalize", "normalize:empty")], redact=False, scrub=True)
                    continue
                batch.append(item)
                if len(batch) >= BATCH:
                    self.stats.tick("read", t0)
                    self._batch(batch)
                    batch = []
                    t0 = time.process_time()
            self.stats.tick("read", t0)
            self._batch(batch)
            self._finish_stage_counts()
            self.writer.close()
        except BaseException:
            self.writer.abort()
            raise
        write_json(self.layout.process_stats(self.rank), self.stats.to_dict())
        return self.stats

    def _batch(self, docs: list[Document]) -> None:
        if self.scrubber is not None and docs:
            t0 = time.process_time()
            self.scrubber.scrub(docs)
            self.stats.tick("pii", t0)
        before_pii = True
        for stage in self.stages:
            if not docs:
                break
            if stage is self.redactor:
                before_pii = False
            t0 = time.process_time()
            docs, rejected = stage.process(docs)
            self.stats.tick(stage.name, t0)
            # Texts rejected before the PII stage were never redacted: redact them before writing.
            self._rejected(rejected, redact=before_pii)
            if stage.name == "decontam":
                for r in rejected:
                    self.stats.decontam.append({"id": r.id, "set": r.reason.partition(":")[2], "detail": r.detail})
        if docs:
            self._keep(docs)

    def _keep(self, docs: list[Document]) -> None:
        import xxhash

        from medswallow.models.tokenizer import get_encoding

        t0 = time.process_time()
        encode = get_encoding().encode_ordinary  # a plain loop: the batch API's thread pool costs more here
        tokens = [len(encode(d.text)) for d in docs]
        self.stats.tick("tokens", t0)
        t0 = time.process_time()
        n_bands = self.recipe.dedup.bands
        empty = (0, np.zeros(n_bands, dtype=np.uint64), np.zeros(n_bands * self.recipe.dedup.rows, dtype=np.uint32))
        keys = [self.hasher.keys(d.text, d.lang) if self.dedup else empty for d in docs]
        self.stats.tick("minhash", t0)
        t0 = time.process_time()
        bands = np.stack([k[1] for k in keys]) if keys else np.zeros((0, n_bands), dtype=np.uint64)
        seed = self.recipe.seed
        columns: dict[str, list[Any]] = {
            "id": [d.id for d in docs],
            "text": [d.text for d in docs],
            "source": [d.source for d in docs],
            "lang": [d.lang for d in docs],
            "n_tokens": tokens,
            "n_bytes": [len(d.text.encode("utf-8")) for d in docs],
            "meta": [json.dumps(d.meta, ensure_ascii=False, sort_keys=True, default=str) for d in docs],
            "dedup": [self.dedup] * len(docs),
            "order": [xxhash.xxh3_64_intdigest(f"{seed}:{d.id}".encode()) for d in docs],
            "exact": [k[0] for k in keys],
            **{f"b{j}": bands[:, j].tolist() for j in range(n_bands)},
        }
        self.writer.add_rows(columns, np.stack([k[2] for k in keys]))
        self.stats.tick("write", t0)
        self.stats.kept += len(docs)
        self.stats.tokens_kept += sum(tokens)
        self.stats.langs.update(d.lang for d in docs)

    def _rejected(self, records: list[Rejected], redact: bool, scrub: bool = False) -> None:
        if not records:
            return
        if scrub and self.scrubber is not None:
            # Records straight from the reader; those from the stages were scrubbed with their batch.
            self.scrubber.scrub(records)
        from medswallow.models.tokenizer import count_tokens_batch

        with_text = [r for r in records if r.text]
        if with_text:
            for r, n in zip(with_text, count_tokens_batch([r.text for r in with_text]), strict=True):
                self.stats.tokens_dropped[r.reason] += n
        keep_chars = self.recipe.output.rejected_text_chars
        for r in records:
            (self.stats.dropped if r.kind == "dropped" else self.stats.quarantined)[r.reason] += 1
            r.text = r.text[: keep_chars + REDACT_MARGIN] if keep_chars else ""
        if redact and with_text and keep_chars:
            if self.redactor is not None:
                texts = self.redactor.redact_texts([r.text for r in with_text], [_lang_of(r) for r in with_text])  # type: ignore[attr-defined]
                for r, t in zip(with_text, texts, strict=True):
                    r.text = t
        for r in records:
            r.text = r.text[:keep_chars]
        self.writer.add_rejected(records)

    def _finish_stage_counts(self) -> None:
        if self.redactor is not None:
            self.stats.pii.update(self.redactor.counts)  # type: ignore[attr-defined]
            self.stats.pii_docs = self.redactor.docs_with_pii  # type: ignore[attr-defined]


def _lang_of(r: Rejected) -> str:
    return str(r.meta.get("lang", "")) or "und"


def _reject(doc: Document, stage: str, reason: str) -> Rejected:
    return Rejected(id=doc.id, source=doc.source, stage=stage, reason=reason, kind="dropped", text="", meta={"file": doc.meta.get("file")})


def process_unit(recipe: Any, layout: Layout, rank: int, files: list[Unit]) -> UnitStats:
    return UnitProcessor(recipe, layout, rank, files).run()
