from __future__ import annotations

from typing import Literal

import pytest

from medswallow.config import StrictModel, apply_overrides, load_config
from medswallow.errors import UserError


class Source(StrictModel):
    name: str
    type: Literal["pubmed", "jsonl", "html"]
    weight: float = 1.0


class Recipe(StrictModel):
    seed: int = 0
    sources: list[Source]


def write(tmp_path, text: str):
    p = tmp_path / "recipe.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_loads_and_overrides(tmp_path):
    p = write(tmp_path, "seed: 1\nsources:\n  - name: a\n    type: pubmed\n")
    cfg = load_config(Recipe, p, ["seed=7", "sources.0.weight=2.5"])
    assert cfg.seed == 7
    assert cfg.sources[0].weight == 2.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources:\n  - name: a\n    type: pubmedd\n", ["line 3", "sources.0.type", "did you mean 'pubmed'"]),
        ("seeed: 1\nsources: []\n", ["line 1", "unknown field 'seeed'", "did you mean 'seed'"]),
        ("seed: 1\n", ["field 'sources' is required"]),
        ("sources:\n  - name: a\n    type: jsonl\n    weight: lots\n", ["line 4", "sources.0.weight"]),
        ("sources: [\n", ["not valid YAML"]),
        ("- a\n- b\n", ["must be a YAML mapping"]),
    ],
)
def test_errors_name_file_line_field_and_fix(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_config(Recipe, p)
    msg = str(info.value)
    assert str(p) in msg
    for part in expected:
        assert part in msg, msg


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(Recipe, tmp_path / "nope.yaml")


def test_bad_override_syntax():
    with pytest.raises(UserError, match="KEY=VALUE"):
        apply_overrides({}, ["novalue"])
