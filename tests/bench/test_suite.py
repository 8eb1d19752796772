"""Suite recipes: clear errors for unknown fields, unset data variables, unknown tasks and styles."""

from __future__ import annotations

from pathlib import Path

import pytest

from medswallow.bench.runner import prepare
from medswallow.bench.suite import Suite
from medswallow.config import load_config
from medswallow.errors import UserError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path, text):
    p = tmp_path / "suite.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_suites_load():
    for path in sorted((REPO / "pipelines" / "eval").glob("*.yaml")):
        assert path.read_text(encoding="utf-8").startswith("# medswallow eval pipelines/eval/")
        suite = load_config(Suite, path)
        assert suite.tasks


def test_model_card_suite_covers_the_eight_tasks():
    suite = load_config(Suite, REPO / "pipelines" / "eval" / "model_card.yaml")
    assert sorted(t.task for t in suite.tasks) == sorted(
        [
            "igakuqa",
            "jjsimqa",
            "jmmlu_medical",
            "mmlu_medical_jp",
            "medmcqa_jp",
            "medqa_jp",
            "jusmleqa_jp",
            "yakugakuqa",
        ]
    )
    params = suite.sampling.params(seed=0)
    assert (params.temperature, params.top_p, params.top_k, params.reasoning_effort) == (
        0.6,
        0.95,
        20,
        "medium",
    )


def test_unknown_field_names_line_and_suggests(tmp_path):
    p = write(tmp_path, "name: x\ntasks:\n  - task: igakuqa\n    data: d\n    limt: 3\n")
    with pytest.raises(UserError) as err:
        load_config(Suite, p)
    assert "line 5" in str(err.value) and "did you mean 'limit'" in str(err.value)


def test_unset_variable_in_data_path(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_BENCH_DIR", raising=False)
    suite = load_config(
        Suite, write(tmp_path, "tasks:\n  - {task: igakuqa, data: '${NO_SUCH_BENCH_DIR}/IgakuQA'}\n")
    )
    with pytest.raises(UserError, match="NO_SUCH_BENCH_DIR"):
        prepare(suite, suite.tasks[0])


def test_relative_data_is_relative_to_the_suite_file(tmp_path):
    suite = load_config(Suite, REPO / "pipelines" / "eval" / "ci_fixtures.yaml")
    prep = prepare(suite, suite.tasks[0])
    assert prep.data == str(REPO / "tests" / "bench" / "fixtures" / "igakuqa")
    assert (
        len(prep.samples) == 10
    )  # the item the exam left out (points 0) is asked: the official mode counts it


def test_unknown_task_and_style(tmp_path):
    suite = load_config(Suite, write(tmp_path, "tasks:\n  - {task: igakuq, data: x}\n"))
    with pytest.raises(UserError, match="did you mean 'igakuqa'"):
        prepare(suite, suite.tasks[0])
    fixtures = REPO / "tests" / "bench" / "fixtures" / "igakuqa"
    suite = load_config(
        Suite, write(tmp_path, f"tasks:\n  - {{task: igakuqa, data: '{fixtures}', prompt: exma}}\n")
    )
    with pytest.raises(UserError, match="did you mean 'exam'"):
        prepare(suite, suite.tasks[0])


def test_bad_custom_template_fails_before_any_request(tmp_path):
    fixtures = REPO / "tests" / "bench" / "fixtures" / "jjsimqa"
    text = f"tasks:\n  - task: jjsimqa\n    data: '{fixtures}'\n    user_template: '問題: {{qestion}}'\n"
    suite = load_config(Suite, write(tmp_path, text))
    with pytest.raises(UserError, match="qestion"):
        prepare(suite, suite.tasks[0])


def test_duplicate_run_names_are_rejected(tmp_path):
    p = write(tmp_path, "tasks:\n  - {task: medqa_jp, data: x}\n  - {task: medqa_jp, data: y}\n")
    with pytest.raises(UserError, match="two task runs are named 'medqa_jp'"):
        load_config(Suite, p)


def test_limit_and_text_only(tmp_path):
    fixtures = REPO / "tests" / "bench" / "fixtures" / "igakuqa"
    suite = load_config(
        Suite, write(tmp_path, f"tasks:\n  - {{task: igakuqa, data: '{fixtures}', text_only: true}}\n")
    )
    assert len(prepare(suite, suite.tasks[0]).samples) == 8
    assert len(prepare(suite, suite.tasks[0], limit=2).samples) == 2


def test_model_card_suite_prepares_against_the_real_layouts(monkeypatch):
    """MEDSWALLOW_BENCH laid out as the files are published: every task loads, before any model time."""
    from .conftest import FIXTURES, bench_root

    monkeypatch.setenv("MEDSWALLOW_BENCH", str(bench_root()))
    monkeypatch.setenv("MEDSWALLOW_JMEDBENCH", str(FIXTURES / "jmedbench"))  # JMedBench is on the hub only
    suite = load_config(Suite, REPO / "pipelines" / "eval" / "model_card.yaml")
    asked = {run.task: len(prepare(suite, run).samples) for run in suite.tasks}
    assert asked == {
        "igakuqa": 2000,
        "jjsimqa": 460,
        "jmmlu_medical": 1271,
        "mmlu_medical_jp": 3,
        "medmcqa_jp": 3,
        "medqa_jp": 2,
        "jusmleqa_jp": 2,
        "yakugakuqa": 4485,
    }


def test_data_default_when_variable_unset(monkeypatch, tmp_path):
    monkeypatch.delenv("NO_SUCH_JMEDBENCH", raising=False)
    fixtures = REPO / "tests" / "bench" / "fixtures" / "jmedbench"
    text = f"tasks:\n  - {{task: medqa_jp, data: '${{NO_SUCH_JMEDBENCH:-{fixtures}}}'}}\n"
    suite = load_config(Suite, write(tmp_path, text))
    assert prepare(suite, suite.tasks[0]).data == str(fixtures)
