"""What a build may touch and what it leaves behind: the output directory, temporary files, empty builds,
and the messages a user sees when the output cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus.helpers import assert_clean, manifest, write_recipe

JA_DOC = "高血圧の治療では減塩と運動療法が基本であり、家庭血圧の測定を続けることが大切である。"


def tiny_recipe(root: Path, records: list[dict] | None = None, **sections) -> Path:
    (root / "in").mkdir(parents=True, exist_ok=True)
    rows = records if records is not None else [{"id": "a", "text": JA_DOC}]
    (root / "in" / "notes.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    sections.setdefault("pii", {"mode": "off"})
    sections.setdefault("quality", {"min_chars": {"ja": 5, "en": 5, "mixed": 5, "other": 5}})
    return write_recipe(root / "recipe.yaml", [{"name": "notes", "type": "jsonl", "paths": ["in/*.jsonl"], "fields": {"id": "id"}}], **sections)


def snapshot(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------- --overwrite


@pytest.mark.parametrize("where", ["other", "cwd"])
def test_overwrite_refuses_a_directory_it_did_not_build_and_deletes_nothing(cli, tmp_path, where):
    recipe = tiny_recipe(tmp_path / "r")
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "mine.csv").write_text("precious", encoding="utf-8")
    (project / "README.md").write_text("# my project", encoding="utf-8")
    (project / "manifest.json").write_text("{}", encoding="utf-8")
    (project / "rejected").mkdir()
    before = snapshot(project)
    if where == "cwd":  # `-o .` in a project root
        res = cli("build-corpus", str(recipe), "-o", ".", "--overwrite", "--quiet", cwd=project)
    else:
        res = cli("build-corpus", str(recipe), "-o", str(project), "--overwrite", "--quiet")
    assert_clean(res)
    assert res.returncode == 2 and "--overwrite refused, nothing was deleted" in res.stderr, res.stderr
    assert snapshot(project) == before and (project / "rejected").is_dir()


def test_overwrite_replaces_its_own_build_and_keeps_foreign_files(cli, tmp_path):
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "out"
    res = cli("build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1")
    assert res.returncode == 0, res.stderr
    assert (out / ".medswallow-build.json").is_file()
    res = cli("build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1", "--overwrite", "--set", "seed=3")
    assert res.returncode == 0, res.stderr
    assert manifest(out)["seed"] == 3


def test_output_below_a_file_is_a_one_line_error(cli, tmp_path):
    recipe = tiny_recipe(tmp_path)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    res = cli("build-corpus", str(recipe), "-o", str(tmp_path / "afile" / "sub"), "--quiet")
    assert_clean(res)
    assert res.returncode == 2 and "is a file, not a directory" in res.stderr, res.stderr
