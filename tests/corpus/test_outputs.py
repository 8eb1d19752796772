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
    (out / "my-notes.txt").write_text("kept", encoding="utf-8")
    res = cli("build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1", "--overwrite", "--set", "seed=3")
    assert res.returncode == 0, res.stderr
    assert manifest(out)["seed"] == 3
    assert (out / "my-notes.txt").read_text(encoding="utf-8") == "kept"


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


# ---------------------------------------------------------------------------------------------- what a user sees


def test_a_build_that_keeps_nothing_writes_a_loadable_empty_data_dir_and_fails(cli, tmp_path):
    import pyarrow.dataset as pads

    recipe = tiny_recipe(tmp_path, [{"id": "a", "text": "短い"}, {"id": "b"}], quality={"min_chars": {"ja": 40, "en": 40, "mixed": 40, "other": 40}})
    out = tmp_path / "out"
    res = cli("build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1")
    assert_clean(res)
    assert res.returncode == 1 and "kept no documents" in res.stderr, res.stderr
    # (Hugging Face datasets refuses any empty split; Arrow, pandas and DuckDB read the schema.)
    table = pads.dataset(out / "data", format="parquet").to_table()
    assert table.num_rows == 0 and {"id", "text", "source", "lang", "n_tokens"} <= set(table.column_names)
    assert manifest(out)["shards"][0]["docs"] == 0


def test_temporary_files_of_killed_tasks_are_removed_on_the_next_run(cli, tmp_path):
    recipe = tiny_recipe(tmp_path)
    out = tmp_path / "out"
    assert cli("build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1").returncode == 0
    stale = [out / "rejected" / ".process-00000.jsonl.tmp-999999", out / ".work" / "process" / ".00000.parquet.tmp-999999"]
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"half")
    assert cli("build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1").returncode == 0
    assert not any(p.exists() for p in stale)


def test_the_summary_table_is_not_cut_when_stdout_is_not_a_terminal(cli, tmp_path):
    rows = [{"id": str(i), "text": f"{JA_DOC}{i}"} for i in range(12)]
    recipe = tiny_recipe(tmp_path, rows)
    text = recipe.read_text(encoding="utf-8").replace("name: notes", "name: a-source-with-a-rather-long-descriptive-name")
    recipe.write_text(text, encoding="utf-8")
    res = cli("build-corpus", str(recipe), "-o", str(tmp_path / "out"), "--quiet", "--workers", "1", env={"COLUMNS": "80"})
    assert res.returncode == 0, res.stderr
    assert "a-source-with-a-rather-long-descriptive-name" in res.stderr and "…" not in res.stderr, res.stderr


def test_a_full_disk_is_one_clear_message(tmp_path, monkeypatch):
    import errno

    from medswallow.corpus import layout as layout_mod
    from medswallow.corpus.pipeline import build
    from medswallow.corpus.recipe import load_recipe
    from medswallow.errors import UserError

    recipe = load_recipe(tiny_recipe(tmp_path), ["executor.workers=1"])
    real = layout_mod.os.replace

    def full(src, dst):  # the first shard written fails as on a full disk
        if "process" in str(dst):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(layout_mod.os, "replace", full)
    with pytest.raises(UserError) as err:
        build(recipe, tmp_path / "out", workers=1, show_progress=False)
    assert str(err.value).startswith("no space left on the device of") and "run the same command again" in str(err.value)


def test_ctrl_c_with_workers_exits_130_without_a_traceback(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    rows = [{"id": str(i), "text": f"{JA_DOC}{i}"} for i in range(3)]
    recipe = tiny_recipe(tmp_path, rows)
    for k in range(1, 60):
        (tmp_path / "in" / f"more{k:02d}.jsonl").write_text(json.dumps({"id": f"m{k}", "text": f"{OTHER_DOC}{k}"}, ensure_ascii=False) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "medswallow.cli", "build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "2",
         "--set", "output.unit_mb=0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    done = out / ".work" / "logs" / "process" / "completions"
    deadline = time.monotonic() + 240
    while not (done.is_dir() and any(done.iterdir())) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in err, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]


def test_many_small_files_make_few_units_and_a_small_work_dir(cli, tmp_path):
    recipe = tiny_recipe(tmp_path, [])
    (tmp_path / "in" / "notes.jsonl").unlink()
    for k in range(600):
        (tmp_path / "in" / f"n{k:04d}.jsonl").write_text(
            json.dumps({"id": str(k), "text": f"{JA_DOC}{k}"}, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    out = tmp_path / "out"
    res = cli("build-corpus", str(recipe), "-o", str(out), "--workers", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "600 files in 1 units" in res.stderr
    m = manifest(out)
    assert m["sources"]["notes"]["units"] == 600 and m["totals"]["read"] == 600
    work_files = [p for p in (out / ".work").rglob("*") if p.is_file()]
    assert len(work_files) < 40, len(work_files)


def test_a_failed_stage_with_an_empty_error_file_is_reported_not_an_index_error(tmp_path):
    from medswallow.corpus.layout import Layout
    from medswallow.corpus.pipeline import Runner
    from medswallow.errors import UserError

    layout = Layout(tmp_path)
    layout.error_file("process", 0).parent.mkdir(parents=True)
    layout.error_file("process", 0).write_text("", encoding="utf-8")  # what a full disk leaves
    with pytest.raises(UserError) as err:
        Runner("local", 1, None)._fail("process", layout, 3, RuntimeError("worker died"))
    assert "the process stage did not finish (0/3 tasks): RuntimeError: worker died" in str(err.value)
