"""Reading benchmark files in their published formats: JSONL, BOM-prefixed CSV, HF datasets.

Every reader yields ``(where, row)`` pairs, where ``where`` is ``file:line`` (or ``hf-id[split] row n``),
so a row of the wrong shape fails with a message that points at it. Only the standard library is imported
here; ``datasets`` is imported when an HF id is actually given.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from medswallow.errors import UserError, did_you_mean

Row = tuple[str, dict[str, Any]]


class RowError(UserError):
    """A benchmark row that does not have the expected shape."""


def bad_row(where: str, problem: str, fix: str = "") -> RowError:
    """The one way loaders report a malformed row: location, problem, what to do."""
    hint = f"; {fix}" if fix else ""
    return RowError(f"{where}: {problem}{hint}")


def is_hf_id(path_or_id: str) -> bool:
    """``owner/name`` (optionally ``:config``) that is not an existing local path."""
    if Path(path_or_id).exists():
        return False
    return re.fullmatch(r"[\w.-]+/[\w.-]+(:[\w.-]+)?", path_or_id) is not None


def hub_snapshot(spec: str) -> Path | None:
    """The local copy of an HF dataset repo already in the hub cache (``huggingface-cli download``), if any."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - comes with datasets
        return None
    try:
        path = snapshot_download(spec.partition(":")[0], repo_type="dataset", local_files_only=True)
    except Exception:  # not cached (huggingface_hub raises several types for that)
        return None
    return Path(path)


def source(path_or_id: str, task: str) -> Path | str:
    """Where a benchmark's files are: a local path, the cached hub snapshot of an HF id (the published
    files, read by the same loader as a checkout), or the HF id itself when only ``datasets`` can get it.
    """
    if is_hf_id(path_or_id):
        return hub_snapshot(path_or_id) or path_or_id
    return local_path(path_or_id, task)


def local_path(path_or_id: str, task: str) -> Path:
    p = Path(path_or_id).expanduser()
    if not p.exists():
        raise UserError(
            f"{task}: {path_or_id} does not exist; give a local file or directory in the benchmark's "
            "published format, or a Hugging Face dataset id like owner/name"
        )
    return p


def iter_jsonl(path: Path) -> Iterator[Row]:
    """Rows of a JSONL file; blank lines are skipped, anything that is not a JSON object is an error."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; benchmark files are UTF-8 JSONL") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad_row(where, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise bad_row(where, f"expected a JSON object per line, got {type(row).__name__}")
        yield where, row


def iter_csv(path: Path, columns: int) -> Iterator[tuple[str, list[str]]]:
    """Rows of a header-less CSV (a UTF-8 BOM on line 1 is dropped); each must have ``columns`` cells."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    reader = csv.reader(text.splitlines(keepends=True))
    for cells in reader:
        where = f"{path}:{reader.line_num}"
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != columns:
            raise bad_row(
                where, f"expected {columns} CSV cells, found {len(cells)}", "is this the right file?"
            )
        yield where, cells


def require_fields(where: str, row: dict[str, Any], fields: Iterable[str], fmt: str) -> None:
    missing = [f for f in fields if f not in row]
    if missing:
        present = ", ".join(sorted(row)[:8]) or "none"
        raise bad_row(
            where,
            f"missing field(s) {', '.join(missing)} (fields present: {present})",
            f"expected the {fmt} format",
        )


def files_matching(root: Path, pattern: str, task: str, expect: str) -> list[Path]:
    """Files under ``root`` whose name matches ``pattern`` (regex), sorted; none found is an error."""
    if root.is_file():
        return [root]
    rx = re.compile(pattern)
    found = sorted(p for p in root.rglob("*") if p.is_file() and rx.fullmatch(p.name))
    if not found:
        raise UserError(f"{task}: no files like {expect} under {root}; point at the benchmark's data folder")
    return found


def iter_hf(spec: str, config: str | None = None, split: str | None = None) -> Iterator[Row]:
    """Rows of an HF dataset (``owner/name`` or ``owner/name:config``), read through ``datasets``.

    Offline machines read the local HF cache (``HF_DATASETS_OFFLINE=1``). With no split given, ``test``
    is used when present, else the only split.
    """
    from medswallow.errors import require

    datasets = require("datasets", "eval")
    name, _, cfg = spec.partition(":")
    config = cfg or config
    try:
        dsd = datasets.load_dataset(name, config) if config else datasets.load_dataset(name)
    except Exception as exc:  # datasets raises many types (offline, missing config, auth)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{spec}: could not load the dataset ({msg})") from None
    splits = list(dsd.keys())
    if split is None:
        split = "test" if "test" in splits else (splits[0] if len(splits) == 1 else None)
    if split not in splits:
        raise UserError(f"{spec}: split {split!r} not found{did_you_mean(str(split), splits)}")
    for i, row in enumerate(dsd[split]):
        yield f"{spec}[{split}] row {i + 1}", dict(row)
