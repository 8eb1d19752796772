"""Where a build keeps its files: the output contract and the work area that makes resuming possible.

``OUT/data/*.parquet``, ``OUT/manifest.json``, ``OUT/README.md`` and ``OUT/rejected/`` are the product;
``OUT/.work/`` holds the plan, per-unit intermediate results and the executors' completion files.
Every file is written to a temporary name and renamed, so a crash never leaves a half-written file that
a rerun would trust.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Layout:
    out: Path

    @property
    def marker(self) -> Path:
        """Written by the first run into OUT: only a directory holding it may be cleared by --overwrite."""
        return self.out / ".medswallow-build.json"

    @property
    def work(self) -> Path:
        return self.out / ".work"

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def rejected(self) -> Path:
        return self.out / "rejected"

    @property
    def plan(self) -> Path:
        return self.work / "plan.json"

    @property
    def units(self) -> Path:
        return self.work / "units.jsonl"

    @property
    def decontam_index(self) -> Path:
        return self.work / "decontam"

    @property
    def shards_plan(self) -> Path:
        return self.work / "select" / "shards.json"

    def logs(self, stage: str) -> Path:
        return self.work / "logs" / stage

    def error_file(self, stage: str, rank: int) -> Path:
        return self.work / "errors" / f"{stage}-{rank:05d}.txt"

    def process_data(self, rank: int) -> Path:
        return self.work / "process" / f"{rank:05d}.parquet"

    def process_signatures(self, rank: int) -> Path:
        """MinHash signatures of a unit's survivors: raw little-endian uint32, one row per document."""
        return self.work / "process" / f"{rank:05d}.sig"

    def process_stats(self, rank: int) -> Path:
        return self.work / "process" / f"{rank:05d}.json"

    def select_data(self, rank: int) -> Path:
        return self.work / "select" / f"{rank:05d}.parquet"

    def write_stats(self, shard: int) -> Path:
        return self.work / "write" / f"{shard:05d}.json"

    def shard(self, shard: int) -> Path:
        return self.data / f"part-{shard:05d}.parquet"

    def rejected_file(self, stage: str, rank: int) -> Path:
        return self.rejected / f"{stage}-{rank:05d}.jsonl"

    def manifest(self) -> Path:
        return self.out / "manifest.json"

    def card(self) -> Path:
        return self.out / "README.md"


def tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def commit(tmp: Path, path: Path) -> None:
    """Atomically move a finished temporary file into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    commit(tmp, path)


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    tmp.write_bytes(data)
    commit(tmp, path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
