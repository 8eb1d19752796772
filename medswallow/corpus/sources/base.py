"""What every source reader shares: units of work, record ids, quarantine records, safe file reading.

A reader turns one :class:`Unit` (a file, or a shard of a dataset) into :class:`~medswallow.records.Document`
objects, and every record it cannot use into a quarantined :class:`~medswallow.records.Rejected` with the
reason. It never raises for bad data: a broken file becomes one quarantined record naming where reading
stopped, so kept + dropped + quarantined = read holds for every source.
"""

from __future__ import annotations

import glob
import gzip
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from medswallow.errors import UserError
from medswallow.records import Document, Rejected

# Japanese encodings tried after UTF-8; charset-normalizer picks among them (a wider search mistakes
# EUC-JP for Big5). CP932 is Shift_JIS plus the Windows/NEC extensions (①, ㈱), so it decodes both.
JA_ENCODINGS = ["cp932", "euc_jp", "iso2022_jp", "utf_16"]
SNIFF_BYTES = 256 * 1024

Item = Document | Rejected


class MissingPaths(UserError):
    """Patterns of one source that match no file; the recipe loader adds their lines."""

    def __init__(self, source: str, base_dir: Path, patterns: list[tuple[int, str]]) -> None:
        self.source = source
        self.base_dir = base_dir
        self.patterns = patterns
        super().__init__(
            "; ".join(f"source '{source}': no file matches '{p}'{suggest_path(p, base_dir)}" for _, p in patterns)
            + f" (paths are relative to {base_dir})"
        )


def suggest_path(pattern: str, base_dir: Path) -> str:
    """" — did you mean 'data/notes.jsonl'?" for the closest existing name where the pattern stops matching."""
    import difflib

    p = Path(pattern)
    parts = p.parts
    here = Path(p.anchor) if p.is_absolute() else base_dir
    shown = Path(p.anchor) if p.is_absolute() else Path()
    for k, part in enumerate(parts[1:] if p.is_absolute() else parts):
        nxt = here / part
        if glob.has_magic(part) or not nxt.exists():
            if not here.is_dir():
                return ""
            names = sorted(e.name for e in here.iterdir())
            close = difflib.get_close_matches(part, names, n=1, cutoff=0.5)
            if not close:
                return ""
            rest = (parts[1:] if p.is_absolute() else parts)[k + 1 :]
            return f" — did you mean '{(shown / close[0]).joinpath(*rest).as_posix()}'?"
        here, shown = nxt, shown / part
    return ""


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of parallel work: a file (or a shard of a dataset) of one source."""

    source: str
    path: str  # absolute path, or a dataset id
    rel: str  # how ids and messages name it (relative to the recipe)
    part: int = 0
    parts: int = 1
    origin: str = ""  # for derived sources (synthetic QA): the source whose unit this reads

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "path": self.path, "rel": self.rel,
            "part": self.part, "parts": self.parts, "origin": self.origin,
        }


class SourceReader(ABC):
    """Base of the readers: expands ``paths`` into units; subclasses implement :meth:`read`."""

    #: file name endings a glob of this source keeps (empty: everything)
    suffixes: tuple[str, ...] = ()

    def __init__(self, cfg: Any, base_dir: Path) -> None:
        self.cfg = cfg
        self.base_dir = Path(base_dir)

    # -- units ------------------------------------------------------------------------------------

    def units(self) -> list[Unit]:
        """One unit per file matched by ``paths`` (sorted, so the order never depends on the filesystem)."""
        files: list[Path] = []
        missing: list[tuple[int, str]] = []
        for i, pattern in enumerate(self.cfg.paths):
            full = pattern if Path(pattern).is_absolute() else str(self.base_dir / pattern)
            matched = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
            if self.suffixes:
                matched = [p for p in matched if p.name.lower().endswith(self.suffixes)] or matched
            if not matched:
                missing.append((i, pattern))
            files.extend(matched)
        if missing:
            raise MissingPaths(self.cfg.name, self.base_dir, missing)
        # The same file reached twice (two patterns, a symlink, a symlinked directory that loops back to
        # its parent) is read once.
        seen: set[Path] = set()
        units = []
        for f in files:
            real = f.resolve()
            if real in seen:
                continue
            seen.add(real)
            units.append(Unit(self.cfg.name, str(real), self.relpath(f)))
        return units

    def relpath(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.base_dir.resolve()).as_posix()
        except ValueError:
            return path.name

    # -- reading ----------------------------------------------------------------------------------

    @abstractmethod
    def read(self, unit: Unit) -> Iterator[Item]:
        """Documents and quarantined records of one unit, in file order."""

    def document(self, local_id: str, text: str, unit: Unit, **meta: Any) -> Document:
        return Document(
            id=f"{self.cfg.name}:{local_id}",
            text=text,
            source=self.cfg.name,
            meta={"file": unit.rel, **{k: v for k, v in meta.items() if v is not None}},
        )

    def quarantine(self, local_id: str, reason: str, unit: Unit, detail: str = "", **meta: Any) -> Rejected:
        """A record that could not be read; never carries the raw text (it may hold PII)."""
        return Rejected(
            id=f"{self.cfg.name}:{local_id}",
            source=self.cfg.name,
            stage="read",
            reason=reason,
            kind="quarantined",
            detail=detail[:300],
            meta={"file": unit.rel, **meta},
        )

    @property
    def max_record_bytes(self) -> int:
        return int(self.cfg.max_record_mb * 1024 * 1024)


# ---------------------------------------------------------------------------------------------- files


def open_binary(path: str) -> IO[bytes]:
    """Open a file for reading bytes; ``.gz`` files are decompressed on the fly."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


# Errors a truncated or corrupt compressed stream raises while reading.
STREAM_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, OSError)


def looks_binary(sample: bytes) -> bool:
    """NUL bytes (outside UTF-16) or many control bytes: not text."""
    if not sample:
        return False
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample[:4096] if b < 9 or 13 < b < 32)
    return control > 0.05 * min(len(sample), 4096)


def detect_encoding(sample: bytes, declared: str = "auto") -> str | None:
    """The codec for ``sample``: the declared one, UTF-8, or a Japanese encoding found by charset-normalizer."""
    if declared != "auto":
        return declared
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    cut = _cut_at_char_boundary(sample)
    if _mostly_utf8(cut):
        return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(cut, cp_isolation=JA_ENCODINGS).best()
    if best is None:
        best = from_bytes(cut).best()
    if best is None:
        return None
    enc = str(best.encoding)
    # Shift_JIS text often uses the Windows extensions: decode with their superset.
    return "cp932" if enc in ("shift_jis", "sjis") else enc


def _mostly_utf8(sample: bytes) -> bool:
    """UTF-8 when at least as many non-ASCII lines decode as fail: one corrupt line must not turn a UTF-8
    file into CP932 for every other line (the corrupt line is quarantined on its own)."""
    ok = bad = 0
    for line in sample.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            ok += 1
        except UnicodeDecodeError:
            bad += 1
    return bad == 0 or ok >= bad


def _cut_at_char_boundary(sample: bytes) -> bytes:
    """Trim a sniffed prefix so its last character is whole: at the last newline, or, when the first line
    is longer than the window, before a UTF-8 sequence the window cut (a cut character must not make a
    UTF-8 file look like another encoding)."""
    if len(sample) < SNIFF_BYTES:
        return sample
    nl = sample.rfind(b"\n")
    if nl > 0:
        return sample[: nl + 1]
    return sample[: utf8_boundary(sample)]


def utf8_boundary(data: bytes) -> int:
    """Length of ``data`` without a trailing, incomplete UTF-8 sequence (at most 3 bytes dropped)."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        b = data[end - back]
        if b & 0xC0 != 0x80:  # not a continuation byte: the start of the last character
            need = 1 if b < 0x80 else 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4 if b >> 3 == 0b11110 else 1
            return end if back >= need else end - back
    return end


def read_text_file(path: str, declared: str, max_bytes: int) -> tuple[str | None, str]:
    """The whole file as text, or ``(None, reason)``: empty, too large, binary, undecodable, truncated."""
    try:
        with open_binary(path) as f:
            data = f.read(max_bytes + 1)
    except PermissionError:
        return None, "unreadable:permission_denied"
    except STREAM_ERRORS as exc:
        return None, f"unreadable:{type(exc).__name__}"
    if not data.strip():
        return None, "empty_file"
    if len(data) > max_bytes:
        return None, "record_too_large"
    if looks_binary(data[:SNIFF_BYTES]):
        return None, "binary_file"
    enc = detect_encoding(data[:SNIFF_BYTES], declared)
    if enc is None:
        return None, "unknown_encoding"
    try:
        return data.decode(enc), enc
    except (UnicodeDecodeError, LookupError):
        return None, f"undecodable:{enc}"


def iter_lines(f: IO[bytes], max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line_number, bytes)`` per line; a line longer than ``max_bytes`` yields ``None`` and is skipped
    without ever being held in memory whole."""
    n = 0
    while True:
        line = f.readline(max_bytes + 1)
        if not line:
            return
        n += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:  # drain the rest of the oversized line in bounded chunks
                rest = f.readline(1024 * 1024)
                if not rest or rest.endswith(b"\n"):
                    break
            yield n, None
            continue
        yield n, line


def sniff(path: str) -> tuple[bytes, str | None]:
    """The first bytes of a file (decompressed) and an error reason if nothing can be read at all.

    A stream that breaks later (a truncated gzip) still yields its first bytes: the reader then keeps the
    records before the break and quarantines the rest.
    """
    data = bytearray()
    try:
        with open_binary(path) as f:
            while len(data) < SNIFF_BYTES:
                # read1: one underlying read at a time, so bytes decoded before a break are kept
                chunk = f.read1(min(65536, SNIFF_BYTES - len(data)))  # type: ignore[attr-defined]
                if not chunk:
                    break
                data += chunk
    except PermissionError:
        return b"", "unreadable:permission_denied"
    except STREAM_ERRORS as exc:
        if not data:
            return b"", f"unreadable:{type(exc).__name__}"
    return bytes(data), None


def unreadable_detail(reason: str) -> str:
    """What a ``unreadable:*`` reason means, for the rejected record."""
    if reason.endswith("permission_denied"):
        return "permission denied: the file cannot be opened for reading (check its permissions)"
    return "the file cannot be read (truncated or corrupt compressed data?)"
