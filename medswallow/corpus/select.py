"""The global step: exact + near-duplicate clusters over all units, then mixture sampling per source.

It reads only small columns of the units' intermediate files (one band of dedup keys at a time; candidate
pairs are checked against the memory-mapped MinHash signatures before they are joined), decides
for every surviving document how many copies go into the mixture (0 = dropped, with a reason), groups
units into output shards by size, and writes one small decision file per unit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medswallow.corpus.dedup.cluster import cluster
from medswallow.corpus.layout import Layout, commit, tmp_path, write_json
from medswallow.corpus.mixture import sample_copies, source_targets


def _column(layout: Layout, n_units: int, name: str, dtype: Any) -> np.ndarray:
    import pyarrow.parquet as pq

    parts = [pq.read_table(layout.process_data(r), columns=[name]).column(0).to_numpy() for r in range(n_units)]
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype=dtype)


def select(recipe: Any, layout: Layout, units: list[dict[str, Any]]) -> dict[str, Any]:
    """Decide copies for every document; write per-unit decision files and the shard plan."""
    import pyarrow.parquet as pq

    n_units = len(units)
    sizes = np.array([pq.ParquetFile(layout.process_data(r)).metadata.num_rows for r in range(n_units)], dtype=np.int64)
    offsets = np.r_[0, np.cumsum(sizes)]
    n = int(offsets[-1])
    names = [s.name for s in recipe.sources]
    source_of = np.repeat(np.array([names.index(u["source"]) for u in units], dtype=np.int32), sizes)
    tokens = _column(layout, n_units, "n_tokens", np.int64)

    # -- duplicates -------------------------------------------------------------------------------
    d = recipe.dedup
    members = np.flatnonzero(_column(layout, n_units, "dedup", bool)) if n else np.empty(0, dtype=np.int64)
    exact = _column(layout, n_units, "exact", np.uint64) if n else np.empty(0, dtype=np.uint64)
    if len(members) and (d.exact or d.near):
        bands = (_column(layout, n_units, f"b{j}", np.uint64)[members] for j in range(d.bands)) if d.near else iter(())
        store = SignatureStore(layout, offsets, d.bands * d.rows)
        roots = cluster(n, members, exact[members] if d.exact else None, bands, verify=store.verifier(d.threshold))
    else:
        roots = np.arange(n, dtype=np.int64)
    duplicate = roots != np.arange(n)
    dup_exact = duplicate & (exact == exact[roots])

    # -- mixture ----------------------------------------------------------------------------------
    survivors = ~duplicate
    available = {name: int(tokens[survivors & (source_of == i)].sum()) for i, name in enumerate(names)}
    targets = source_targets(recipe, available)
    copies = np.zeros(n, dtype=np.int64)
    order = _column(layout, n_units, "order", np.uint64) if n else np.empty(0, dtype=np.uint64)
    for i, name in enumerate(names):
        sel = np.flatnonzero(survivors & (source_of == i))
        copies[sel] = sample_copies(order[sel], tokens[sel], targets[name].target_tokens)

    # -- ids: two different documents with one id must not both reach the shards ------------------
    renamed = _rename_repeated_ids(layout, offsets, order, copies > 0, recipe.seed)

    # -- decisions per unit -----------------------------------------------------------------------
    rep_ids = _ids_of(layout, offsets, np.unique(roots[duplicate]))
    for r in range(n_units):
        lo, hi = int(offsets[r]), int(offsets[r + 1])
        new_ids = {g - lo: v for g, v in renamed.items() if lo <= g < hi}
        _write_decisions(layout, r, copies[lo:hi], duplicate[lo:hi], dup_exact[lo:hi], roots[lo:hi], survivors[lo:hi], rep_ids, new_ids)

    # -- per-source report ------------------------------------------------------------------------
    report: dict[str, Any] = {}
    for i, name in enumerate(names):
        mine = source_of == i
        dropped_mix = survivors & mine & (copies == 0)
        report[name] = {
            "dedup": {"exact": int((dup_exact & mine).sum()), "near": int((duplicate & ~dup_exact & mine).sum())},
            "dropped": {
                "dedup:exact": int((dup_exact & mine).sum()),
                "dedup:near": int((duplicate & ~dup_exact & mine).sum()),
                "mixture:over_budget": int(dropped_mix.sum()),
            },
            "tokens_dropped": {
                "dedup:exact": int(tokens[dup_exact & mine].sum()),
                "dedup:near": int(tokens[duplicate & ~dup_exact & mine].sum()),
                "mixture:over_budget": int(tokens[dropped_mix].sum()),
            },
            "kept": int((mine & (copies > 0)).sum()),
            "tokens_kept": int(tokens[mine & (copies > 0)].sum()),
            "docs_out": int(copies[mine].sum()),
            "tokens_out": int((copies[mine] * tokens[mine]).sum()),
            "mixture": targets[name].to_dict(),
            "ids_renamed": int(sum(1 for g in renamed if source_of[g] == i)),
        }

    # -- output shards: contiguous units, about max_shard_mb of text each ---------------------------
    n_bytes = _column(layout, n_units, "n_bytes", np.int64) if n else np.empty(0, dtype=np.int64)
    out_bytes = np.array([int((n_bytes[offsets[r] : offsets[r + 1]] * copies[offsets[r] : offsets[r + 1]]).sum()) for r in range(n_units)])
    groups: list[list[int]] = [[]]
    acc = 0
    limit = recipe.output.max_shard_mb * 1024 * 1024
    for r in range(n_units):
        if groups[-1] and acc + out_bytes[r] > limit:
            groups.append([])
            acc = 0
        groups[-1].append(r)
        acc += int(out_bytes[r])
    plan = {"shards": groups, "sources": report, "documents": n}
    write_json(layout.shards_plan, plan)
    return plan


class SignatureStore:
    """The units' MinHash signatures, memory-mapped: candidate pairs are checked without loading them all."""

    CHUNK = 65536  # pairs compared at a time (bounds the temporary arrays)

    def __init__(self, layout: Layout, offsets: np.ndarray, width: int) -> None:
        self.offsets = offsets
        self.width = width
        self.maps = [
            np.memmap(layout.process_signatures(r), dtype="<u4", mode="r").reshape(-1, width)
            if offsets[r + 1] > offsets[r] else np.zeros((0, width), dtype="<u4")
            for r in range(len(offsets) - 1)
        ]

    def rows(self, idx: np.ndarray) -> np.ndarray:
        out = np.empty((len(idx), self.width), dtype=np.uint32)
        ranks = np.searchsorted(self.offsets, idx, side="right") - 1
        for r in np.unique(ranks):
            sel = ranks == r
            out[sel] = self.maps[int(r)][idx[sel] - self.offsets[r]]
        return out

    def similarity(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Estimated Jaccard of each pair: the share of signature positions that agree."""
        sims = np.empty(len(u), dtype=np.float32)
        for s in range(0, len(u), self.CHUNK):
            a, b = self.rows(u[s : s + self.CHUNK]), self.rows(v[s : s + self.CHUNK])
            sims[s : s + self.CHUNK] = (a == b).mean(axis=1)
        return sims

    def verifier(self, threshold: float):  # type: ignore[no-untyped-def]
        return lambda u, v: self.similarity(u, v) >= threshold


def _ids_of(layout: Layout, offsets: np.ndarray, wanted: np.ndarray) -> dict[int, str]:
    """Ids of the given global indices (the representatives that duplicates point to)."""
    import pyarrow.parquet as pq

    out: dict[int, str] = {}
    if len(wanted) == 0:
        return out
    ranks = np.searchsorted(offsets, wanted, side="right") - 1
    for r in np.unique(ranks):
        idx = wanted[ranks == r]
        ids = pq.read_table(layout.process_data(int(r)), columns=["id"]).column(0)
        for g, value in zip(idx, ids.take(idx - offsets[r]).to_pylist(), strict=True):
            out[int(g)] = value
    return out


def _rename_repeated_ids(layout: Layout, offsets: np.ndarray, order: np.ndarray, kept: np.ndarray, seed: int) -> dict[int, str]:
    """New ids for kept documents whose id an earlier kept document already has: ``ID~2``, ``ID~3``...

    ``order`` is a 64-bit hash of each id, so repeats are found without reading the ids; only the few
    candidates are read to confirm. A new id is checked against every id of the build.
    """
    import xxhash

    idx = np.flatnonzero(kept)
    if len(idx) < 2:
        return {}
    _, inverse, counts = np.unique(order[idx], return_inverse=True, return_counts=True)
    candidates = idx[counts[inverse] > 1]
    if len(candidates) == 0:
        return {}
    ids = _ids_of(layout, offsets, candidates)
    taken = set(order.tolist())
    seen: dict[str, int] = {}
    out: dict[int, str] = {}
    for g in sorted(ids):  # global order: sources in recipe order, files and records in input order
        rid = ids[g]
        seen[rid] = seen.get(rid, 0) + 1
        if seen[rid] == 1:
            continue
        k = seen[rid]
        while True:
            new = f"{rid}~{k}"
            h = xxhash.xxh3_64_intdigest(f"{seed}:{new}".encode())
            if h not in taken:
                break
            k += 1
        taken.add(h)
        seen[rid] = k
        out[g] = new
    return out


def _write_decisions(layout, rank, copies, duplicate, dup_exact, roots, survivors, rep_ids, new_ids) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    reasons: list[str | None] = []
    details: list[str | None] = []
    for c, dup, ex, root, alive in zip(copies, duplicate, dup_exact, roots, survivors, strict=True):
        if dup:
            reasons.append("dedup:exact" if ex else "dedup:near")
            details.append(f"duplicate of {rep_ids[int(root)]}")
        elif alive and c == 0:
            reasons.append("mixture:over_budget")
            details.append("not sampled: the source's token target was reached")
        else:
            reasons.append(None)
            details.append(None)
    table = pa.table(
        {
            "copies": pa.array(copies, pa.uint16()), "reason": pa.array(reasons, pa.string()),
            "detail": pa.array(details, pa.string()),
            "new_id": pa.array([new_ids.get(i) for i in range(len(copies))], pa.string()),
        }
    )
    path = layout.select_data(rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    pq.write_table(table, tmp, compression="zstd")
    commit(tmp, path)
