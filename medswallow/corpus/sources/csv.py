"""CSV/TSV files: one record per row, mapped to a document by a field map.

Rows with the wrong number of fields, undecodable bytes or oversized fields are quarantined one by one
(with their line number) and reading goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from medswallow.corpus.sources.base import (
    STREAM_ERRORS,
    Item,
    SourceReader,
    Unit,
    detect_encoding,
    iter_lines,
    looks_binary,
    open_binary,
    sniff,
    unreadable_detail,
)
from medswallow.corpus.sources.fields import record_to_item


class CsvReader(SourceReader):
    suffixes = (".csv", ".tsv", ".csv.gz", ".tsv.gz")

    def read(self, unit: Unit) -> Iterator[Item]:
        yield from read_csv_records(self, unit, self.cfg.encoding, self.cfg.delimiter, self.cfg.header, self._item)

    def _item(self, record: dict, local_id: str, unit: Unit, line: int) -> Item:  # type: ignore[type-arg]
        return record_to_item(self, record, local_id, unit, self.cfg.fields, line=line)


def read_csv_records(reader, unit, encoding, delimiter, header, to_item) -> Iterator[Item]:  # type: ignore[no-untyped-def]
    """Shared by CSV and QA readers: rows as dicts, handed to ``to_item(record, id, unit, line)``."""
    head, err = sniff(unit.path)
    if err:
        yield reader.quarantine(unit.rel, err, unit, detail=unreadable_detail(err))
        return
    if not head.strip():
        yield reader.quarantine(unit.rel, "empty_file", unit)
        return
    if looks_binary(head):
        yield reader.quarantine(unit.rel, "binary_file", unit, detail="the file holds binary data, not CSV")
        return
    enc = detect_encoding(head, encoding)
    if enc is None or enc.startswith("utf-16"):
        yield reader.quarantine(unit.rel, "unknown_encoding" if enc is None else "unsupported_encoding:utf-16", unit)
        return
    csv.field_size_limit(reader.max_record_bytes)
    bad_lines: set[int] = set()
    oversized: set[int] = set()

    def decoded(f) -> Iterator[str]:  # type: ignore[no-untyped-def]
        for n, raw in iter_lines(f, reader.max_record_bytes):
            if raw is None:
                oversized.add(n)
                yield "\n"
                continue
            try:
                yield raw.decode(enc)
            except UnicodeDecodeError:
                bad_lines.add(n)
                yield raw.decode(enc, errors="replace")

    last = 0
    try:
        with open_binary(unit.path) as f:
            rows = csv.reader(decoded(f), delimiter=delimiter)
            columns: list[str] | None = None
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except csv.Error as exc:
                    yield reader.quarantine(f"{unit.rel}:{rows.line_num}", "malformed_csv", unit, detail=f"line {rows.line_num}: {exc}", line=rows.line_num)
                    last = rows.line_num
                    continue
                first, last = last + 1, rows.line_num
                local = f"{unit.rel}:{first}"
                span = set(range(first, last + 1))
                if columns is None:
                    if header:
                        columns = [c.strip().lstrip("\ufeff") for c in row]
                        continue
                    columns = [f"col{i}" for i in range(len(row))]
                if not any(cell.strip() for cell in row):
                    continue
                if span & oversized:
                    yield reader.quarantine(local, "record_too_large", unit, line=first)
                    continue
                if span & bad_lines:
                    yield reader.quarantine(local, "undecodable_line", unit, detail=f"line {first}: not {enc}", line=first)
                    continue
                if len(row) != len(columns):
                    yield reader.quarantine(
                        local, "wrong_field_count", unit, detail=f"line {first}: {len(row)} fields, header has {len(columns)}", line=first
                    )
                    continue
                yield to_item(dict(zip(columns, row, strict=True)), local, unit, first)
    except STREAM_ERRORS as exc:
        yield reader.quarantine(f"{unit.rel}:{last + 1}", "truncated_file", unit, detail=f"{type(exc).__name__} after line {last}")
