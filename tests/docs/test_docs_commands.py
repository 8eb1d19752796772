"""The documentation cannot go stale: every `medswallow` command it shows names real subcommands and options,
and the getting-started page runs from top to bottom (tiny model, sample sources, real vLLM and Streamlit).

Blocks are fenced ```bash. A comment line right before a block changes how the walkthrough runs it:
``<!-- docs-test: skip (why) -->`` (not run) or ``<!-- docs-test: background URL -->`` (started, then waited
for until URL answers; stopped at the end).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
FENCE = re.compile(r"(?:<!--\s*docs-test:\s*(?P<directive>[^>]*?)\s*-->\s*\n)?```(?:bash|sh|shell|console)\n(?P<body>.*?)```", re.S)


@dataclass
class Block:
    path: Path
    line: int
    body: str
    directive: str


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(path, text.count("\n", 0, m.start("body")) + 1, m.group("body"), (m.group("directive") or "").strip())
        for m in FENCE.finditer(text)
    ]


def commands(block: Block) -> list[tuple[int, str]]:
    """(line, command) for each shell command of a block: continuations joined, prompts and comments removed."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for i, raw in enumerate(block.body.splitlines()):
        line = raw.strip()
        if not pending:
            start = block.line + i
        line = re.sub(r"^\$ ", "", line)
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full and not full.startswith("#"):
            out.append((start, full))
    return out


def medswallow_invocations(command: str) -> list[list[str]]:
    """The argument lists of every `medswallow ...` inside a shell command line (after &&, ;, |, a path)."""
    found = []
    for part in re.split(r"&&|\|\||;|\|", command):
        part = part.split(" #")[0].strip().rstrip("&").strip()
        try:
            words = shlex.split(part)
        except ValueError:
            continue
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):  # VAR=value prefixes
            words = words[1:]
        if words and (words[0] == "medswallow" or words[0].endswith("/medswallow")):
            found.append(words[1:])
        elif "medswallow.cli" in words and words.index("medswallow.cli") > 0 and words[words.index("medswallow.cli") - 1] == "-m":
            found.append(words[words.index("medswallow.cli") + 1 :])  # python -m / accelerate launch -m
    return found


def _cli():
    from typer.main import get_command

    from medswallow.cli import app

    return get_command(app)


def check_invocation(cli, args: list[str]) -> str | None:
    """None when every subcommand and option of ``args`` exists; else what is wrong."""
    cmd, path = cli, ["medswallow"]
    known: set[str] = set()

    def options_of(c) -> set[str]:
        return {o for p in c.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")} | {"--help"}

    known |= options_of(cmd)
    for word in args:
        if word == "--":  # the rest goes to another program (vLLM)
            break
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            if name not in known:
                return f"{' '.join(path)}: no option {name}"
            continue
        if hasattr(cmd, "list_commands"):
            ctx = cmd.context_class(cmd)
            sub = cmd.get_command(ctx, word)
            if sub is None and "run" in cmd.list_commands(ctx):  # `medswallow eval SUITE.yaml` means `eval run`
                cmd, path = cmd.get_command(ctx, "run"), path + ["run"]
                known |= options_of(cmd)
                continue
            if sub is None and not cmd.params:
                return f"{' '.join(path)}: no command {word!r}"
            if sub is not None:
                cmd, path = sub, path + [word]
                known |= options_of(sub)
    return None


def test_every_documented_command_exists():
    cli = _cli()
    problems = []
    for path in DOC_FILES:
        for block in blocks(path):
            for line, command in commands(block):
                for args in medswallow_invocations(command):
                    why = check_invocation(cli, args)
                    if why:
                        problems.append(f"{path.relative_to(ROOT)}:{line}: {why}  ({command})")
    assert not problems, "documented commands that do not exist:\n" + "\n".join(problems)


def test_the_checker_catches_a_wrong_option():
    assert medswallow_invocations("python bench.py --variants medswallow --seq 8") == []
    assert medswallow_invocations("HF_HUB_OFFLINE=1 medswallow eval run s.yaml && echo done") == [["eval", "run", "s.yaml"]]
    assert medswallow_invocations("accelerate launch --num_processes 2 -m medswallow.cli train r.yaml") == [["train", "r.yaml"]]
    cli = _cli()
    assert check_invocation(cli, ["build-corpus", "r.yaml", "-o", "out"]) is None
    assert check_invocation(cli, ["build-corpus", "r.yaml", "--outt", "x"]) is not None
    assert check_invocation(cli, ["review", "--db", "x.db", "add-user", "a", "--role", "annotator"]) is None
    assert check_invocation(cli, ["eval", "run", "s.yaml", "--limt", "3"]) is not None


def _wait_for(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"background command ended with exit code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.timeout(2400)
def test_getting_started_runs_top_to_bottom(tmp_path):
    """Every command of docs/getting-started.md, in order, in a fresh folder laid out like the repository."""
    for folder in ("corpora", "pipelines", "safety", "tests/bench/fixtures"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    venv_bin = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / ".hf"),
        "VLLM_CACHE_ROOT": str(tmp_path / ".vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / ".inductor"),
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "MEDSWALLOW_REVIEW_DB": str(tmp_path / "out" / "review.db"),
    }
    (tmp_path / "out").mkdir()
    background: list[subprocess.Popen] = []
    ran = 0
    try:
        for block in blocks(ROOT / "docs" / "getting-started.md"):
            if block.directive.startswith("skip"):
                continue
            if block.directive.startswith("background"):
                url = block.directive.split()[1]
                (line, command), = commands(block)
                proc = subprocess.Popen(
                    ["bash", "-c", command.rstrip("&").strip()], cwd=tmp_path, env=env, start_new_session=True,
                    stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"bg-{line}.log", "w"),
                )
                background.append(proc)
                _wait_for(url, proc, timeout=600)
                ran += 1
                continue
            script = "set -euo pipefail\n" + block.body
            t0 = time.monotonic()
            r = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
            assert r.returncode == 0, f"getting-started.md:{block.line} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            print(f"getting-started.md:{block.line}: ok in {time.monotonic() - t0:.0f} s")
            ran += 1
    finally:
        for proc in background:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
    runnable = [b for b in blocks(ROOT / "docs" / "getting-started.md") if not b.directive.startswith("skip")]
    assert ran == len(runnable) >= 7  # build, pii, train, serve, eval, review setup, review app
    assert (tmp_path / "out" / "train" / "cpt-lora" / "adapter").is_dir()
    assert (tmp_path / "out" / "review.db").stat().st_size > 0
    assert list((tmp_path / "out" / "mixture" / "data").glob("*.parquet"))
    assert (tmp_path / "out" / "eval" / "report.md").exists()
    redacted = (tmp_path / "out" / "notes.redacted.jsonl").read_text(encoding="utf-8")
    assert "山田" not in redacted and "03-1234-5678" not in redacted
