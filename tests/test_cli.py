from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, medswallow, medswallow.cli, medswallow.config, medswallow.records;"
        "heavy = [m for m in ('torch', 'vllm', 'spacy', 'presidio_analyzer', 'transformers', 'streamlit') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_commands(cli):
    res = cli("--help")
    assert res.returncode == 0
    assert "tiny-model" in res.stdout


def test_unknown_command_is_clean(cli):
    res = cli("no-such-command")
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
