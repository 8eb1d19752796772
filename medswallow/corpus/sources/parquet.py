"""Parquet files: rows read in batches (memory stays bounded), mapped to documents by a field map."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from medswallow.corpus.sources.base import Item, SourceReader, Unit
from medswallow.corpus.sources.fields import record_to_item

BATCH_ROWS = 1024


class ParquetReader(SourceReader):
    suffixes = (".parquet",)

    def read(self, unit: Unit) -> Iterator[Item]:
        yield from iter_parquet_rows(self, unit, self._item)

    def _item(self, record: dict, local_id: str, unit: Unit, row: int) -> Item:  # type: ignore[type-arg]
        return record_to_item(self, record, local_id, unit, self.cfg.fields, row=row)


def iter_parquet_rows(reader: SourceReader, unit: Unit, to_item: Any) -> Iterator[Item]:
    """Rows as dicts handed to ``to_item(record, id, unit, row)``; a damaged file is one quarantined record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 0
    try:
        pf = pq.ParquetFile(unit.path)
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            for record in batch.to_pylist():
                yield to_item(record, f"{unit.rel}:{n}", unit, n)
                n += 1
    except (pa.ArrowException, OSError) as exc:
        reason = "empty_file" if n == 0 and _is_empty(unit.path) else ("not_parquet" if n == 0 else "truncated_file")
        yield reader.quarantine(f"{unit.rel}:{n}", reason, unit, detail=f"{type(exc).__name__} after {n} rows")


def _is_empty(path: str) -> bool:
    import os

    return os.path.getsize(path) == 0
