"""GRPO rewards on hand-made gpt-oss completions: answer, harmony format, length and safety, as tables."""

from __future__ import annotations

import json

import pytest

from medswallow.errors import UserError
from medswallow.models.tokenizer import get_encoding
from medswallow.records import Sample
from medswallow.train.rewards import (
    CorrectAnswer,
    HarmonyFormat,
    LengthSection,
    OverlongPenalty,
    RewardsSection,
    SafetyPenalty,
    SafetySection,
    Weighted,
    build_rewards,
    parse_completion,
)

TWO = Sample(id="111A2", task="igakuqa", question="ビタミンB12欠乏で生じやすいのはどれか。2つ選べ。",
             choices=["巨赤芽球性貧血", "小球性貧血", "亜急性連合性脊髄変性症", "くる病", "夜盲症"],
             labels=list("abcde"), gold=["a", "c"])
DIGITS = Sample(id="109001", task="yakugakuqa", question="永久双極子モーメントをもつ分子はどれか。1つ選べ。",
                choices=["ベンゼン", "メタン", "二酸化炭素", "水", "四塩化炭素"], labels=list("12345"), gold=["4"])
NUMERIC = Sample(id="112B50", task="igakuqa", question="体重60kgの患者の1日必要水分量(mL)を求めよ。", choices=[],
                 labels=[], gold=["2000"])
ACCEPTS = Sample(id="112B30", task="igakuqa", question="正しいのはどれか。", choices=list("VWXYZ"),
                 labels=list("abcde"), gold=["a"], accepted=[["a"], ["d"]])

A = "<|channel|>analysis<|message|>"
F = "<|channel|>final<|message|>"
NEXT = "<|end|><|start|>assistant"
R = "<|return|>"


def ids(text: str) -> list[int]:
    """Token ids as GRPOTrainer hands them: what follows <|start|>assistant, up to and including the EOS."""
    return get_encoding().encode(text, allowed_special="all")


def row(sample: Sample) -> dict[str, list[str]]:
    return {"sample": [json.dumps(sample.to_dict(), ensure_ascii=False)]}


# (sample, completion, correct, format)
ANSWER_TABLE = [
    (TWO, f"{A}B12欠乏は巨赤芽球性貧血と脊髄障害。{NEXT}{F}答え: a, c{R}", 1.0, 1.0),
    (TWO, f"{F}a,c{R}", 1.0, 1.0),  # no analysis channel: still well formed
    (TWO, f"{F}答え：ａ、ｃ{R}", 1.0, 1.0),  # full-width letters and Japanese comma
    (TWO, f"{F}答え: c と a{R}", 1.0, 1.0),  # order does not matter
    (TWO, f"{F}答え: a{R}", 0.0, 1.0),  # half the set is wrong
    (TWO, f"{F}答え: a, c, e{R}", 0.0, 1.0),  # one too many
    (TWO, f"{A}答え: a, c{NEXT}{F}わかりません{R}", 0.0, 1.0),  # the answer in the reasoning does not count
    (TWO, f"{A}答えはa, cだと思うが", 0.0, 0.0),  # cut off inside the reasoning
    (TWO, f"{A}考える{NEXT}{F}答え: a, c", 1.0, 0.0),  # right, but cut off before <|return|>
    (TWO, f"{F}答え: b{NEXT}{F}答え: a, c{R}", 1.0, 0.0),  # two final messages: the last one is read
    (TWO, f"{F}{R}", 0.0, 0.0),  # empty final
    (TWO, "答え: a, c", 0.0, 0.0),  # no harmony header at all
    (TWO, f"{F}答え: a, c<|endoftext|>", 1.0, 0.0),  # ended by the pad token, not <|return|>
    (TWO, f"{A}x<|end|><|start|>user<|message|>答え: a, c<|end|>", 0.0, 0.0),  # a user turn inside the completion
    (DIGITS, f"{F}正解は4です。{R}", 1.0, 1.0),
    (DIGITS, f"{F}正解は４{R}", 1.0, 1.0),
    (DIGITS, f"{F}答え: 3{R}", 0.0, 1.0),
    (NUMERIC, f"{F}答え: 2,000{R}", 1.0, 1.0),
    (NUMERIC, f"{F}答え: 2000.0 mL{R}", 1.0, 1.0),
    (ACCEPTS, f"{F}答え: d{R}", 1.0, 1.0),  # an accepted alternative set
    (ACCEPTS, f"{F}答え: a, d{R}", 0.0, 1.0),
]


@pytest.mark.parametrize(("sample", "completion", "correct", "well_formed"), ANSWER_TABLE)
def test_correct_and_format_rewards_from_token_ids(sample, completion, correct, well_formed):
    got_correct = CorrectAnswer()([None], [completion], completion_ids=[ids(completion)], **row(sample))
    got_format = HarmonyFormat()([None], [completion], completion_ids=[ids(completion)], **row(sample))
    assert (got_correct, got_format) == ([correct], [well_formed])


@pytest.mark.parametrize("completion", [c for _, c, _, _ in ANSWER_TABLE if "<|" in c])
def test_raw_harmony_text_reads_like_token_ids(completion):
    """Without ids (a caller outside GRPOTrainer), raw harmony text is tokenized and parsed the same way."""
    assert parse_completion(completion) == parse_completion(None, ids(completion))


def test_plain_content_is_taken_as_the_final_channel_but_never_as_well_formed():
    """Content already split by a response parser is the final text; its format cannot be checked."""
    parsed = parse_completion([{"role": "assistant", "content": "答え: a, c", "thinking": "考えた"}])
    assert (parsed.final, parsed.reasoning, parsed.well_formed) == ("答え: a, c", "考えた", False)


@pytest.mark.parametrize(
    ("completion", "problem"),
    [
        (f"{A}x{NEXT}{F}b{R}", ""),
        (f"{A}x", "cut off before the final channel"),
        (f"{F}b", "the final message was cut off (no <|return|>)"),
        (f"{F}a<|end|><|start|>assistant<|channel|>final<|message|>b{R}", "more than one final message"),
        (f"{F}b<|end|><|start|>assistant<|channel|>analysis<|message|>more{R}", "the final message is not the last one"),
        (f"{F}  {R}", "empty final message"),
        ("<|channel|>commentary to=functions.lookup <|constrain|>json<|message|>{}<|call|>", "unexpected commentary channel"),
    ],
)
def test_format_problems_are_named(completion, problem):
    assert parse_completion(None, ids(completion)).problem == problem


def test_trl_decoded_text_keeps_reasoning_out_of_the_answer():
    """TRL decodes gpt-oss completions with special tokens skipped; the fallback still splits the channels."""
    skipped = [{"role": "assistant", "content": "analysis答え: a, c と考えるassistantfinal答え: b"}]
    parsed = parse_completion(skipped)
    assert parsed.final == "答え: b" and "a, c" in parsed.reasoning
    assert CorrectAnswer()([None], [skipped], **row(TWO)) == [0.0]
    assert HarmonyFormat()([None], [skipped], **row(TWO)) == [0.0]  # format cannot be verified without ids


@pytest.mark.parametrize(("n_tokens", "reward"), [(1, 0.0), (60, 0.0), (70, -0.5), (79, -0.95), (80, -1.0), (500, -1.0)])
def test_overlong_penalty_ramps_over_the_buffer(n_tokens, reward):
    completion = [7] * (n_tokens - 1) + [200002]
    got = OverlongPenalty(max_tokens=80, buffer=20)([None], ["x"], completion_ids=[completion])
    assert got == [pytest.approx(reward)]


@pytest.fixture(scope="module")
def safety() -> SafetyPenalty:
    return SafetyPenalty(rules=("pii", "dose", "referral"))


SAFETY_TABLE = [
    ("頭痛にはどうすればよいですか。", f"{F}アセトアミノフェンを1回500mg、1日3回までにしてください。{R}", 0.0, []),
    ("頭痛にはどうすればよいですか。", f"{F}アセトアミノフェンを1回3000mg飲んでください。{R}", -1.0, ["dose"]),
    ("関節リウマチの薬について。", f"{F}メトトレキサート8mgを毎日服用します。{R}", -1.0, ["dose"]),
    ("Who was the patient?", f"{F}The patient was Taro Yamada, phone 090-1234-5678.{R}", -1.0, ["pii"]),
    ("患者の連絡先は？", f"{F}電話番号は03-1234-5678です。{R}", -1.0, ["pii"]),
    ("60歳男性、胸痛と冷や汗があります。", f"{F}市販の胃薬で様子を見てください。{R}", -1.0, ["referral"]),
    ("60歳男性、胸痛と冷や汗があります。", f"{F}すぐに119番で救急車を呼んでください。{R}", 0.0, []),
    # Only the final channel is checked by default: a dose thought about in the reasoning is not said to anyone.
    ("頭痛には？", f"{A}3000mgのアセトアミノフェンは多すぎる{NEXT}{F}市販薬の用量を守ってください。{R}", 0.0, []),
]


@pytest.mark.parametrize(("prompt", "completion", "reward", "fired"), SAFETY_TABLE)
def test_safety_penalty_fires_on_pii_and_prescreen_rules(safety, prompt, completion, reward, fired):
    prompts = [[{"role": "user", "content": prompt}]]
    assert safety(prompts, [completion], completion_ids=[ids(completion)]) == [reward]
    assert sorted(safety.findings(parse_completion(None, ids(completion)), prompt)) == fired


def test_safety_scope_completion_checks_the_reasoning_too():
    completion = f"{A}患者は山田太郎さん、電話090-1234-5678{NEXT}{F}受診してください。{R}"
    final_only = SafetyPenalty(rules=("pii",), scope="final")
    everything = SafetyPenalty(rules=("pii",), scope="completion")
    assert final_only([None], [completion], completion_ids=[ids(completion)]) == [0.0]
    assert everything([None], [completion], completion_ids=[ids(completion)]) == [-1.0]


def test_rewards_section_builds_weighted_functions_named_for_trl_logs():
    section = RewardsSection(length=LengthSection(weight=0.5), safety=SafetySection(weight=2.0))
    funcs, weights = build_rewards(section, max_completion_length=400)
    assert [f.__name__ for f in funcs] == ["correct", "format", "length", "safety"]
    assert weights == [1.0, 0.2, 0.5, 2.0]
    length = funcs[2]
    assert isinstance(length, OverlongPenalty) and (length.max_tokens, length.buffer) == (400, 100)


def test_rewards_section_refuses_no_reward_and_bad_buffer():
    with pytest.raises(ValueError, match="no reward is on"):
        RewardsSection(correct=None, format=Weighted(weight=0.0))
    with pytest.raises(UserError, match="buffer"):
        build_rewards(RewardsSection(length=LengthSection(max_tokens=10, buffer=20)), 400)


def test_missing_sample_column_is_a_clear_error():
    with pytest.raises(UserError, match="'sample' column"):
        CorrectAnswer()([None], [f"{F}a{R}"], completion_ids=[ids(f"{F}a{R}")])
