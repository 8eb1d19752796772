"""Answer extraction as a table: final-channel outputs as gpt-oss writes them, and the answer a careful human
grader would record from each (None: no answer can be read, including outputs that hedge between two)."""

from __future__ import annotations

import pytest

from medswallow.bench.extract import extract_answer

LOWER = list("abcde")
UPPER = list("ABCD")
DIGITS = ["1", "2", "3", "4", "5"]
KAWASAKI = ["川崎病", "溶連菌感染症", "EBウイルス感染症", "アデノウイルス感染症", "パルボウイルスB19感染症"]

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
    ("c です。", LOWER, ["c"]),
    ("a, c（2つ選択）", LOWER, ["a", "c"]),
    ("a・c", LOWER, ["a", "c"]),
    # markers
    ("答え: b,d", LOWER, ["b", "d"]),
    ("答え：b、d", LOWER, ["b", "d"]),
    ("答えはcです。", LOWER, ["c"]),
    ("答えは、c です。", LOWER, ["c"]),
    ("答え: b です", LOWER, ["b"]),
    ("答え:\nd", LOWER, ["d"]),
    ("答：b", LOWER, ["b"]),
    ("答え → b", LOWER, ["b"]),
    ("答え⇒ e", LOWER, ["e"]),
    ("【答え】b", LOWER, ["b"]),
    ("【正解】 d\n【解説】dは…", LOWER, ["d"]),
    ("選択肢bとd", LOWER, ["b", "d"]),
    ("回答: B", UPPER, ["B"]),
    ("回答：Ｄ", UPPER, ["D"]),
    ("最終回答：Ｃ", UPPER, ["C"]),
    ("最終的な答え: a, e", LOWER, ["a", "e"]),
    ("Answer: (C)", UPPER, ["C"]),
    ("The answer is a", LOWER, ["a"]),
    ("Final answer: b and e", LOWER, ["b", "e"]),
    ("Answer: B. A is a distractor", UPPER, ["B"]),
    ("正解は【A】", UPPER, ["A"]),
    ("正解は選択肢cです。", LOWER, ["c"]),
    ("解答: (d)", LOWER, ["d"]),
    ("結論: b", LOWER, ["b"]),
    ("答え: \\boxed{c}", LOWER, ["c"]),
    # markdown bold, headings
    ("**b**", LOWER, ["b"]),
    ("答え: **b**", LOWER, ["b"]),
    ("**答え：b**", LOWER, ["b"]),
    ("**答え**: **c, e**", LOWER, ["c", "e"]),
    ("## 答え\n\nd\n\n## 理由\n心筋梗塞の所見から…", LOWER, ["d"]),
    ("### 最終回答\n**b. 溶連菌感染症**", LOWER, ["b"]),
    ("> 答え: a", LOWER, ["a"]),
    # bulleted answers, and a marker line followed by a review of the options
    ("解答\n\n- b\n- d", LOWER, ["b", "d"]),
    ("答え:\n* a\n* c\n\n理由: …", LOWER, ["a", "c"]),
    ("答え: c\naは誤り。bも誤り。", LOWER, ["c"]),
    ("答え: c\n\na: 誤り（…）\nb: 誤り（…）", LOWER, ["c"]),
    ("正解：c（EBウイルス感染症）", LOWER, ["c"]),
    ("The correct answer is **(B) 洞房結節**.", UPPER, ["B"]),
    # label with its choice text
    ("e: 川崎病", LOWER, ["e"], ["a1", "b1", "c1", "d1", "川崎病"]),
    ("e) 川崎病", LOWER, ["e"], ["a1", "b1", "c1", "d1", "川崎病"]),
    ("e: パルボウイルスB19感染症", LOWER, ["e"], KAWASAKI),
    ("a) 川崎病", LOWER, ["a"], KAWASAKI),
    ("**a. 川崎病**\n\n発熱5日未満で…", LOWER, ["a"], KAWASAKI),
    ("答え: e（パルボウイルスB19感染症）", LOWER, ["e"], KAWASAKI),
    ("答え: 川崎病", LOWER, ["a"], KAWASAKI),
    # answer first, reasons on the next lines
    ("b\n\n理由: β遮断薬は徐脈をきたす。", LOWER, ["b"]),
    ("c\n- aは誤り\n- bは誤り\n- dも誤り", LOWER, ["c"]),
    ("a, c\n\nいずれも典型的な所見である。", LOWER, ["a", "c"]),
    # commitments without a marker
    ("以上より、bが正解です。", LOWER, ["b"]),
    ("所見から判断して d を選びます。", LOWER, ["d"]),
    ("aとcを選択します。", LOWER, ["a", "c"]),
    # repeated markers: the last one that names labels wins
    ("答え: a\n見直します。\n答え: c", LOWER, ["c"]),
    ("回答: A\n…やはり\n回答: D", UPPER, ["D"]),
    ("答え: c\n答えを確認しました", LOWER, ["c"]),  # a later marker with no label does not erase it
    # negated and hypothetical mentions never count
    ("答え: b\nなお、答えはaではない。", LOWER, ["b"]),
    ("答え: b … 答えはaではない", LOWER, ["b"]),
    ("答え: b\n(答えはaではありません)", LOWER, ["b"]),
    ("正解はaではなくc", LOWER, ["c"]),
    ("もし答えがaなら、所見が合わない。答え: d", LOWER, ["d"]),
    ("仮に正解はbだとすると矛盾する。正解: e", LOWER, ["e"]),
    ("dが正解ではない。bが正解です。", LOWER, ["b"]),
    ("The answer is not a. Answer: c", LOWER, ["c"]),
    # last line
    ("以上より\nb", LOWER, ["b"]),
    # 1-based digits (YakugakuQA)
    ("4", DIGITS, ["4"]),
    ("2と4", DIGITS, ["2", "4"]),
    ("答え：２，４", DIGITS, ["2", "4"]),
    ("①と③", DIGITS, ["1", "3"]),
    ("答え: 3", DIGITS, ["3"]),
    ("答え: **1, 5**", DIGITS, ["1", "5"]),
    ("正解は 2 と 5 です。", DIGITS, ["2", "5"]),
    ("3: ビンクリスチン", DIGITS, ["3"], ["シスプラチン", "メトトレキサート", "ビンクリスチン", "x", "y"]),
    # no answer: letters inside words, out-of-range labels, numbers that are not labels, empty
    ("The answer is cardiac", LOWER, None),
    ("a drug", LOWER, None),
    ("answered a question", LOWER, None),
    ("答え: f", LOWER, None),
    ("答え: 15mg", DIGITS, None),
    ("答え: 2つ選ぶ必要があります", DIGITS, None),
    ("E", UPPER, None),
    ("", LOWER, None),
    ("わかりません", LOWER, None),
    # ambiguous: a grader records no answer
    ("答えはaまたはbです。", LOWER, None),
    ("a or c", LOWER, None),
    ("aかbのどちらかだと思います。", LOWER, None),
    ("正解はbかもしれないし、dかもしれない。", LOWER, None),
    ("bとdで迷いましたが、決めきれません。", LOWER, None),
    (
        "a: 誤り\nb: 正しい\nc: 誤り\nd: 誤り\ne: 誤り",
        LOWER,
        None,
        KAWASAKI,
    ),  # a per-option review, no choice
    ("もし答えがcならば、発熱が説明できない。", LOWER, None),
    # only the final channel is read
    (
        "<|channel|>analysis<|message|>答えはaだろう<|end|><|start|>assistant<|channel|>final<|message|>答え: c",
        LOWER,
        ["c"],
    ),
    ("<|channel|>analysis<|message|>答え: a", LOWER, None),  # reasoning only, cut before the final channel
    # numeric-entry items (no choices)
    ("26", [], ["26"]),
    ("答え: 26", [], ["26"]),
    ("答えは２６です", [], ["26"]),
    ("答え: 26.0", [], ["26"]),
    ("約26", [], None),
    ("答え: 0.4", [], ["0.4"]),
    ("**0.4**", [], ["0.4"]),
    ("答え: 26 Torr", [], ["26"]),
    ("26Torr\n\nA-aDO2 = 150 - 36/0.8 - 79 …", [], ["26"]),
    ("答え：１，１３０ kcal", [], ["1130"]),
    ("解答：２．１ g/日", [], ["2.1"]),
    ("オッズ比 = (30×50)/(50×80) = 0.375 ≈ 0.4", [], None),  # ends on an approximation
    ("高曝露のオッズ比 = 0.4", [], ["0.4"]),
    ("答え: 7.20", [], ["7.2"]),
    ("わかりません", [], None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0][:30] for c in CASES])
def test_extraction(case):
    raw, labels, expected, *choices = case
    assert extract_answer(raw, labels, choices[0] if choices else None) == expected


def test_the_table_is_large_enough():
    assert len(CASES) >= 100 and sum(c[2] is None for c in CASES) >= 15
