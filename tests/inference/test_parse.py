"""Harmony-aware parsing of vLLM response bodies: a table of bodies and what must come out."""

from __future__ import annotations

import pytest

from medswallow.inference.parse import (
    StreamAssembler,
    parse_chat,
    parse_completion,
    split_harmony,
    strip_markup,
)


def chat_body(content, reasoning=None, finish="stop", field="reasoning"):
    msg = {"role": "assistant", "content": content}
    if reasoning is not None:
        msg[field] = reasoning
    return {"choices": [{"index": 0, "message": msg, "finish_reason": finish}], "usage": {"prompt_tokens": 5, "completion_tokens": 7}}


CHAT_CASES = [
    # (id, body, text, reasoning, truncated)
    ("final and reasoning", chat_body("答え: b", "考える"), "答え: b", "考える", False),
    ("older vLLM field name", chat_body("B", "think", field="reasoning_content"), "B", "think", False),
    ("cut inside reasoning: content None", chat_body(None, "I think the answ", "length"), "", "I think the answ", True),
    ("cut in the final channel", chat_body("The answer is", "ok", "length"), "The answer is", "ok", True),
    ("cut inside a header (vLLM leaves it in content)", chat_body("<|start|>assistant", " Think step", "length"), "", " Think step", True),
    ("ended before a message body", chat_body("<|channel|><|return|>", None), "", "", False),
    (
        "raw harmony in content (server without harmony parsing)",
        chat_body("<|channel|>analysis<|message|>why<|end|><|start|>assistant<|channel|>final<|message|>C<|return|>"),
        "C",
        "why",
        False,
    ),
    ("raw harmony with specials skipped", chat_body("analysiswhy it is Cassistantfinal答え: C"), "答え: C", "why it is C", False),
    ("raw harmony cut in analysis", chat_body("<|channel|>analysis<|message|>half a thou", finish="length"), "", "half a thou", True),
    ("plain answer, no channels", chat_body("Analysis shows B"), "Analysis shows B", "", False),
    ("empty content string", chat_body("", ""), "", "", False),
]


@pytest.mark.parametrize("body,text,reasoning,truncated", [c[1:] for c in CHAT_CASES], ids=[c[0] for c in CHAT_CASES])
def test_parse_chat_table(body, text, reasoning, truncated):
    res = parse_chat(body)
    assert (res.text, res.reasoning, res.truncated) == (text, reasoning, truncated)
    assert res.ok and res.usage.prompt_tokens == 5 and res.usage.total_tokens == 12


def test_parse_chat_n_choices_in_index_order_and_logprobs():
    body = {
        "choices": [
            {"index": 1, "message": {"content": "B"}, "finish_reason": "stop"},
            {
                "index": 0,
                "message": {"content": "A", "reasoning": "r"},
                "finish_reason": "length",
                "logprobs": {"content": [{"token": "A", "logprob": -0.5, "top_logprobs": [{"token": "A", "logprob": -0.5}, {"token": "B", "logprob": -1.5}]}]},
            },
        ]
    }
    res = parse_chat(body)
    assert [c.text for c in res.choices] == ["A", "B"]
    assert res.text == "A" and res.truncated and not res.choices[1].truncated
    assert res.logprobs is not None and res.logprobs[0].top == {"A": -0.5, "B": -1.5}


def test_parse_chat_without_choices_is_an_error():
    with pytest.raises(ValueError):
        parse_chat({"object": "error"})


def test_parse_completion_prompt_logprobs_pick_the_prompt_token_by_id():
    body = {
        "choices": [
            {
                "index": 0,
                "text": " x",
                "finish_reason": "length",
                "logprobs": {"tokens": [" x"], "token_logprobs": [-2.0], "top_logprobs": [{" x": -2.0, " y": -1.0}]},
                # The prompt token (id 7) is listed second here: the id decides, not the order.
                "prompt_logprobs": [None, {"3": {"logprob": -0.1, "rank": 1, "decoded_token": "a"}, "7": {"logprob": -4.0, "rank": 9, "decoded_token": "b"}}, {"5": {"logprob": -1.0, "rank": 2, "decoded_token": "c"}}],
                "prompt_token_ids": [1, 7, 5],
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    res = parse_completion(body)
    assert res.prompt_logprobs is not None and res.prompt_logprobs[0] is None
    assert (res.prompt_logprobs[1].token, res.prompt_logprobs[1].token_id, res.prompt_logprobs[1].rank) == ("b", 7, 9)
    assert res.prompt_logprob_sum(2) == pytest.approx(-5.0)
    assert res.logprobs is not None and res.logprobs[0].top == {" x": -2.0, " y": -1.0}
    with pytest.raises(ValueError):
        res.prompt_logprob_sum(3)


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("no markup", None),
        ("<|channel|>final<|message|>only answer<|return|>", ("", "only answer")),
        ("<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>analysis<|message|>b<|end|>", ("a\nb", "")),
        ("<|channel|>commentary to=functions.x <|constrain|>json<|message|>{}<|call|>", ("{}", "")),
    ],
)
def test_split_harmony(raw, expected):
    assert split_harmony(raw) == expected


@pytest.mark.parametrize(
    "text,expected",
    [("A<|return|>", "A"), ("<|start|>assistant<|channel|>fin", ""), ("x <y>", "x <y>"), ("B<|end|><|start|>assistant", "B")],
)
def test_strip_markup(text, expected):
    assert strip_markup(text) == expected


def test_stream_assembler_builds_the_plain_body():
    asm = StreamAssembler("chat")
    chunks = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {"choices": [{"index": 0, "delta": {"reasoning": "thin"}}]},
        {"choices": [{"index": 0, "delta": {"reasoning_content": "k"}}]},
        {"choices": [{"index": 0, "delta": {"content": "Ans"}}]},
        {"choices": [{"index": 0, "delta": {"content": "wer"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 6}},
    ]
    deltas = [asm.add(c) for c in chunks]
    assert deltas[1] == ("thin", "") and deltas[3] == ("", "Ans")
    res = parse_chat(asm.body())
    assert (res.text, res.reasoning, res.finish_reason, res.usage.completion_tokens) == ("Answer", "think", "stop", 6)
