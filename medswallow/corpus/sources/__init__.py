"""Source readers: one small module per source type, found through an explicit, lazy registry.

Adding a source type is one reader module (a :class:`~medswallow.corpus.sources.base.SourceReader`
subclass), its options model in :mod:`medswallow.corpus.recipe`, and one line below.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from medswallow.errors import UserError, did_you_mean

# type -> "module:ReaderClass"; nothing is imported until a recipe asks for the type.
SOURCE_TYPES: dict[str, str] = {
    "pubmed": "medswallow.corpus.sources.pubmed:PubMedReader",
    "jsonl": "medswallow.corpus.sources.jsonl:JsonlReader",
    "csv": "medswallow.corpus.sources.csv:CsvReader",
    "parquet": "medswallow.corpus.sources.parquet:ParquetReader",
    "hf": "medswallow.corpus.sources.hf:HFReader",
    "guideline": "medswallow.corpus.sources.guideline:GuidelineReader",
    "qa": "medswallow.corpus.sources.qa:QAReader",
    "text": "medswallow.corpus.sources.text:TextReader",
    "synthetic_qa": "medswallow.corpus.sources.synthetic:SyntheticQAReader",
}


def reader_class(kind: str) -> type:
    if kind not in SOURCE_TYPES:
        raise UserError(f"unknown source type '{kind}'{did_you_mean(kind, list(SOURCE_TYPES))}")
    module, _, name = SOURCE_TYPES[kind].partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def make_reader(cfg: Any, base_dir: Path, recipe: Any = None) -> Any:
    """The reader for one source section of a recipe."""
    cls = reader_class(cfg.type)
    if getattr(cls, "needs_recipe", False):
        return cls(cfg, base_dir, recipe)
    return cls(cfg, base_dir)
