"""Training data: read sources, check their columns, quarantine bad rows, tokenize, mix in retention data.

Both kinds hand TRL pre-tokenized rows (``input_ids``, plus ``assistant_masks`` for chat data), so token
counts in the plan are exact and TRL does only labels, truncation and packing. A row that cannot be used is
dropped with a reason (counted per source and written to ``OUTPUT_DIR/rejected.jsonl`` as id + reason, never
its text); a source without the expected column stops the run before any weights load.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medswallow.console import progress
from medswallow.errors import UserError, require
from medswallow.train.recipe import BaseRecipe, DataSource

if TYPE_CHECKING:  # pragma: no cover
    from datasets import Dataset

REJECT = "_reject"  # per-row column: "" keeps the row, anything else is the drop reason
SUFFIXES = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}


@dataclass
class SourceReport:
    """What one source contributed: rows read, kept and dropped by reason, tokens kept."""

    name: str
    role: str  # "train" or "retention"
    rows_read: int = 0
    rows_kept: int = 0
    tokens: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


@dataclass
class TrainData:
    """Tokenized training (and optional eval) rows with the accounting the plan prints."""

    train: Dataset
    eval: Dataset | None
    reports: list[SourceReport]
    unit: str  # what the retention ratio counts: "tokens" or "examples"
    retention_share: float = 0.0  # achieved share of the mix from retention sources (in `unit`)
    retention_repeats: float = 0.0  # > 1 when the retention sources had to be repeated to reach the ratio

    @property
    def tokens(self) -> int:
        """Training tokens per epoch (rows without an ``n_tokens`` column are counted from ``input_ids``)."""
        if "n_tokens" in self.train.column_names:
            return int(sum(self.train["n_tokens"]))
        if "input_ids" in self.train.column_names:
            return sum(len(ids) for ids in self.train["input_ids"])
        return 0

    @property
    def examples(self) -> int:
        return len(self.train)


# --- reading ---------------------------------------------------------------------------------------------


def source_files(source: DataSource, recipe: BaseRecipe, where: str) -> list[Path]:
    """The files of a source: a file, a glob, or a folder (a build-corpus output folder reads its data/)."""
    path = recipe.resolve(source.path)
    if path.is_dir():
        base = path / "data" if (path / "data").is_dir() else path
        files = sorted(p for p in base.iterdir() if p.suffix in SUFFIXES and p.is_file())
    elif any(ch in source.path for ch in "*?["):
        files = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).suffix in SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        raise UserError(f"{where}.path: {path} does not exist")
    if not files:
        raise UserError(f"{where}.path: no .parquet or .jsonl files at {path}")
    kinds = {SUFFIXES[p.suffix] for p in files}
    if len(kinds) > 1:
        raise UserError(f"{where}.path: {path} mixes Parquet and JSONL files; give one format per source")
    return files


def _check_parquet_columns(files: list[Path], required: str, where: str) -> None:
    """Fail on the first shard without the column, naming the file and the columns it has."""
    import pyarrow.parquet as pq

    for f in files:
        try:
            names = pq.read_schema(f).names
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise UserError(f"{where}: {f} is not a readable Parquet file ({exc})") from None
        if required not in names:
            raise UserError(
                f"{where}: {f} has no column {required!r} (columns: {', '.join(names)}); "
                f"point the source at data with that column or set the recipe's field name"
            )


def read_source(source: DataSource, recipe: BaseRecipe, required: str, where: str) -> Dataset:
    """Load one source as a ``datasets.Dataset`` (memory-mapped Arrow), checked for the required column."""
    require("datasets", "train")
    from datasets import load_dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # our own rich bars show the work that takes time

    files = source_files(source, recipe, where)
    builder = SUFFIXES[files[0].suffix]
    if builder == "parquet":
        _check_parquet_columns(files, required, where)
    try:
        ds = load_dataset(builder, data_files=[str(f) for f in files], split="train")
    except Exception as exc:  # datasets wraps parse and schema errors in several exception types
        reason = str(exc).splitlines()[0][:300]
        raise UserError(f"{where}: cannot read {source.path} ({reason})") from None
    if required not in ds.column_names:
        raise UserError(
            f"{where}: {source.path} has no field {required!r} (fields: {', '.join(ds.column_names)}); "
            f"point the source at data with that field or set the recipe's field name"
        )
    if source.max_rows is not None and source.max_rows < len(ds):
        ds = ds.select(range(source.max_rows))
    return ds


# --- row preparation ---------------------------------------------------------------------------------------


def prepare_source(
    source: DataSource,
    role: str,
    recipe: BaseRecipe,
    required: str,
    rows_fn: Callable[..., dict[str, list[Any]]],
    fn_kwargs: dict[str, Any],
    where: str,
    rejected: list[dict[str, Any]],
) -> tuple[Dataset, SourceReport]:
    """Read a source and run ``rows_fn`` (validate + tokenize, batched) over it; keep rows with no reject reason."""
    ds = read_source(source, recipe, required, where)
    name = source.name or Path(source.path.rstrip("/")).name
    report = SourceReport(name=name, role=role, rows_read=len(ds))
    num_proc = _num_proc(len(ds))
    ds = _map_with_progress(ds, rows_fn, fn_kwargs, num_proc, f"tokenizing {name} ({role})")
    reasons = ds[REJECT]
    if any(reasons):
        ids = ds["id"]
        for i, reason in enumerate(reasons):
            if reason:
                report.dropped[reason] += 1
                rejected.append({"source": name, "row": i, "id": ids[i], "reason": reason})
        ds = ds.filter(lambda batch: [not r for r in batch[REJECT]], batched=True, num_proc=num_proc)
    ds = ds.remove_columns([REJECT, "id"])
    report.rows_kept = len(ds)
    report.tokens = int(sum(ds["n_tokens"])) if len(ds) else 0
    return ds, report


def _map_with_progress(
    ds: Dataset,
    rows_fn: Callable[..., dict[str, list[Any]]],
    fn_kwargs: dict[str, Any],
    num_proc: int | None,
    what: str,
) -> Dataset:
    """``Dataset.map`` in chunks, so a large source shows a rich progress bar with an ETA."""
    from datasets import concatenate_datasets

    chunk = 50_000
    parts = []
    with progress(transient=True) as bar:
        task = bar.add_task(what, total=len(ds))
        for start in range(0, max(1, len(ds)), chunk):
            part = ds.select(range(start, min(start + chunk, len(ds))))
            parts.append(
                part.map(
                    _rows_at,
                    batched=True,
                    batch_size=256,
                    with_indices=True,
                    fn_kwargs={"rows_fn": rows_fn, "offset": start, **fn_kwargs},
                    remove_columns=ds.column_names,
                    num_proc=num_proc,
                )
            )
            bar.advance(task, len(part))
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def _rows_at(
    batch: dict[str, list[Any]], indices: list[int], rows_fn: Callable[..., Any], offset: int, **kw: Any
) -> dict[str, list[Any]]:
    """Call ``rows_fn`` with row indices of the whole source, not of the chunk."""
    return rows_fn(batch, [offset + i for i in indices], **kw)


def _num_proc(rows: int) -> int | None:
    # Worker processes pay off only on large sources; small ones stay in-process (fast tests, clean tracebacks).
    if rows < 20_000:
        return None
    return max(1, min(16, (os.cpu_count() or 1)))


def row_id(batch: dict[str, list[Any]], i: int, index: int) -> str:
    ids = batch.get("id")
    return str(ids[i]) if ids is not None and ids[i] is not None else f"row-{index}"


# --- mixing ------------------------------------------------------------------------------------------------


def mix_retention(
    main: Dataset, retention: Dataset, ratio: float, unit: str, seed: int
) -> tuple[Dataset, float, float]:
    """Add retention rows so they make up ``ratio`` of the mix (by tokens or examples); repeat them if short.

    Returns (mixed and shuffled dataset, achieved share, how many times the retention data was used). Without
    retention rows the main data keeps its order: the trainer's sampler shuffles by the same seed, so a run
    sees the rows in the order any other TRL run on the same rows sees them.
    """
    from datasets import concatenate_datasets

    if ratio <= 0 or len(retention) == 0:
        return main, 0.0, 0.0
    measure = (lambda d: sum(d["n_tokens"])) if unit == "tokens" else len
    main_size = measure(main)
    target = round(main_size * ratio / (1.0 - ratio))  # whole examples / tokens (and no 3.0000000004)
    ret_size = measure(retention)
    if ret_size == 0:
        return main, 0.0, 0.0
    shuffled = retention.shuffle(seed=seed)
    copies = int(target // ret_size)
    parts = [shuffled] * copies
    rest = target - copies * ret_size
    if rest > 0:
        sizes = shuffled["n_tokens"] if unit == "tokens" else [1] * len(shuffled)
        taken, n = 0, 0
        while n < len(sizes) and taken < rest:
            taken += sizes[n]
            n += 1
        parts.append(shuffled.select(range(n)))
    extra = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
    share = measure(extra) / max(1, measure(extra) + main_size)
    mixed = concatenate_datasets([main, extra]).shuffle(seed=seed).flatten_indices()
    return mixed, share, measure(extra) / ret_size


def split_eval(ds: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
    if fraction <= 0:
        return ds, None
    n_eval = max(1, math.floor(len(ds) * fraction))
    if n_eval >= len(ds):
        raise UserError(f"data.eval_fraction {fraction} leaves no training rows ({len(ds)} rows in all)")
    parts = ds.train_test_split(test_size=n_eval, seed=seed, shuffle=True)
    return parts["train"], parts["test"]


def write_rejected(rejected: list[dict[str, Any]], out_dir: Path) -> Path | None:
    """Dropped rows as id + reason (no text: chat data may hold PII)."""
    if not rejected:
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "rejected.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for row in rejected:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def build_train_data(
    recipe: BaseRecipe,
    sources: list[DataSource],
    retention: Any,
    required: str,
    rows_fn: Callable[..., dict[str, list[Any]]],
    fn_kwargs: dict[str, Any],
    unit: str,
    eval_fraction: float,
) -> TrainData:
    """Read, check and tokenize every source, mix in retention data, split off eval rows."""
    from datasets import concatenate_datasets

    rejected: list[dict[str, Any]] = []
    reports: list[SourceReport] = []
    main_parts = []
    for i, src in enumerate(sources):
        ds, rep = prepare_source(
            src, "train", recipe, required, rows_fn, fn_kwargs, f"data.train.{i}", rejected
        )
        main_parts.append(ds)
        reports.append(rep)
    main = concatenate_datasets(main_parts) if len(main_parts) > 1 else main_parts[0]
    if len(main) == 0:
        write_rejected(rejected, recipe.output_dir)
        raise UserError(
            f"no usable training rows: every row was dropped ({_reasons(reports)}); see rejected.jsonl"
        )
    main, eval_ds = split_eval(main, eval_fraction, recipe.train.seed)
    share = repeats = 0.0
    if retention is not None:
        ret_parts = []
        for i, src in enumerate(retention.sources):
            where = f"data.retention.sources.{i}"
            ds, rep = prepare_source(src, "retention", recipe, required, rows_fn, fn_kwargs, where, rejected)
            ret_parts.append(ds)
            reports.append(rep)
        ret = concatenate_datasets(ret_parts) if len(ret_parts) > 1 else ret_parts[0]
        main, share, repeats = mix_retention(main, ret, retention.ratio, unit, recipe.train.seed)
    # Without retention the rows keep their order: the trainer's sampler shuffles them by train.seed, as any
    # TRL run on the same rows does (a second shuffle here would make equal data give different curves).
    write_rejected(rejected, recipe.output_dir)
    return TrainData(main, eval_ds, reports, unit, share, repeats)


def _reasons(reports: list[SourceReport]) -> str:
    total: Counter[str] = Counter()
    for r in reports:
        total.update(r.dropped)
    return ", ".join(f"{k}: {v}" for k, v in total.most_common()) or "none"
