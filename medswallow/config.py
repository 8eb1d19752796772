"""Typed recipes: a YAML file gives values, ``--set a.b=c`` overrides them, pydantic validates.

Every validation error names the file, the line (when the field came from the file), the field path
and what to do, with a "did you mean" for misspelt keys and enum values.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from medswallow.errors import UserError, did_you_mean

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every recipe section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key, keyed by its dotted path."""


def _load_with_lines(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    lines: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{source}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None

    def walk(node: yaml.Node | None, path: tuple[Any, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                p = path + (key_node.value,)
                lines[p] = key_node.start_mark.line + 1
                walk(value_node, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[path + (i,)] = item.start_mark.line + 1
                walk(item, path + (i,))

    walk(root, ())
    data = yaml.safe_load(text) if root is not None else {}
    return data, lines


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``a.b.c=value``; the value is read as YAML (``3`` -> int, ``[a, b]`` -> list)."""
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected KEY=VALUE, for example --set train.lr=1e-5")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"--set {item!r}: the key before '=' is empty")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for item in overrides:
        keys, value = parse_override(item)
        node: Any = data
        for k in keys[:-1]:
            if isinstance(node, list):
                node = node[int(k)]
                continue
            if k not in node or not isinstance(node[k], dict | list):
                node[k] = {}
            node = node[k]
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def _field_names(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The valid field names at ``loc`` (for "did you mean" on unknown keys)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        current = _innermost_model(ann)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}).keys())


def _innermost_model(ann: Any) -> Any:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _innermost_model(arg)
        if found is not None:
            return found
    return None


def format_validation_error(
    exc: ValidationError, model: type[BaseModel], source: str, lines: dict[tuple[Any, ...], int]
) -> str:
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        # Discriminated unions add the tag value to the location; keep only real path parts.
        path = ".".join(str(p) for p in loc)
        line = None
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                line = lines[loc[:n]]
                break
        where = f"{source} line {line}" if line else source
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = loc[:-1]
            names = _field_names(model, tuple(p for p in parent if isinstance(p, str | int)))
            hint = did_you_mean(str(loc[-1]), names) if names else ""
            out.append(f"{where}: unknown field '{path}'{hint}; remove it or fix the spelling")
            continue
        if err["type"] in ("literal_error", "enum") and "expected" in (err.get("ctx") or {}):
            expected = str(err["ctx"]["expected"])
            choices = [c.strip().strip("'\"") for c in expected.replace(" or ", ",").split(",") if c.strip()]
            hint = did_you_mean(str(err.get("input")), choices)
            out.append(f"{where}: field '{path}': {err.get('input')!r} is not allowed{hint}")
            continue
        if err["type"] == "missing":
            out.append(f"{where}: field '{path}' is required; add it to the recipe or pass --set {path}=...")
            continue
        out.append(f"{where}: field '{path}': {msg} (got {err.get('input')!r})")
    return "invalid recipe:\n  " + "\n  ".join(out)


def validate_data(model: type[M], data: Any, source: str, lines: dict[tuple[Any, ...], int] | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, model, source, lines or {})) from None


def load_config(model: type[M], path: str | Path, overrides: list[str] | None = None) -> M:
    """Load ``path`` into ``model``, apply ``--set`` overrides, validate with clear errors."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: recipe file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{p}: recipe is not UTF-8 text") from None
    data, lines = _load_with_lines(text, str(p))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{p}: a recipe must be a YAML mapping (key: value), got {type(data).__name__}")
    data = apply_overrides(data, overrides or [])
    cfg = validate_data(model, data, str(p), lines)
    # Relative paths in a recipe are relative to the recipe file, not the working directory.
    if hasattr(cfg, "_base_dir"):
        object.__setattr__(cfg, "_base_dir", p.parent.resolve())
    return cfg


def config_hash(cfg: BaseModel) -> str:
    """A stable hash of the validated recipe (recorded in manifests)."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
