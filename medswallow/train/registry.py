"""The recipe kinds ``medswallow train`` knows: an explicit table, imported only when a recipe asks for it.

A kind is a module with three names: ``Recipe`` (its pydantic model, a :class:`BaseRecipe`), ``load_data``
(recipe, tokenizer) -> :class:`~medswallow.train.data.TrainData`, and ``train`` (recipe, data, callbacks) ->
the folder the trained weights were saved to. Adding a kind is one line here and one module.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from medswallow.config import StrictModel, load_config
from medswallow.errors import UserError, did_you_mean

RECIPE_KINDS: dict[str, str] = {
    "cpt": "medswallow.train.cpt",
    "sft": "medswallow.train.sft",
    "dpo": "medswallow.train.dpo",
    "grpo": "medswallow.train.grpo",
}


def recipe_module(kind: str) -> ModuleType:
    """Import the module of a recipe kind, or fail with the list of kinds."""
    if kind not in RECIPE_KINDS:
        raise UserError(f"unknown recipe kind {kind!r}{did_you_mean(kind, list(RECIPE_KINDS))}")
    return importlib.import_module(RECIPE_KINDS[kind])


def _peek_kind(path: Path, overrides: list[str]) -> str:
    """Read ``kind`` (from an override or the file) before the full, kind-specific validation."""
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip() == "kind":
            return value.strip()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError):
        load_config(StrictModel, path)  # raises the precise message (file, line, problem)
        raise
    if isinstance(data, dict) and isinstance(data.get("kind"), str):
        return str(data["kind"])
    raise UserError(f"{path}: field 'kind' is required (one of: {', '.join(RECIPE_KINDS)})")


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> tuple[ModuleType, Any]:
    """Load and validate a training recipe: its module and its typed config."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: recipe file not found")
    overrides = list(overrides or [])
    module = recipe_module(_peek_kind(p, overrides))
    # Resolved once here (paths absolute, defaults applied); every later stage reads this one object.
    return module, load_config(module.Recipe, p, overrides).settle_paths()
