"""Plain text files (general-domain retention text, dumps): one document per file, paragraph or line.

The encoding is detected per file (UTF-8, Shift_JIS/CP932, EUC-JP, ISO-2022-JP, UTF-16), so Japanese
text from older systems is decoded, not garbled. Files are streamed line by line except in ``file`` mode.
"""

from __future__ import annotations

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


class TextReader(SourceReader):
    suffixes = (".txt", ".txt.gz", ".text")

    def read(self, unit: Unit) -> Iterator[Item]:
        head, err = sniff(unit.path)
        if err:
            yield self.quarantine(unit.rel, err, unit, detail=unreadable_detail(err))
            return
        if not head.strip():
            yield self.quarantine(unit.rel, "empty_file", unit)
            return
        if looks_binary(head):
            yield self.quarantine(unit.rel, "binary_file", unit, detail="the file holds binary data, not text")
            return
        enc = detect_encoding(head, self.cfg.encoding)
        if enc is None:
            yield self.quarantine(unit.rel, "unknown_encoding", unit)
            return
        if self.cfg.split == "file" or enc.startswith("utf-16"):
            text, why = read_text_file(unit.path, enc, self.max_record_bytes)
            if text is None:
                yield self.quarantine(unit.rel, why, unit)
                return
            if self.cfg.split == "file":
                yield self.document(unit.rel, text, unit, encoding=enc)
                return
            lines = ((i, (ln + "\n").encode("utf-8")) for i, ln in enumerate(text.splitlines(), 1))
            yield from self._split(unit, lines, "utf-8", enc, [0])
            return
        done = [0]
        try:
            with open_binary(unit.path) as f:
                yield from self._split(unit, iter_lines(f, self.max_record_bytes), enc, enc, done)
        except STREAM_ERRORS as exc:
            yield self.quarantine(f"{unit.rel}:{done[0] + 1}", "truncated_file", unit, detail=f"{type(exc).__name__} after line {done[0]}")

    def _split(self, unit, lines, enc, shown_enc, done) -> Iterator[Item]:  # type: ignore[no-untyped-def]
        """Documents per line or per blank-line separated paragraph; a broken line spoils its paragraph."""
        para: list[str] = []
        start = size = 0
        broken = ""
        for n, raw in lines:
            done[0] = n
            problem = ""
            line = ""
            if raw is None:
                problem = "record_too_large"
            else:
                try:
                    line = raw.decode(enc).rstrip("\r\n")
                except UnicodeDecodeError:
                    problem = "undecodable_line"
            if self.cfg.split == "line":
                if problem:
                    yield self.quarantine(f"{unit.rel}:{n}", problem, unit, line=n)
                elif line.strip():
                    yield self.document(f"{unit.rel}:{n}", line, unit, line=n, encoding=shown_enc)
                continue
            if problem or line.strip():
                if not para:
                    start = n
                    para.append(line)
                elif not broken:  # once a paragraph is spoilt its lines are not kept (memory stays bounded)
                    para.append(line)
                size += len(raw or b"")
                broken = broken or problem or ("record_too_large" if size > self.max_record_bytes else "")
                continue
            yield from self._flush(unit, para, start, broken, shown_enc)
            para, size, broken = [], 0, ""
        yield from self._flush(unit, para, start, broken, shown_enc)

    def _flush(self, unit, para, start, broken, enc) -> Iterator[Item]:  # type: ignore[no-untyped-def]
        if para and broken:
            yield self.quarantine(f"{unit.rel}:{start}", broken, unit, line=start)
        elif para:
            yield self.document(f"{unit.rel}:{start}", "\n".join(para), unit, line=start, encoding=enc)
