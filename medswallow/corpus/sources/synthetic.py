"""Synthetic QA: documents generated from other sources' passages by ``medswallow.corpus.synth_qa``.

The hook: ``read_synthetic_qa(cfg, passages) -> Iterator[Document | Rejected]`` where ``cfg`` is the
recipe's :class:`~medswallow.corpus.recipe.SyntheticQASource` section and ``passages`` iterates the
normalised documents of one unit of a source named in ``from_sources``. Each unit of those sources is one
unit here, so generation runs in parallel like every other source. Ids and the source name of what the hook
yields are set here, so the hook need not know the naming rules.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from medswallow.corpus.sources.base import Item, SourceReader, Unit
from medswallow.errors import UserError
from medswallow.records import Document

HOOK = "medswallow.corpus.synth_qa:read_synthetic_qa"


def load_hook() -> Any:
    module, _, name = HOOK.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise UserError(
            f"source type 'synthetic_qa' needs {HOOK}, which this installation does not provide"
        ) from None
    return fn


class SyntheticQAReader(SourceReader):
    needs_recipe = True

    def __init__(self, cfg: Any, base_dir: Path, recipe: Any) -> None:
        super().__init__(cfg, base_dir)
        self.recipe = recipe

    def units(self) -> list[Unit]:
        from medswallow.corpus.sources import make_reader

        load_hook()
        units = []
        for origin in self.cfg.from_sources:
            reader = make_reader(self.recipe.source(origin), self.base_dir, self.recipe)
            for u in reader.units():
                units.append(Unit(self.cfg.name, u.path, u.rel, u.part, u.parts, origin=origin))
        return units

    def read(self, unit: Unit) -> Iterator[Item]:
        from medswallow.corpus.normalize import Normalizer
        from medswallow.corpus.sources import make_reader

        hook = load_hook()
        origin_cfg = self.recipe.source(unit.origin)
        origin = make_reader(origin_cfg, self.base_dir, self.recipe)
        norm = Normalizer(self.recipe.normalize)
        origin_unit = replace(unit, source=unit.origin, origin="")

        def passages() -> Iterator[Document]:
            for item in origin.read(origin_unit):
                if isinstance(item, Document):
                    item.text = norm(item.text)
                    yield item

        prefix = f"{self.cfg.name}:"
        for item in hook(self.cfg, passages()):
            item.source = self.cfg.name
            if not item.id.startswith(prefix):
                item.id = prefix + item.id
            if isinstance(item, Document):
                item.meta.setdefault("file", unit.rel)
            yield item
