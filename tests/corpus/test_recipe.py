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


# ---------------------------------------------------------------------------------------------- every problem at once


MANY_MISTAKES = """\
name: x
sources:
  - name: a
    type: jsonl
    paths: [data/note.jsonl]
  - name: b
    type: pubmedd
    paths: [x]
  - name: c
    type: jsonl
    pathz: [x]
dedup:
  nearr: true
"""


def test_every_recipe_problem_is_reported_in_one_message(tmp_path):
    from medswallow.corpus.recipe import load_recipe
    from medswallow.errors import UserError

    p = tmp_path / "r.yaml"
    p.write_text(MANY_MISTAKES, encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_recipe(p)
    msg = str(err.value)
    assert "line 7" in msg and "did you mean 'pubmed'" in msg
    assert "line 11" in msg and "did you mean 'paths'" in msg
    assert "line 13" in msg and "nearr" in msg


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("dedupe.near=false", "--set dedupe.near=false: unknown field 'dedupe' — did you mean 'dedup'?"),
        ("dedup.nearr=false", "--set dedup.nearr=false: unknown field 'dedup.nearr' — did you mean 'near'?"),
        ("seed=abc", "--set seed=abc: field 'seed'"),
    ],
)
def test_a_set_typo_is_blamed_on_set_not_on_the_recipe(tmp_path, override, expected):
    from medswallow.corpus.recipe import load_recipe
    from medswallow.errors import UserError

    (tmp_path / "a.jsonl").write_text("{}\n", encoding="utf-8")
    p = tmp_path / "r.yaml"
    p.write_text("name: x\nsources:\n  - name: a\n    type: jsonl\n    paths: [a.jsonl]\n", encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_recipe(p, [override])
    assert expected in str(err.value) and f"{p}:" not in str(err.value)


def test_missing_input_paths_name_the_recipe_line_and_the_closest_file(tmp_path):
    from medswallow.corpus.layout import Layout
    from medswallow.corpus.pipeline import plan_build
    from medswallow.corpus.recipe import load_recipe
    from medswallow.errors import UserError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.jsonl").write_text("{}\n", encoding="utf-8")
    p = tmp_path / "r.yaml"
    p.write_text(
        "name: x\npii: {mode: 'off'}\nsources:\n  - name: a\n    type: jsonl\n    paths:\n      - data/note.jsonl\n"
        "  - name: b\n    type: text\n    paths: [dta/notes.jsonl]\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError) as err:
        plan_build(load_recipe(p), Layout(tmp_path / "out"), False)
    msg = str(err.value)
    assert "line 7: source 'a': no file matches 'data/note.jsonl' — did you mean 'data/notes.jsonl'?" in msg
    assert "line 10: source 'b': no file matches 'dta/notes.jsonl' — did you mean 'data/notes.jsonl'?" in msg
    assert not (tmp_path / "out").exists()  # nothing written for a recipe that cannot run
