"""Fixture paths of the bench tests: tiny files in each benchmark's real format, written for this project."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# task -> the fixture folder in that benchmark's published layout
TASK_DATA = {
    "igakuqa": FIXTURES / "igakuqa",
    "jjsimqa": FIXTURES / "jjsimqa",
    "jmmlu_medical": FIXTURES / "jmmlu",
    "mmlu_medical_jp": FIXTURES / "jmedbench",
    "medmcqa_jp": FIXTURES / "jmedbench",
    "medqa_jp": FIXTURES / "jmedbench",
    "jusmleqa_jp": FIXTURES / "jmedbench",
    "yakugakuqa": FIXTURES / "yakugakuqa",
}


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def bench_root() -> Path:
    """The real published benchmark files: $MEDSWALLOW_BENCH, else <repo>/../shared/bench-data.

    Never skipped: a missing folder fails the tests that need it, with what to do.
    """
    import os

    env = os.environ.get("MEDSWALLOW_BENCH")
    root = Path(env) if env else FIXTURES.parents[2] / ".." / "shared" / "bench-data"
    root = root.resolve()
    if not (root / "IgakuQA").is_dir():
        pytest.fail(
            f"real benchmark files not found at {root}: set MEDSWALLOW_BENCH to a folder laid out like "
            "shared/bench-data (IgakuQA/, medLLM_QA_benchmark/, JMMLU/, YakugakuQA/)",
            pytrace=False,
        )
    return root


@pytest.fixture(scope="session")
def bench() -> Path:
    return bench_root()
