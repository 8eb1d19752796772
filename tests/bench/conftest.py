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
