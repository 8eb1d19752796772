"""Small helpers shared by the corpus tests: build a reader from a dict, write recipes, read build outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from medswallow.corpus.recipe import SOURCE_MODELS, Recipe
from medswallow.corpus.sources import make_reader
from medswallow.records import Document, Rejected

REPO = Path(__file__).resolve().parents[2]
SAMPLE_RECIPE = REPO / "corpora" / "medical-mixture.yaml"


def reader(kind: str, base_dir: Path, **fields: Any) -> Any:
    cfg = SOURCE_MODELS[kind].model_validate({"name": "src", "type": kind, **fields})
    return make_reader(cfg, base_dir, None)


def read_all(kind: str, base_dir: Path, **fields: Any) -> tuple[list[Document], list[Rejected]]:
    """Every item of every unit of a source: (documents, quarantined/dropped records)."""
    r = reader(kind, base_dir, **fields)
    docs, rejected = [], []
    for unit in r.units():
        for item in r.read(unit):
            (docs if isinstance(item, Document) else rejected).append(item)
    return docs, rejected


def write_recipe(path: Path, sources: list[dict[str, Any]], **sections: Any) -> Path:
    data: dict[str, Any] = {"name": "test-mixture", "seed": 7, "sources": sources, **sections}
    Recipe.model_validate(data)  # fail early in the test, not in the CLI
    path.write_text(
        f"# medswallow build-corpus {path.name} -o OUT\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    return path


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def rejected(out: Path) -> list[dict[str, Any]]:
    rows = []
    for f in sorted((out / "rejected").glob("*.jsonl")):
        rows += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()]
    return rows


def shard_rows(out: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for f in sorted((out / "data").glob("*.parquet")):
        rows += pq.read_table(f).to_pylist()
    return rows


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted((out / "data").glob("*.parquet"))}


def assert_clean(res: Any) -> None:
    """A CLI run that users would call clean: no traceback anywhere."""
    assert "Traceback" not in res.stderr and "Traceback" not in res.stdout, res.stderr[-3000:]


def assert_accounted(m: dict[str, Any]) -> None:
    for name, s in m["sources"].items():
        d = s["docs"]
        assert d["kept"] + sum(d["dropped"].values()) + sum(d["quarantined"].values()) == d["read"], name
