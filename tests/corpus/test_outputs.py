"""What a build may touch and what it leaves behind: the output directory, temporary files, empty builds,
and the messages a user sees when the output cannot be written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus.helpers import assert_clean, manifest, write_recipe

pytestmark = pytest.mark.slow

JA_DOC = "高血圧の治療では減塩と運動療法が基本であり、家庭血圧の測定を続けることが大切である。"
THIRD_DOC = "敗血症が疑われる患者では、血液培養を採取したうえで一時間以内に抗菌薬の投与を開始する。"
OTHER_DOC = "糖尿病の治療では食事療法を続け、低血糖の予防と合併症の早期発見に注意することが重要である。"


def tiny_recipe(root: Path, records: list[dict] | None = None, fields: dict | None = None, **sections) -> Path:
    (root / "in").mkdir(parents=True, exist_ok=True)
    rows = records if records is not None else [{"id": "a", "text": JA_DOC}]
    (root / "in" / "notes.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    sections.setdefault("pii", {"mode": "off"})
    sections.setdefault("quality", {"min_chars": {"ja": 5, "en": 5, "mixed": 5, "other": 5}})
    return write_recipe(root / "recipe.yaml", [{"name": "notes", "type": "jsonl", "paths": ["in/*.jsonl"], "fields": fields or {"id": "id"}}], **sections)


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


# ---------------------------------------------------------------------------------------------- personal data in every field


PLANTED = ["山田太郎", "48213377", "090-1234-5678", "Taro Yamada"]


def every_output_text(out: Path) -> str:
    """Everything a build wrote, as text: Parquet tables dumped row by row, every other file as bytes."""
    import pyarrow.parquet as pq

    parts = []
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix == ".parquet":
            parts.append(json.dumps(pq.read_table(p).to_pylist(), ensure_ascii=False, default=str))
        else:
            parts.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(parts)


def test_ids_meta_and_rejected_texts_carry_no_planted_identifier(cli, tmp_path):
    records = [
        {"mrn": "48213377", "patient": "山田太郎", "ward": "循環器内科", "text": JA_DOC},
        {"mrn": "MRN 48213377", "patient": {"name": "Taro Yamada", "age": 71}, "ward": "外来", "text": OTHER_DOC},
        {"mrn": "x-3", "patient": "-", "ward": "外来", "text": "連絡先090-1234-5678"},  # too short: dropped, text kept in rejected/
    ]
    recipe = tiny_recipe(tmp_path, records, fields={"id": "mrn", "meta": ["patient", "ward"]}, pii={"mode": "fast"},
                         output={"rejected_text_chars": 500}, quality={"min_chars": {"ja": 30, "en": 30, "mixed": 30, "other": 30}})
    out = tmp_path / "out"
    res = cli("build-corpus", str(recipe), "-o", str(out), "--workers", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    everything = every_output_text(out) + res.stdout + res.stderr
    assert [v for v in PLANTED if v in everything] == []
    m = manifest(out)
    assert m["totals"]["read"] == 3 and m["totals"]["kept"] == 2
    from tests.corpus.helpers import rejected, shard_rows

    rows = {r["id"]: r for r in shard_rows(out)}
    assert set(rows) == {"notes:in/notes.jsonl:1", "notes:in/notes.jsonl:2"}  # MRN ids replaced by position
    assert json.loads(rows["notes:in/notes.jsonl:1"]["meta"])["ward"] == "循環器内科"  # what is not personal stays
    assert "<PERSON>" in rows["notes:in/notes.jsonl:1"]["meta"]
    (dropped,) = rejected(out)
    assert "<PHONE_NUMBER>" in dropped["text"]


def test_two_documents_with_one_id_never_share_it_in_the_shards(cli, tmp_path):
    from tests.corpus.helpers import shard_rows

    other = OTHER_DOC
    recipe = tiny_recipe(tmp_path, [{"id": "a", "text": JA_DOC}, {"id": "a", "text": other}, {"id": "a~2", "text": THIRD_DOC}])
    out = tmp_path / "out"
    res = cli("build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    ids = sorted(r["id"] for r in shard_rows(out))
    assert len(ids) == len(set(ids)) == 3, ids
    assert ids == ["notes:a", "notes:a~2", "notes:a~3"] and manifest(out)["sources"]["notes"]["ids_renamed"] == 1
