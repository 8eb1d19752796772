"""Every prompt of every task renders with no unfilled placeholder; custom templates fail loudly."""

from __future__ import annotations

import json
import re

import pytest

from medswallow.bench import TASKS, get_task, load_task
from medswallow.bench.prompts import (
    LIKELIHOOD_STYLES,
    STYLES,
    chat_messages,
    check_template,
    likelihood_context,
    render,
)
from medswallow.errors import UserError

from .conftest import TASK_DATA

UNFILLED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def _all_samples(task):
    loaded = load_task(task, str(TASK_DATA[task]))
    return loaded.samples + [s for s, _ in loaded.excluded]


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("style", sorted(STYLES))
def test_chat_prompts_fully_rendered(task, style):
    t = get_task(task)
    for s in _all_samples(task):
        messages = chat_messages(s, STYLES[style], t.system)
        assert messages[-1]["role"] == "user"
        for m in messages:
            assert not UNFILLED.search(m["content"]), (s.id, m["content"])
            assert m["content"].strip()
        user = messages[-1]["content"]
        assert s.question in user
        for label, choice in zip(s.labels, s.choices, strict=True):
            assert choice in user and label in user
        assert "解説" not in user  # YakugakuQA's explanation is never shown


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("style", sorted(LIKELIHOOD_STYLES))
def test_likelihood_contexts_fully_rendered(task, style):
    for s in _all_samples(task):
        ctx = likelihood_context(s, LIKELIHOOD_STYLES[style])
        assert not UNFILLED.search(ctx), (s.id, ctx)
        assert s.question in ctx


# What nii-nlp/med-eval renders (templates/jmedbench.py @ 9e030138, UnifiedTemplate.instantiate_template for
# an MCQA sample: options "A. text" joined by newlines), written out by hand for one JMedBench-shaped row
# {"question": "Q?", "options": ["x", " y", "z"], "answer_idx": 1, "n_options": 3}.
MED_EVAL = {
    "Minimal": "Q?\n",
    "Standard": "質問：Q?\nA. x\nB.  y\nC. z\n答え：",
    "English-centric": "Question: Q?\nA. x\nB.  y\nC. z\nAnswer: ",
    "Instructed": "あなたは医学博士です。基礎科学、臨床科学、医学知識、健康、病気、患者ケア、治療法の基礎となるメカニズムについて"
    "理解した上で、以下の選択式問題に答えなさい。以下の選択肢から正しいものを1つ選びなさい。医療ガイドラインに記載されている、"
    "現在行われている標準的な治療法に基づいて答えなさい。\n質問：Q?\n選択肢：\nA. x\nB.  y\nC. z\n答え：",
}


@pytest.mark.parametrize("name", sorted(MED_EVAL))
def test_likelihood_templates_render_exactly_as_med_eval(tmp_path, name):
    from medswallow.bench.prompts import get_likelihood_style

    row = {"sample_id": 0, "question": "Q?", "options": ["x", " y", "z"], "answer_idx": 1, "n_options": 3}
    (tmp_path / "medqa_jp").mkdir()
    (tmp_path / "medqa_jp" / "test.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    s = load_task("medqa_jp", str(tmp_path)).samples[0]
    assert set(LIKELIHOOD_STYLES) == set(MED_EVAL)
    assert likelihood_context(s, LIKELIHOOD_STYLES[name]) == MED_EVAL[name]
    # the option continuation is the option text as published; any case or _/- spelling finds the template
    assert get_likelihood_style(name.lower().replace("-", "_")) is LIKELIHOOD_STYLES[name]
    with pytest.raises(UserError, match="did you mean 'Standard'"):
        get_likelihood_style("Standart")


def test_exam_prompt_matches_the_original_form():
    s = next(x for x in load_task("igakuqa", str(TASK_DATA["igakuqa"])).samples if x.id == "112A2")
    msgs = chat_messages(s, STYLES["exam"], get_task("igakuqa").system)
    assert msgs[0] == {"role": "system", "content": "医師国家試験を解きます。"}
    assert msgs[1]["content"] == (
        "問題: β遮断薬の副作用として考えられるのはどれか。2つ選べ。\n"
        "a: 徐脈\nb: 頻脈\nc: 高血糖\nd: 多毛\ne: 気管支攣縮\n"
        "必ずa,b,c,d,eの中からちょうど2個選んでください。\n答え:"
    )


def test_yakugakuqa_prompt_uses_digits_and_pharmacist_system():
    s = load_task("yakugakuqa", str(TASK_DATA["yakugakuqa"])).samples[1]
    msgs = chat_messages(s, STYLES["exam"], get_task("yakugakuqa").system)
    assert msgs[0]["content"] == "薬剤師国家試験を解きます。"
    assert "1: アモキシシリン" in msgs[1]["content"] and "1,2,3,4,5の中からちょうど2個" in msgs[1]["content"]


def test_numeric_item_gets_the_numeric_prompt():
    s = next(x for x in load_task("igakuqa", str(TASK_DATA["igakuqa"])).samples if not x.choices)
    user = chat_messages(s, STYLES["exam"])[-1]["content"]
    assert "数値で答えてください" in user and "の中から" not in user


def test_unknown_field_in_a_custom_template_is_named():
    with pytest.raises(UserError, match=r"unknown prompt field '\{qestion\}'.*did you mean 'question'"):
        check_template("問題: {qestion}", "suite.yaml task 'igakuqa' user_template")


def test_literal_braces_are_allowed():
    check_template('JSON で {{"answer": ...}} と答えてください。{question}', "t")
    assert render("{{x}} {question}", {"question": "q"}) == "{x} q"


def test_missing_value_fails_instead_of_leaking_a_placeholder():
    with pytest.raises(UserError, match="has no value"):
        render("{question} {labels}", {"question": "q"})
