"""Writing one output shard: the selected documents of a group of units, repeated as sampled, shuffled.

The shard's row order is a permutation seeded by the recipe seed and the shard number, so identical
inputs and seed give byte-identical Parquet files whatever the number of workers. Duplicates and documents
left out by the mixture go to ``rejected/select-NNNNN.jsonl`` with their reason.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from medswallow.corpus.layout import Layout, commit, tmp_path, write_json

OUTPUT_COLUMNS = ["id", "text", "source", "lang", "n_tokens", "domain", "copy", "meta"]
ROW_GROUP = 4096


def output_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()), ("text", pa.large_string()), ("source", pa.string()), ("lang", pa.string()),
            ("n_tokens", pa.int32()), ("domain", pa.string()), ("copy", pa.int16()), ("meta", pa.string()),
        ]
    )


def write_shard(recipe: Any, layout: Layout, shard: int, ranks: list[int]) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    domains = {s.name: s.domain for s in recipe.sources}
    tables = []
    rejected_lines: list[str] = []
    keep_chars = recipe.output.rejected_text_chars
    for r in ranks:
        unit = pq.read_table(layout.process_data(r), columns=["id", "text", "source", "lang", "n_tokens", "meta"])
        decisions = pq.read_table(layout.select_data(r))
        copies = decisions.column("copies").to_numpy().astype(np.int64)
        for i in np.flatnonzero(decisions.column("reason").is_valid().to_numpy(zero_copy_only=False)):
            i = int(i)
            reason = decisions.column("reason")[i].as_py()
            rejected_lines.append(
                json.dumps(
                    {
                        "id": unit.column("id")[i].as_py(), "source": unit.column("source")[i].as_py(),
                        "stage": reason.partition(":")[0], "reason": reason, "kind": "dropped",
                        "detail": decisions.column("detail")[i].as_py(),
                        # Text here passed the PII stage already (when the source has one).
                        "text": unit.column("text")[i].as_py()[:keep_chars] if keep_chars else "",
                        "meta": {"lang": unit.column("lang")[i].as_py()},
                    },
                    ensure_ascii=False, sort_keys=True,
                )
            )
        if copies.sum() == 0:
            continue
        take = np.repeat(np.arange(len(copies)), copies)
        copy_no = _copy_numbers(copies)
        if "new_id" in decisions.column_names and decisions.column("new_id").null_count < decisions.num_rows:
            # an id an earlier document already had (see select._rename_repeated_ids)
            new_id = decisions.column("new_id")
            unit = unit.set_column(0, "id", pa.array(
                [n if n is not None else o for o, n in zip(unit.column("id").to_pylist(), new_id.to_pylist(), strict=True)], pa.string()
            ))
        picked = unit.take(pa.array(take))
        ids = [i if c == 0 else f"{i}#{c}" for i, c in zip(picked.column("id").to_pylist(), copy_no, strict=True)]
        tables.append(
            pa.table(
                {
                    "id": pa.array(ids, pa.string()),
                    "text": picked.column("text"),
                    "source": picked.column("source"),
                    "lang": picked.column("lang"),
                    "n_tokens": picked.column("n_tokens"),
                    "domain": pa.array([domains[s] for s in picked.column("source").to_pylist()], pa.string()),
                    "copy": pa.array(copy_no, pa.int16()),
                    "meta": picked.column("meta"),
                },
                schema=output_schema(),
            )
        )
    _write_rejected(layout, shard, rejected_lines)
    stats: dict[str, Any] = {"shard": shard, "units": ranks, "docs": 0, "tokens": 0, "file": None, "sha256": None}
    path = layout.shard(shard)
    if not tables:
        path.unlink(missing_ok=True)
        write_json(layout.write_stats(shard), stats)
        return stats
    table = pa.concat_tables(tables)
    perm = np.random.default_rng([recipe.seed, shard]).permutation(table.num_rows)
    table = table.take(pa.array(perm))
    tmp = tmp_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    compression = None if recipe.output.compression == "none" else recipe.output.compression
    pq.write_table(table, tmp, compression=compression, row_group_size=ROW_GROUP)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    commit(tmp, path)
    stats.update(
        docs=table.num_rows, tokens=int(np.asarray(table.column("n_tokens").to_numpy(), dtype=np.int64).sum()),
        file=str(path.relative_to(layout.out)), sha256=digest, bytes=path.stat().st_size,
    )
    write_json(layout.write_stats(shard), stats)
    return stats


def _copy_numbers(copies: np.ndarray) -> list[int]:
    """0, 1, ... for the repeats of each document (the first copy keeps the plain id)."""
    starts = np.repeat(np.cumsum(copies) - copies, copies)
    return (np.arange(int(copies.sum())) - starts).tolist()  # type: ignore[no-any-return]


def _write_rejected(layout: Layout, shard: int, lines: list[str]) -> None:
    path = layout.rejected_file("select", shard)
    if not lines:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    commit(tmp, path)


def write_empty_shard(layout: Layout, shard: int) -> None:
    """Shard ``shard`` with no rows but the output schema (``load_dataset`` needs one file to exist)."""
    import pyarrow.parquet as pq

    path = layout.shard(shard)
    tmp = tmp_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(output_schema().empty_table(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    commit(tmp, path)
    stats = {"shard": shard, "units": [], "docs": 0, "tokens": 0, "file": str(path.relative_to(layout.out)), "sha256": digest,
             "bytes": path.stat().st_size}
    write_json(layout.write_stats(shard), stats)
