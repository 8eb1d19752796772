"""Recipe validation: every shipped recipe loads; bad fields fail with file, line, field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from medswallow.errors import UserError
from medswallow.train.registry import RECIPE_KINDS, load_recipe

from .train_fixtures import cpt_recipe, write_recipe

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "pipelines" / "train").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_recipes_validate_and_name_their_command(path):
    module, recipe = load_recipe(path)
    assert recipe.kind in RECIPE_KINDS
    assert module.__name__ == RECIPE_KINDS[recipe.kind]
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(f"# medswallow train pipelines/train/{path.name}")


def test_shipped_recipes_cover_every_kind_and_method():
    seen = {(load_recipe(p)[1].kind, load_recipe(p)[1].method) for p in SHIPPED}
    assert {("cpt", "lora"), ("cpt", "full"), ("sft", "lora"), ("sft", "full")} <= seen


def test_paths_resolve_against_the_recipe_file(tmp_path):
    sub = tmp_path / "recipes"
    sub.mkdir()
    p = write_recipe(sub / "r.yaml", cpt_recipe(Path("../model"), Path("../corpus"), Path("../out")))
    _, recipe = load_recipe(p)
    assert recipe.output_dir == (tmp_path / "out").resolve()
    assert recipe.resolve(recipe.data.train[0].path) == (tmp_path / "corpus").resolve()
    assert recipe.export_dir == (tmp_path / "out" / "final").resolve()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda r: r["train"].update(learning_rat=1e-4), ["line", "unknown field 'train.learning_rat'", "did you mean 'learning_rate'"]),
        (lambda r: r.update(kind="cptt"), ["unknown recipe kind 'cptt'", "did you mean 'cpt'"]),
        (lambda r: r.update(method="qlora"), ["field 'method'", "'qlora' is not allowed"]),
        (lambda r: r["data"].update(packing="wraped"), ["data.packing", "did you mean 'wrapped'"]),
        (lambda r: r["model"].update(attn_implementation="flash"), ["unknown attention implementation 'flash'"]),
        (lambda r: r.update(lora={"dropout": 0.1}), ["needs dropout 0", "lora.dropout: 0"]),
        (lambda r: r["train"].pop("output_dir"), ["field 'train.output_dir' is required"]),
        (lambda r: r.pop("kind"), ["field 'kind' is required"]),
    ],
)
def test_bad_recipe_fields_fail_with_a_clear_message(tmp_path, edit, expected):
    recipe = cpt_recipe(tmp_path / "model", tmp_path / "corpus", tmp_path / "out")
    edit(recipe)
    p = write_recipe(tmp_path / "bad.yaml", recipe)
    with pytest.raises(UserError) as err:
        load_recipe(p)
    for part in expected:
        assert part in str(err.value)


def test_overrides_apply_and_are_validated(tmp_path):
    p = write_recipe(tmp_path / "r.yaml", cpt_recipe(tmp_path / "model", tmp_path / "corpus", tmp_path / "out"))
    _, recipe = load_recipe(p, ["train.max_steps=7", "lora.expert_layers=[1]"])
    assert recipe.train.max_steps == 7
    assert recipe.lora.expert_layers == [1]
    with pytest.raises(UserError, match="train.per_device_batch_size"):
        load_recipe(p, ["train.per_device_batch_size=0"])


def test_unknown_trl_argument_is_refused_before_training(tmp_path):
    from trl import SFTConfig

    from medswallow.train.arguments import with_trl_args

    with pytest.raises(UserError, match="did you mean 'neftune_noise_alpha'"):
        with_trl_args(SFTConfig, {"output_dir": str(tmp_path)}, {"neftune_noise_alfa": 5})


def test_cli_reports_recipe_errors_without_traceback(tmp_path, cli):
    recipe = cpt_recipe(tmp_path / "model", tmp_path / "corpus", tmp_path / "out")
    recipe["train"]["lerning_rate"] = 1.0
    p = write_recipe(tmp_path / "bad.yaml", recipe)
    res = cli("train", str(p), "--dry-run")
    assert res.returncode == 2
    assert "did you mean 'learning_rate'" in res.stderr
    assert "Traceback" not in res.stderr
