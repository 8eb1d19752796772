"""MkDocs hook: the recipe and source-card reference pages, generated from the pydantic models.

Each field's type, default and help text come from the model itself (``Field(description=...)``), so the
reference cannot drift from the code. The pages exist only in the built site (``File.generated``).
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from mkdocs.structure.files import File, Files
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

# (page, title, intro, [(heading, dotted path of the model)])
PAGES: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    (
        "reference/corpus-recipe.md",
        "Corpus recipe",
        "The YAML file given to `medswallow build-corpus RECIPE.yaml` (example: `corpora/medical-mixture.yaml`). "
        "Unknown keys are errors; `--set a.b=c` overrides any field.",
        [("Recipe", "medswallow.corpus.recipe:Recipe")],
    ),
    (
        "reference/source-card.md",
        "Source cards",
        "One card per source in `corpora/cards/*.yaml`: where the data comes from, its licence, languages and "
        "PII risk, and an example recipe entry that reads it.",
        [("SourceCard", "medswallow.corpus.recipe:SourceCard")],
    ),
    (
        "reference/train-recipe.md",
        "Training recipes",
        "The YAML file given to `medswallow train RECIPE.yaml` (examples in `pipelines/train/`). The `kind` "
        "field picks the recipe; the sections shared by every kind are described once.",
        [
            ("CPT (`kind: cpt`)", "medswallow.train.cpt:Recipe"),
            ("SFT (`kind: sft`)", "medswallow.train.sft:Recipe"),
            ("DPO (`kind: dpo`)", "medswallow.train.dpo:Recipe"),
            ("GRPO (`kind: grpo`)", "medswallow.train.grpo:Recipe"),
        ],
    ),
    (
        "reference/eval-suite.md",
        "Eval suites",
        "The YAML file given to `medswallow eval SUITE.yaml` (examples in `pipelines/eval/`).",
        [("Suite", "medswallow.bench.suite:Suite")],
    ),
]


def _load(path: str) -> type[BaseModel]:
    import importlib

    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Every BaseModel class named inside an annotation (list[X], X | None, Annotated[Union[...], ...])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        for m in _models_in(arg):
            if m not in found:
                found.append(m)
    return found


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    value = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return "(computed)"
    if isinstance(value, BaseModel):
        return "(section defaults)"
    if isinstance(value, enum.Enum):
        value = value.value
    text = repr(value)
    return f"`{text}`" if len(text) <= 40 else f"`{text[:37]}...`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_model(model: type[BaseModel], done: set[type[BaseModel]]) -> list[str]:
    """A section per model class: one table row per field, then the nested sections it names."""
    if model in done:
        return []
    done.add(model)
    doc = (model.__doc__ or "").strip().split("\n\n")[0]
    out = [f"### {model.__name__}", "", _cell(doc), "", "| field | type | default | what it does |",
           "| --- | --- | --- | --- |"]
    nested: list[type[BaseModel]] = []
    for name, field in model.model_fields.items():
        out.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | "
                   f"{_cell(field.description or '')} |")
        nested.extend(m for m in _models_in(field.annotation) if m not in nested)
    out.append("")
    for m in nested:
        out.extend(render_model(m, done))
    return out


def render_page(title: str, intro: str, models: list[tuple[str, str]]) -> str:
    lines = [f"# {title}", "", intro, "",
             "_Generated from the pydantic models at build time: every field with its type, default and help._", ""]
    done: set[type[BaseModel]] = set()
    for heading, path in models:
        lines += [f"## {heading}", ""]
        lines += render_model(_load(path), done)
    return "\n".join(lines) + "\n"


def render_cli() -> str:
    """Every command of the ``medswallow`` CLI with its arguments and options, from the click objects."""
    from typer.main import get_command

    from medswallow.cli import app

    lines = ["# Commands", "", "_Generated from the CLI itself at build time (`medswallow COMMAND --help` "
             "says the same)._", ""]

    def walk(cmd: Any, path: list[str]) -> None:
        if path:
            lines.extend([f"{'#' * min(len(path) + 1, 4)} `medswallow {' '.join(path)}`", ""])
            lines.extend([_cell(cmd.help or cmd.short_help or ""), ""])
            params = [p for p in cmd.params if p.name != "help"]
            if params:
                lines.extend(["| argument / option | default | what it does |", "| --- | --- | --- |"])
                for p in params:
                    names = ", ".join(f"`{o}`" for o in (p.opts + p.secondary_opts)) if p.param_type_name == "option" \
                        else f"`{(p.name or '').upper()}`"
                    default = "" if p.default in (None, (), []) or callable(p.default) else f"`{p.default}`"
                    if getattr(p, "required", False):
                        default = "**required**"
                    lines.append(f"| {names} | {default} | {_cell(getattr(p, 'help', None) or '')} |")
                lines.append("")
        if hasattr(cmd, "list_commands"):  # a group (typer may vendor its own click: duck-typed)
            ctx = cmd.context_class(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, path + [name])

    walk(get_command(app), [])
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: Any) -> Files:
    for page, title, intro, models in PAGES:
        files.append(File.generated(config, page, content=render_page(title, intro, models)))
    files.append(File.generated(config, "reference/cli.md", content=render_cli()))
    return files
