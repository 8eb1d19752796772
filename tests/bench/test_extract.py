"""Answer extraction as a table: raw final-channel outputs and the answer expected from each."""

from __future__ import annotations

import pytest

from medswallow.bench.extract import extract_answer

LOWER = list("abcde")
UPPER = list("ABCD")
DIGITS = ["1", "2", "3", "4", "5"]

CASES = [
    # bare answers
    ("b", LOWER, ["b"]),
    ("B", LOWER, ["b"]),
    ("ｂ", LOWER, ["b"]),  # full-width letter
    ("(c)", LOWER, ["c"]),
    ("b,d", LOWER, ["b", "d"]),
    ("d,b", LOWER, ["b", "d"]),  # label order, not answer order
    ("b、d", LOWER, ["b", "d"]),
    ("ｂ，ｄ", LOWER, ["b", "d"]),
    ("b and d", LOWER, ["b", "d"]),
    ("(a), (c)", LOWER, ["a", "c"]),
    ("c.", LOWER, ["c"]),
    # markers
    ("答え: b,d", LOWER, ["b", "d"]),
    ("答え：b、d", LOWER, ["b", "d"]),
    ("答えはcです。", LOWER, ["c"]),
    ("答え: b です", LOWER, ["b"]),
    ("答え:\nd", LOWER, ["d"]),
    ("選択肢bとd", LOWER, ["b", "d"]),
    ("回答: B", UPPER, ["B"]),
    ("回答：Ｄ", UPPER, ["D"]),
    ("最終回答：Ｃ", UPPER, ["C"]),
    ("Answer: (C)", UPPER, ["C"]),
    ("The answer is a", LOWER, ["a"]),
    ("Answer: B. A is a distractor", UPPER, ["B"]),
    ("正解は【A】", UPPER, ["A"]),
    # repeated markers: the last one that names labels wins
    ("答え: a\n見直します。\n答え: c", LOWER, ["c"]),
    ("回答: A\n…やはり\n回答: D", UPPER, ["D"]),
    ("答え: c\n答えを確認しました", LOWER, ["c"]),  # a later marker with no label does not erase it
    # last line
    ("以上より\nb", LOWER, ["b"]),
    # 1-based digits (YakugakuQA)
    ("4", DIGITS, ["4"]),
    ("2と4", DIGITS, ["2", "4"]),
    ("答え：２，４", DIGITS, ["2", "4"]),
    ("①と③", DIGITS, ["1", "3"]),
    ("答え: 3", DIGITS, ["3"]),
    # no answer: letters inside words, out-of-range labels, numbers that are not labels, empty
    ("The answer is cardiac", LOWER, None),
    ("a drug", LOWER, None),
    ("answered a question", LOWER, None),
    ("答え: f", LOWER, None),
    ("答え: 15mg", DIGITS, None),
    ("E", UPPER, None),
    ("", LOWER, None),
    ("わかりません", LOWER, None),
    # numeric-entry items (no choices)
    ("26", [], ["26"]),
    ("答え: 26", [], ["26"]),
    ("答えは２６です", [], ["26"]),
    ("答え: 26.0", [], ["26"]),
    ("約26", [], None),
]


@pytest.mark.parametrize(("raw", "labels", "expected"), CASES)
def test_extraction(raw, labels, expected):
    assert extract_answer(raw, labels) == expected
