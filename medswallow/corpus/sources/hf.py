"""Hugging Face datasets: by id from the local cache (no hub access), or a local dataset folder/files.

The dataset is split into ``shards`` contiguous parts, one unit of parallel work each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from medswallow.corpus.sources.base import Item, SourceReader, Unit
from medswallow.corpus.sources.fields import record_to_item
from medswallow.errors import UserError, require

DATA_FILE_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".txt": "text"}


class HFReader(SourceReader):
    def units(self) -> list[Unit]:
        self._load()  # fail at planning time, not in a worker, when the dataset is not available
        rel = self.cfg.dataset
        return [
            Unit(self.cfg.name, self.cfg.dataset, rel, part=i, parts=self.cfg.shards) for i in range(self.cfg.shards)
        ]

    def read(self, unit: Unit) -> Iterator[Item]:
        ds = self._load()
        if unit.parts > 1:
            ds = ds.shard(num_shards=unit.parts, index=unit.part, contiguous=True)
        offset = _shard_offset(len_total=self._len, parts=unit.parts, part=unit.part)
        for i, record in enumerate(ds):
            row = offset + i
            yield record_to_item(self, record, f"{self.cfg.split}:{row}", unit, self.cfg.fields, row=row)

    def _load(self) -> Any:
        require("datasets", "corpus")
        import datasets

        cfg = self.cfg
        local = Path(cfg.dataset) if Path(cfg.dataset).is_absolute() else self.base_dir / cfg.dataset
        try:
            if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "state.json").exists()):
                ds = datasets.load_from_disk(str(local))
                if isinstance(ds, datasets.DatasetDict):
                    ds = ds[cfg.split]
            elif local.is_file() and local.suffix in DATA_FILE_BUILDERS:
                ds = datasets.load_dataset(DATA_FILE_BUILDERS[local.suffix], data_files=str(local), split=cfg.split)
            elif local.is_dir():
                ds = datasets.load_dataset(str(local), cfg.config, split=cfg.split)
            else:
                ds = datasets.load_dataset(cfg.dataset, cfg.config, split=cfg.split)
        except (FileNotFoundError, ValueError, KeyError, ConnectionError, OSError) as exc:
            raise UserError(
                f"source '{cfg.name}': cannot load dataset '{cfg.dataset}' (split '{cfg.split}'): {type(exc).__name__}. "
                "Datasets are read from the local cache only (no hub access): download it where the hub is reachable "
                "and copy the cache, or give a local folder or data file."
            ) from None
        self._len = len(ds)
        return ds


def _shard_offset(len_total: int, parts: int, part: int) -> int:
    """First row of a contiguous shard, as ``datasets.Dataset.shard(contiguous=True)`` splits."""
    div, mod = divmod(len_total, parts)
    return part * div + min(part, mod)
