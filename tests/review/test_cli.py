"""``medswallow review`` subcommands as a user runs them (one real subprocess, the rest in-process)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from medswallow.cli import main

REPO = Path(__file__).resolve().parents[2]
SECRET = "Cli-Secret-Passw0rd"


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_add_user_reads_the_password_from_stdin_and_never_echoes_it(tmp_path):
    db = str(tmp_path / "r.db")
    env = {**os.environ, "MEDSWALLOW_REVIEW_ARGON2": "CHEAPEST"}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "medswallow.cli", "review", *args, "--db", db], input=stdin,
                              capture_output=True, text=True, cwd=REPO, env=env, timeout=300)

    missing = cli("users")
    assert missing.returncode == 2 and "init-db" in missing.stderr and "Traceback" not in missing.stderr
    assert cli("init-db").returncode == 0
    made = cli("add-user", "dr.mori", "--role", "admin", "--password-stdin", stdin=SECRET + "\n")
    assert made.returncode == 0, made.stderr
    assert SECRET not in made.stdout + made.stderr


def test_admin_workflow_in_process(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MEDSWALLOW_REVIEW_ARGON2", "CHEAPEST")
    db = str(tmp_path / "r.db")
    assert run(capsys, "review", "init-db", "--db", db)[0] == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    code, out = run(capsys, "review", "add-user", "dr.mori", "--role", "admin", "--password-stdin", "--db", db)
    assert code == 0 and SECRET not in out
    code, out = run(capsys, "review", "users", "--db", db)
    assert code == 0 and "dr.mori" in out
    code, out = run(capsys, "review", "add-user", "x.y", "--role", "admn", "--oidc", "--email", "x@y.org", "--db", db)
    assert code == 2 and "did you mean 'admin'" in out
    code, out = run(capsys, "review", "import-prompts", str(REPO / "safety/prompts/clinical_en.jsonl"), "--db", db)
    assert code == 0 and "clinical_en" in out
    code, out = run(capsys, "review", "assign", "clinical_en", "--db", db)
    assert code == 2 and "no answers yet" in out
    code, out = run(capsys, "review", "generate", "clinical_en", "--target", "tiny-gptoss", "--db", db)
    assert code == 2 and "MODEL@BASE_URL" in out
    code, out = run(capsys, "review", "generate", "clinicl_en", "--target", "m@http://127.0.0.1:1/v1", "--db", db)
    assert code == 2 and "did you mean 'clinical_en'" in out
    code, out = run(capsys, "review", "prescreen", "--rule", "dos", "--db", db)
    assert code == 2 and "did you mean 'dose'" in out
    out_dir = tmp_path / "export"
    code, out = run(capsys, "review", "export", "--out", str(out_dir), "--no-parquet", "--db", db)
    assert code == 0, out
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["taxonomy_version"] == "1.0.0" and manifest["labelled"] == 0
    code, out = run(capsys, "review", "stats", "--db", db)
    assert code == 0 and "agreement" in out
    assert run(capsys, "review", "taxonomy")[0] == 0
