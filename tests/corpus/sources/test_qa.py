from __future__ import annotations

import json

import pytest

from medswallow.corpus.sources.qa import PRESETS, render_answer, render_choices
from medswallow.errors import UserError
from tests.corpus.helpers import read_all

ITEMS = [
    {"id": "1", "question": "第一選択薬は？", "choices": ["A薬", "B薬", "C薬"], "answer": "b", "exp": "Bが推奨される。"},
    {"id": "2", "question": "Pick two.", "choices": {"A": "x", "B": "y", "C": "z"}, "answer": ["a", "c"]},
    {"id": "3", "question": "Index answer", "choices": ["p", "q"], "answer": 1},
    {"id": "4", "question": "No answer", "choices": ["p", "q"]},
    {"id": "5", "choices": ["p", "q"], "answer": "a"},
    {"id": "6", "question": "Free text", "answer": "Because."},
]


@pytest.mark.parametrize(("answer", "expected"), [("b", "b. B薬"), (["a", "c"], "a. A薬, c. C薬"), ("a、c", "a. A薬, c. C薬"), (2, "c. C薬"), (7, None), ("no such", "no such"), (None, None)])
def test_render_answer_table(answer, expected):
    _, labelled = render_choices(["A薬", "B薬", "C薬"])
    assert render_answer(answer, labelled) == expected


def test_exam_template_renders_and_quarantines_missing_fields(tmp_path):
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in ITEMS), encoding="utf-8")
    docs, rej = read_all("qa", tmp_path, paths=["qa.jsonl"], id="id", explanation="exp")
    assert docs[0].text == "問題: 第一選択薬は？\na. A薬\nb. B薬\nc. C薬\n答え: b. B薬\n解説: Bが推奨される。"
    assert docs[1].text.endswith("答え: a. x, c. z") and docs[2].text.endswith("答え: b. q")
    assert {r.id: r.reason for r in rej} == {"src:4": "missing_field:answer", "src:5": "missing_field:question", "src:6": "missing_field:choices"}
    for text in (d.text for d in docs):
        assert "{" not in text and "}" not in text  # no unfilled placeholder


def test_every_preset_renders_without_placeholders(tmp_path):
    item = {"question": "Q?", "choices": ["x", "y"], "answer": "a"}
    (tmp_path / "q.jsonl").write_text(json.dumps(item), encoding="utf-8")
    for preset in PRESETS:
        docs, rej = read_all("qa", tmp_path, paths=["q.jsonl"], template=preset)
        assert rej == [] and "{" not in docs[0].text and "Q?" in docs[0].text


def test_inline_template_with_extra_fields_and_bad_template(tmp_path):
    (tmp_path / "q.jsonl").write_text(json.dumps({"question": "Q?", "answer": "A.", "topic": "cardio"}), encoding="utf-8")
    docs, _ = read_all("qa", tmp_path, paths=["q.jsonl"], template="[{topic}] {question} -> {answer}")
    assert docs[0].text == "[cardio] Q? -> A."
    with pytest.raises(UserError, match="plain field names"):
        read_all("qa", tmp_path, paths=["q.jsonl"], template="{question.__class__}")
