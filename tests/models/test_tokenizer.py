from __future__ import annotations

import pytest

from medswallow.models import tokenizer as T

TEXTS = [
    "高アンモニア血症をきたす疾患はどれか。",
    "Hello world 123456 don't <|end|>",
    "  \n\n x　全角　テスト１２３ ｱｲｳ",
    "令和5年3月2日 R5.3.2 5mg 1日3回",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_tiktoken_export_matches_harmony(text):
    ours = T.get_encoding().encode_ordinary(text)
    ref = T.harmony_encoding().encode(text, disallowed_special=())
    assert ours == ref
    assert T.count_tokens(text) == len(ref)


def test_special_tokens_have_gpt_oss_ids():
    h = T.harmony_encoding()
    for name in ("<|start|>", "<|message|>", "<|channel|>", "<|end|>", "<|return|>", "<|call|>"):
        assert h.decode([T.SPECIAL_TOKENS[name]]) == name
    assert T.VOCAB_SIZE == 201088


def test_batch_counts_match_single():
    assert T.count_tokens_batch(TEXTS) == [T.count_tokens(t) for t in TEXTS]


@pytest.mark.slow
def test_hf_tokenizer_has_identical_ids(tmp_path):
    tok = T.build_hf_tokenizer(tmp_path)
    assert len(tok) == T.VOCAB_SIZE
    for text in TEXTS:
        assert tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"] == T.get_encoding().encode_ordinary(text)
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "頭痛"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered.endswith("<|start|>assistant")
    assert "<|start|>user<|message|>頭痛<|end|>" in rendered
