"""JSON Lines (``.jsonl``, ``.jsonl.gz``): one record per line, mapped to a document by a field map.

Lines are read with a size cap, so a single huge line is quarantined without being held in memory;
malformed lines, undecodable bytes and missing fields are quarantined one by one and reading goes on.
"""

from __future__ import annotations

import json
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
    read_text_file,
    sniff,
    unreadable_detail,
)
from medswallow.corpus.sources.fields import record_to_item


class JsonlReader(SourceReader):
    suffixes = (".jsonl", ".jsonl.gz", ".json", ".ndjson")

    def read(self, unit: Unit) -> Iterator[Item]:
        yield from read_json_lines(self, unit, self.cfg.encoding, self._item)

    def _item(self, record: object, local_id: str, unit: Unit, line: int) -> Item:
        return record_to_item(self, record, local_id, unit, self.cfg.fields, line=line)


def read_json_lines(reader: SourceReader, unit: Unit, encoding: str, to_item) -> Iterator[Item]:  # type: ignore[no-untyped-def]
    """Shared by JSONL and QA readers: parse each line, hand records to ``to_item(record, id, unit, line)``."""
    head, err = sniff(unit.path)
    if err:
        yield reader.quarantine(unit.rel, err, unit, detail=unreadable_detail(err))
        return
    if not head.strip():
        yield reader.quarantine(unit.rel, "empty_file", unit)
        return
    if looks_binary(head):
        yield reader.quarantine(unit.rel, "binary_file", unit, detail="the file holds binary data, not JSON lines")
        return
    enc = detect_encoding(head, encoding)
    if enc is None:
        yield reader.quarantine(unit.rel, "unknown_encoding", unit)
        return
    if enc.startswith("utf-16"):  # two-byte newlines: decode the whole (bounded) file instead
        text, why = read_text_file(unit.path, enc, reader.max_record_bytes * 4)
        if text is None:
            yield reader.quarantine(unit.rel, why, unit)
            return
        lines = ((i, ln.encode("utf-8")) for i, ln in enumerate(text.splitlines(), 1))
        yield from _parse(reader, unit, lines, "utf-8", to_item, [0])
        return
    done = [0]
    try:
        with open_binary(unit.path) as f:
            yield from _parse(reader, unit, iter_lines(f, reader.max_record_bytes), enc, to_item, done)
    except STREAM_ERRORS as exc:
        yield reader.quarantine(
            f"{unit.rel}:{done[0] + 1}", "truncated_file", unit,
            detail=f"{type(exc).__name__} after line {done[0]}; the rest of the file is lost",
        )


def _parse(reader, unit, lines, enc, to_item, done) -> Iterator[Item]:  # type: ignore[no-untyped-def]
    """Decode and parse each line; ``done[0]`` tracks the last line read (for truncation messages)."""
    for n, raw in lines:
        done[0] = n
        local = f"{unit.rel}:{n}"
        if raw is None:
            yield reader.quarantine(local, "record_too_large", unit, detail=f"line {n} exceeds max_record_mb", line=n)
            continue
        if not raw.strip():
            continue
        try:
            line = raw.decode(enc)
        except UnicodeDecodeError as exc:
            yield reader.quarantine(local, "undecodable_line", unit, detail=f"line {n}: not {enc} ({exc.reason})", line=n)
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield reader.quarantine(local, "malformed_json", unit, detail=json_error(exc, n), line=n)
            continue
        except RecursionError:
            yield reader.quarantine(local, "malformed_json", unit, detail=f"line {n}: nested too deeply", line=n)
            continue
        yield to_item(record, local, unit, n)


def json_error(exc: json.JSONDecodeError, line: int) -> str:
    """``line 3, column 12: invalid control character (...)`` — the position and a whole sentence
    (json's own messages end in a dangling "at" that the position completes)."""
    msg = exc.msg.removesuffix(" at").removesuffix(":")
    if "control character" in msg:
        msg += " (a raw tab or newline inside a string must be written \\t or \\n)"
    return f"line {line}, column {exc.colno}: {msg}"
