"""``medswallow build-corpus`` end to end, as a user runs it: the sample mixture, determinism, resume after a
kill, bad inputs, and the same recipe on a local Ray cluster."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.corpus.helpers import (
    SAMPLE_RECIPE,
    assert_accounted,
    assert_clean,
    manifest,
    rejected,
    shard_bytes,
    shard_rows,
    write_recipe,
)

pytestmark = pytest.mark.slow

# Personal data planted in corpora/samples/notes/case_reports.jsonl (all fictional).
PLANTED_PII = [
    "山田太郎", "山田次郎", "佐藤花子", "John Smith", "03-3123-4567", "03-3987-6543", "090-1234-5678",
    "(415) 555-0134", "hanako.sato@example.jp", "john.smith@example.com", "48213377", "20231105",
    "456789123458", "101-0062", "昭和22年3月2日", "神田駿河台2丁目3番4号",
]

JA = [
    "高血圧の治療では減塩と運動療法が基本である。", "家庭血圧は朝と夜に座位で測定する。", "糖尿病では合併症の予防が重要である。",
    "SGLT2阻害薬は心不全の入院を減らす。", "低血糖には速やかにブドウ糖を投与する。", "喘息では吸入手技の確認が欠かせない。",
    "敗血症では一時間以内に抗菌薬を開始する。", "脳梗塞では発症時刻の確認が治療方針を左右する。", "高齢者では転倒の予防に配慮する。",
    "慢性腎臓病では蛋白尿の評価を行う。", "熱中症の予防には水分と塩分の補給が必要である。", "禁煙は心血管疾患の危険を大きく減らす。",
]
EN = [
    "Hypertension is treated first with salt reduction and exercise.", "Home blood pressure is measured in the morning and evening.",
    "Sepsis requires antibiotics within the first hour.", "Inhaler technique should be checked at every visit.",
    "Older adults are at higher risk of falls when blood pressure is lowered quickly.", "Chronic kidney disease is staged by eGFR and albuminuria.",
    "Smoking cessation reduces the risk of heart disease.", "Thrombolysis is offered within four and a half hours of stroke onset.",
]


def make_corpus(root: Path, files: int, docs: int, seed: int) -> None:
    """JSONL files of Japanese and English paragraphs, with exact duplicates across files."""
    rng = random.Random(seed)
    (root / "data").mkdir(parents=True)
    planted = []
    for f in range(files):
        with open(root / "data" / f"part{f:03d}.jsonl", "w", encoding="utf-8") as out:
            for d in range(docs):
                pool = JA if (f + d) % 3 else EN
                text = ("" if pool is JA else " ").join(rng.sample(pool, 5)) + f" ({f}-{d})"
                if d == 0 and planted:
                    text = planted[-1]  # an exact copy of a document of the previous file
                planted.append(text)
                out.write(json.dumps({"id": f"{f}-{d}", "text": text}, ensure_ascii=False) + "\n")
    (root / "bench.txt").write_text("敗血症では一時間以内に抗菌薬を開始する。脳梗塞では発症時刻の確認が治療方針を左右する。\n", encoding="utf-8")


def small_recipe(root: Path, files: int, docs: int) -> Path:
    make_corpus(root, files, docs, seed=files)
    return write_recipe(
        root / "recipe.yaml",
        [{"name": "notes", "type": "jsonl", "paths": ["data/*.jsonl"], "fields": {"id": "id"}, "budget_tokens": 400 * files}],
        pii={"mode": "off"},
        quality={"min_chars": {"ja": 10, "en": 40, "mixed": 10, "other": 40}},
        decontamination={"benchmarks": [{"name": "bench", "path": "bench.txt", "format": "text"}], "min_overlap": 0.8},
        output={"unit_mb": 0},  # one unit per file: many tasks for the resume and worker-count tests
    )


def build(cli, recipe: Path, out: Path, *args: str):
    res = cli("build-corpus", str(recipe), "-o", str(out), "--quiet", *args)
    assert_clean(res)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


# ---------------------------------------------------------------------------------------------- the sample


@pytest.fixture(scope="module")
def sample_out(tmp_path_factory):
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("sample") / "mixture"
    res = run_cli("build-corpus", str(SAMPLE_RECIPE), "-o", str(out))
    assert_clean(res)
    assert res.returncode == 0, res.stderr[-3000:]
    return out, res


def test_sample_mixture_builds_with_summary_and_accounts_for_every_record(sample_out):
    out, res = sample_out
    assert "build summary" in res.stderr and "why records were left out" in res.stderr and "process units" in res.stderr
    m = manifest(out)
    assert_accounted(m)
    s = m["sources"]
    assert s["case-reports"]["dedup"] == {"exact": 2, "near": 1}
    assert s["case-reports"]["docs"]["quarantined"] == {"malformed_json": 1, "missing_field:body": 1}
    assert s["pubmed"]["dedup"]["near"] == 1 and s["pubmed"]["mixture"]["epochs"] < 1
    assert s["pubmed"]["docs"]["dropped"]["publication_type:Retraction of Publication"] == 1
    assert s["medical-qa"]["decontamination"] == {"igakuqa": 1} and s["medical-qa"]["mixture"]["epochs"] > 1
    assert s["general-ja"]["docs"]["dropped"] == {"lang:other": 1, "quality:few_hiragana": 1}
    assert s["case-reports"]["pii"]["spans"]["PHONE_NUMBER"] >= 4
    assert m["decontamination"]["removed"] == [{"id": "medical-qa:ja-004", "set": "igakuqa", "detail": "item 990A2, overlap 1.00"}]
    assert m["recipe_hash"] and m["versions"]["datatrove"] and m["shards"]
    assert (out / "README.md").read_text(encoding="utf-8").count("| case-reports |") == 1


def test_sample_shards_load_with_datasets_and_count_tokens_exactly(sample_out):
    import datasets

    from medswallow.models.tokenizer import count_tokens

    out, _ = sample_out
    ds = datasets.load_dataset("parquet", data_dir=str(out / "data"), split="train")
    assert {"id", "text", "source", "lang", "n_tokens"} <= set(ds.column_names)
    m = manifest(out)
    assert len(ds) == m["totals"]["docs_out"] and sum(ds["n_tokens"]) == m["totals"]["tokens_out"]
    for row in ds.select(range(10)):
        assert row["n_tokens"] == count_tokens(row["text"])
    copies = [r for r in ds if r["copy"] > 0]
    assert copies and all(r["source"] == "medical-qa" for r in copies)  # only the up-sampled source repeats
    assert {r["lang"] for r in ds} <= {"ja", "en", "mixed"}


def test_sample_has_no_planted_pii_anywhere(sample_out):
    out, _ = sample_out
    texts = [r["text"] for r in shard_rows(out)]
    assert any("<PERSON>" in t for t in texts)
    everything = "\n".join(texts) + json.dumps(rejected(out), ensure_ascii=False) + (out / "manifest.json").read_text(encoding="utf-8")
    leaked = [v for v in PLANTED_PII if v in everything]
    assert leaked == []


def test_sample_rejected_records_have_reasons_and_no_raw_quarantined_text(sample_out):
    out, _ = sample_out
    rows = rejected(out)
    assert {r["kind"] for r in rows} == {"dropped", "quarantined"}
    assert all(r["reason"] and r["source"] for r in rows)
    assert all(r["text"] == "" for r in rows if r["kind"] == "quarantined")
    dup = next(r for r in rows if r["reason"] == "dedup:exact")
    assert dup["detail"].startswith("duplicate of case-reports:")


# ---------------------------------------------------------------------------------------------- determinism and resume


@pytest.fixture(scope="module")
def small(tmp_path_factory, ):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("small")
    recipe = small_recipe(root, files=6, docs=12)
    res = run_cli("build-corpus", str(recipe), "-o", str(root / "out-w1"), "--quiet", "--workers", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    return recipe, root / "out-w1"


def test_same_inputs_and_seed_give_identical_bytes_whatever_the_workers(cli, small):
    recipe, ref = small
    out = ref.parent / "out-w2"
    build(cli, recipe, out, "--workers", "2")
    assert shard_bytes(out) == shard_bytes(ref) and shard_bytes(ref)
    assert (out / "manifest.json").read_bytes() == (ref / "manifest.json").read_bytes()
    m = manifest(ref)
    assert_accounted(m)
    assert m["sources"]["notes"]["dedup"]["exact"] == 5 and m["sources"]["notes"]["decontamination"] == {"bench": 1}


def test_changed_recipe_refuses_to_resume_and_overwrite_replaces(cli, small):
    import shutil

    recipe, ref = small
    out = ref.parent / "out-seed99"
    shutil.copytree(ref, out)
    res = cli("build-corpus", str(recipe), "-o", str(out), "--set", "seed=99", "--quiet")
    assert res.returncode == 2 and "different recipe" in res.stderr and "--overwrite" in res.stderr
    build(cli, recipe, out, "--set", "seed=99", "--overwrite")
    assert manifest(out)["seed"] == 99 and shard_bytes(out) != shard_bytes(ref)
    not_a_build = ref.parent / "not-a-build"
    not_a_build.mkdir()
    (not_a_build / "notes.txt").write_text("mine", encoding="utf-8")
    res = cli("build-corpus", str(recipe), "-o", str(not_a_build), "--quiet")
    assert res.returncode == 2 and "not empty" in res.stderr


def _default_sigint() -> None:
    # Background jobs of a non-interactive shell (CI) start with SIGINT ignored; a user's terminal does not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(recipe: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "medswallow.cli", "build-corpus", str(recipe), "-o", str(out), "--quiet", "--workers", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_default_sigint,
    )


def _completions(out: Path) -> list[Path]:
    d = out / ".work" / "logs" / "process" / "completions"
    return sorted(d.iterdir()) if d.is_dir() else []


def _interrupt_after_first_unit(recipe: Path, out: Path, sig: int) -> subprocess.Popen:
    proc = _start(recipe, out)
    deadline = time.monotonic() + 240
    while not _completions(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
    return proc


def test_killed_and_interrupted_builds_resume_to_the_same_bytes(cli, tmp_path):
    recipe = small_recipe(tmp_path, files=40, docs=4)
    ref = tmp_path / "ref"
    build(cli, recipe, ref, "--workers", "1")
    units = len(_completions(ref))
    assert units == 40

    out = tmp_path / "out"
    proc = _interrupt_after_first_unit(recipe, out, signal.SIGINT)  # Ctrl-C
    assert proc.returncode == 130, proc.stderr.read()[-2000:]
    assert "interrupted" in proc.stderr.read() and 0 < len(_completions(out)) < units

    proc = _interrupt_after_first_unit(recipe, out, signal.SIGKILL)  # a crash
    done = _completions(out)
    assert proc.returncode == -signal.SIGKILL and 0 < len(done) < units
    finished = {p.name: (out / ".work" / "process" / f"{p.name}.json").stat().st_mtime_ns for p in done}

    build(cli, recipe, out, "--workers", "2")
    assert shard_bytes(out) == shard_bytes(ref)
    assert (out / "manifest.json").read_bytes() == (ref / "manifest.json").read_bytes()
    # Finished units were not redone: their results were not rewritten.
    assert {n: (out / ".work" / "process" / f"{n}.json").stat().st_mtime_ns for n in finished} == finished
    assert not list((out / ".work").rglob("*.tmp-*"))  # no half-written file survived


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_inputs_are_quarantined_and_the_build_finishes(cli, tmp_path):
    import gzip

    d = tmp_path / "in"
    d.mkdir()
    (d / "good.jsonl").write_text(json.dumps({"text": "高血圧の治療では減塩が基本であり、家庭血圧の測定を続けることが大切である。"}, ensure_ascii=False) + "\n", encoding="utf-8")
    (d / "mixed.jsonl").write_bytes(
        b'{"text": "broken\n' + b'{"no_text": 1}\n' + "{\"text\": \"糖尿病の治療では低血糖の予防と合併症の管理が重要である。\"}\n".encode("cp932")
    )
    (d / "sjis.jsonl").write_bytes(("{\"text\": \"脳梗塞の急性期には発症時刻の確認が治療方針を大きく左右する。\"}\n" * 2).encode("cp932"))
    (d / "huge.jsonl").write_bytes(b'{"text": "' + b"a" * 3_000_000 + b'"}\n')
    (d / "empty.jsonl").write_bytes(b"")
    (d / "binary.jsonl").write_bytes(os.urandom(4096))
    (d / "trunc.jsonl.gz").write_bytes(gzip.compress(b'{"text": "x"}\n' * 1000)[:30])
    (d / "bomb.xml").write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><PubmedArticleSet>&b;</PubmedArticleSet>', encoding="utf-8")
    recipe = write_recipe(
        tmp_path / "recipe.yaml",
        [
            {"name": "records", "type": "jsonl", "paths": ["in/*.jsonl", "in/*.jsonl.gz"], "max_record_mb": 1},
            {"name": "pubmed", "type": "pubmed", "paths": ["in/*.xml"]},
        ],
        pii={"mode": "off"},
        quality={"min_chars": {"ja": 10, "en": 10, "mixed": 10, "other": 10}},
    )
    res = build(cli, recipe, tmp_path / "out")
    m = manifest(tmp_path / "out")
    assert_accounted(m)
    quarantined = m["sources"]["records"]["docs"]["quarantined"]
    for reason in ("malformed_json", "missing_field:text", "record_too_large", "empty_file", "binary_file"):
        assert quarantined.get(reason) == 1, (reason, quarantined)
    assert any(k.startswith(("unreadable", "truncated")) for k in quarantined)
    assert m["sources"]["records"]["docs"]["kept"] == 3  # the good, the CP932 and one of the two identical lines
    assert m["sources"]["pubmed"]["docs"]["quarantined"] == {"xml_entities_forbidden": 1}
    assert "quarantined" in res.stderr


@pytest.mark.parametrize(
    ("recipe_text", "message"),
    [
        ("sources:\n  - name: a\n    type: pubmedd\n    paths: [x]\n", "did you mean 'pubmed'"),
        ("sources:\n  - name: a\n    type: jsonl\n    paths: [missing/*.jsonl]\n", "no file matches 'missing/*.jsonl'"),
        (
            "sources:\n  - name: a\n    type: jsonl\n    paths: [r.yaml]\ndecontamination:\n  benchmarks:\n    - task: igakuq\n      path: r.yaml\n",
            "did you mean 'igakuqa'",
        ),
    ],
)
def test_bad_recipes_are_refused_cleanly(cli, tmp_path, recipe_text, message):
    p = tmp_path / "r.yaml"
    p.write_text(recipe_text, encoding="utf-8")
    res = cli("build-corpus", str(p), "-o", str(tmp_path / "out"))
    assert_clean(res)
    assert res.returncode == 2 and message in res.stderr, res.stderr


# ---------------------------------------------------------------------------------------------- Ray


@pytest.mark.ray
def test_same_recipe_on_a_local_ray_cluster_gives_the_same_bytes(cli, small):
    recipe, ref = small
    out = ref.parent / "out-ray"
    res = build(cli, recipe, out, "--executor", "ray", "--workers", "2")
    assert "ray executor" in res.stderr
    assert shard_bytes(out) == shard_bytes(ref)
    assert (out / "manifest.json").read_bytes() == (ref / "manifest.json").read_bytes()
