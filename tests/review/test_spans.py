"""Sentence numbering and turning what an annotator typed into offsets."""

from __future__ import annotations

import pytest

from medswallow.errors import UserError
from medswallow.review.spans import locate, sentences

TEXT = "ロキソプロフェンは問題ありません。1回120mgを1日3回服用してください！\n受診は不要です。Take 2.5 mg twice daily. See a doctor?"


def test_sentences_split_japanese_and_english_but_not_decimals():
    assert [TEXT[s:e] for s, e in sentences(TEXT)] == [
        "ロキソプロフェンは問題ありません。",
        "1回120mgを1日3回服用してください！",
        "受診は不要です。",
        "Take 2.5 mg twice daily.",
        "See a doctor?",
    ]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("2", "1回120mgを1日3回服用してください！"),
        ("#4", "Take 2.5 mg twice daily."),
        ("2-3", "1回120mgを1日3回服用してください！\n受診は不要です。"),
        ("３〜２", "1回120mgを1日3回服用してください！\n受診は不要です。"),  # full-width, reversed
        ("1回120mg", "1回120mg"),
        ("１回１２０ｍｇ", "1回120mg"),  # full-width paste
        ("Take 2.5   mg", "Take 2.5 mg"),  # whitespace differs
    ],
)
def test_locate(ref, expected):
    s, e = locate(TEXT, ref)
    assert TEXT[s:e] == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "type sentence numbers"),
        ("9", "sentence 9 does not exist"),
        ("0", "sentence 0 does not exist"),
        ("not in there", "not in the answer"),
        ("mg", "occurs 2 times"),
    ],
)
def test_locate_errors(ref, message):
    with pytest.raises(UserError, match=message):
        locate(TEXT, ref)
