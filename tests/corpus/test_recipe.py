from __future__ import annotations

import pytest

from medswallow.corpus.recipe import load_recipe
from medswallow.errors import UserError
from tests.corpus.helpers import SAMPLE_RECIPE

GOOD = "sources:\n  - name: a\n    type: jsonl\n    paths: [x.jsonl]\n"


def write(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources:\n  - name: a\n    type: pubmedd\n    paths: [x]\n", ["line 3", "unknown source type 'pubmedd'", "did you mean 'pubmed'"]),
        ("sources:\n  - name: a\n    type: pubmed\n    pathz: [x]\n", ["source 'a'", "line 4", "unknown field 'pathz'", "did you mean 'paths'"]),
        ("sources:\n  - name: a\n    paths: [x]\n", ["source 'a' has no 'type'", "pubmed"]),
        ("sources:\n  - name: a\n    type: jsonl\n", ["source 'a'", "field 'paths' is required"]),
        ("sources:\n  - name: a\n    type: jsonl\n    paths: [x]\n    weight: 1\n", ["mixture.total_tokens"]),
        (GOOD + "  - name: a\n    type: text\n    paths: [y]\n", ["unique", "a"]),
        (GOOD + "dedupe:\n  near: false\n", ["line 5", "unknown field 'dedupe'", "did you mean 'dedup'"]),
        (GOOD + "dedup:\n  bands: many\n", ["line 6", "dedup.bands"]),
        (GOOD + "pii:\n  mode: thorogh\n", ["pii.mode", "did you mean 'thorough'"]),
        ("sources:\n  - name: bad name!\n    type: jsonl\n    paths: [x]\n", ["source 'bad name!'", "name"]),
    ],
)
def test_recipe_errors_name_line_field_and_fix(tmp_path, text, expected):
    with pytest.raises(UserError) as info:
        load_recipe(write(tmp_path, text))
    for part in expected:
        assert part in str(info.value), str(info.value)


def test_overrides_yaml_off_and_base_dir(tmp_path):
    r = load_recipe(write(tmp_path, GOOD + "pii:\n  mode: off\n"), ["sources.0.budget_tokens=500", "dedup.near=false"])
    assert r.pii.mode == "off" and r.sources[0].budget_tokens == 500 and r.dedup.near is False
    assert r.base_dir == tmp_path.resolve()
    with pytest.raises(UserError, match=r"\(source 'a'\): field 'budget_tokens'"):
        load_recipe(write(tmp_path, GOOD), ["sources.0.budget_tokens=-3"])


def test_sample_recipe_is_valid_and_starts_with_its_command():
    first = SAMPLE_RECIPE.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# ") and "medswallow build-corpus corpora/medical-mixture.yaml -o" in first
    r = load_recipe(SAMPLE_RECIPE)
    assert {s.type for s in r.sources} >= {"pubmed", "guideline", "jsonl", "qa", "text"}
    assert r.data_hash() == load_recipe(SAMPLE_RECIPE, ["executor.workers=1"]).data_hash()  # executor not in hash
    assert r.data_hash() != load_recipe(SAMPLE_RECIPE, ["seed=1"]).data_hash()


def test_registry_and_recipe_models_name_the_same_source_types():
    from medswallow.corpus.recipe import SOURCE_MODELS
    from medswallow.corpus.sources import SOURCE_TYPES, reader_class

    assert set(SOURCE_TYPES) == set(SOURCE_MODELS)
    for kind in SOURCE_TYPES:
        assert callable(reader_class(kind).read)
    with pytest.raises(UserError, match="did you mean 'guideline'"):
        reader_class("guidelines")


def test_every_source_card_is_valid():
    from medswallow.corpus.recipe import SOURCE_MODELS, load_card

    cards = sorted((SAMPLE_RECIPE.parent / "cards").glob("*.yaml"))
    kinds = {load_card(c).kind for c in cards}
    assert kinds == set(SOURCE_MODELS)  # a card for every source type
