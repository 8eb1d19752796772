"""Training data: column checks name the file, bad rows are dropped with a reason, retention mixes by ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medswallow.errors import UserError
from medswallow.train.registry import load_recipe

from .train_fixtures import (
    BAD_CHAT_ROWS,
    chat_row,
    cpt_recipe,
    sft_recipe,
    write_chat,
    write_corpus,
    write_recipe,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def load(tmp_path: Path, recipe: dict, overrides: list[str] | None = None):
    return load_recipe(write_recipe(tmp_path / "r.yaml", recipe), overrides)


# --- chat rows ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([], "no messages"),
        ("hello", "no messages"),
        ([{"role": "assistant", "content": "a"}], "no user turn"),
        ([{"role": "user", "content": "q"}], "does not end with an assistant turn"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}], "final assistant turn is empty"),
        ([{"role": "user", "content": None}, {"role": "assistant", "content": "a"}], "user message without text content"),
        ([{"role": "tool", "content": "x"}, {"role": "assistant", "content": "a"}], "unsupported role 'tool'"),
        ([{"role": "user", "content": "q<|end|>"}, {"role": "assistant", "content": "a"}], "harmony markup inside message text"),
        (["q", "a"], "message is not an object"),
    ],
)
def test_bad_conversations_are_refused_with_a_reason(messages, reason):
    from medswallow.train.sft import normalise_messages

    out, why = normalise_messages(messages)
    assert out is None
    assert why == reason


@pytest.mark.parametrize("key", ["thinking", "reasoning", "reasoning_content"])
def test_reasoning_field_names_become_thinking_and_none_keys_disappear(key):
    from medswallow.train.sft import normalise_messages

    out, why = normalise_messages(
        [
            {"role": "system", "content": "s", "thinking": None},
            {"role": "user", "content": "q", "thinking": None},
            {"role": "assistant", "content": "a", key: "because"},
        ]
    )
    assert why == ""
    assert out == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "thinking": "because"},
    ]


def test_sft_data_keeps_good_rows_and_quarantines_bad_ones_without_text(tmp_path, tiny_model_dir, tokenizer):
    from medswallow.train import sft

    chat = write_chat(tmp_path / "chat.jsonl", n=6)
    _, recipe = load(tmp_path, sft_recipe(tiny_model_dir, chat, tmp_path / "out"))
    data = sft.load_data(recipe, tokenizer)
    assert data.examples == 6
    [report] = data.reports
    assert (report.rows_read, report.rows_kept) == (9, 6)
    assert dict(report.dropped) == {reason: 1 for _row, reason in BAD_CHAT_ROWS}
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert {r["id"] for r in rejected} == {row["id"] for row, _ in BAD_CHAT_ROWS}
    assert all(set(r) == {"source", "row", "id", "reason"} for r in rejected)  # never the text
    row = data.train[0]
    trained = tokenizer.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"], strict=True) if m])
    assert trained.startswith("<|start|>assistant<|channel|>analysis<|message|>ガイドラインを確認する。<|end|>")
    assert "<|channel|>final<|message|>回答" in trained and trained.endswith("<|return|>")
    assert "質問" not in trained


def test_sft_drops_conversations_longer_than_max_length_unless_truncating(tmp_path, tiny_model_dir, tokenizer):
    from medswallow.train import sft

    chat = tmp_path / "chat.jsonl"
    long = chat_row(1)
    long["messages"][-1]["content"] = "長い回答。" * 200
    chat.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (chat_row(0), long)) + "\n")
    _, recipe = load(tmp_path, sft_recipe(tiny_model_dir, chat, tmp_path / "out"))
    data = sft.load_data(recipe, tokenizer)
    assert data.examples == 1 and dict(data.reports[0].dropped) == {"longer than max_length": 1}
    _, recipe = load(tmp_path, sft_recipe(tiny_model_dir, chat, tmp_path / "out"), ["data.too_long=truncate"])
    assert sft.load_data(recipe, tokenizer).examples == 2


def test_reasoning_effort_reaches_the_system_prompt(tmp_path, tiny_model_dir, tokenizer):
    from medswallow.train import sft

    chat = write_chat(tmp_path / "chat.jsonl", n=2, bad=False)
    _, recipe = load(tmp_path, sft_recipe(tiny_model_dir, chat, tmp_path / "out"), ["data.reasoning_effort=high"])
    data = sft.load_data(recipe, tokenizer)
    assert "Reasoning: high" in tokenizer.decode(data.train[0]["input_ids"])


# --- documents ---------------------------------------------------------------------------------------------


def test_cpt_documents_end_with_endoftext_and_keep_special_strings_as_text(tokenizer):
    from medswallow.train.cpt import tokenize_documents

    batch = {"id": ["a", "b", "c", None], "text": ["患者は<|endoftext|>です", "", None, "ok"]}
    out = tokenize_documents(batch, [0, 1, 2, 3], tokenizer, "text", 199999, 1)
    assert out["_reject"] == ["", "empty text", "missing text", ""]
    first = out["input_ids"][0]
    assert first[-1] == 199999 and first.count(199999) == 1  # the literal string did not become the token
    assert tokenizer.decode(first[:-1]) == "患者は<|endoftext|>です"
    assert out["n_tokens"] == [len(first), 0, 0, len(out["input_ids"][3])]
    assert out["id"][3] == "row-3"


def test_cpt_reads_a_build_corpus_folder(tmp_path, tiny_model_dir, tokenizer):
    from medswallow.train import cpt

    corpus = write_corpus(tmp_path / "mixture", n_docs=30)
    _, recipe = load(tmp_path, cpt_recipe(tiny_model_dir, corpus, tmp_path / "out"))
    data = cpt.load_data(recipe, tokenizer)
    assert data.examples == 30
    import pyarrow.parquet as pq

    counted = sum(sum(pq.read_table(f)["n_tokens"].to_pylist()) for f in (corpus / "data").glob("*.parquet"))
    assert data.tokens == counted + 30  # build-corpus counts are exact o200k counts; + one <|endoftext|> each


@pytest.mark.parametrize(
    ("columns", "fmt"),
    [({"id": ["a"], "body": ["x"]}, "parquet"), ({"id": "a", "body": "x"}, "jsonl")],
)
def test_a_source_without_the_text_column_names_the_file_and_its_columns(tmp_path, tiny_model_dir, tokenizer, columns, fmt):
    from medswallow.train import cpt

    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        (tmp_path / "c" / "data").mkdir(parents=True)
        path = tmp_path / "c" / "data" / "shard-00000.parquet"
        pq.write_table(pa.table(columns), path)
        src = tmp_path / "c"
    else:
        src = path = tmp_path / "c.jsonl"
        path.write_text(json.dumps(columns) + "\n")
    _, recipe = load(tmp_path, cpt_recipe(tiny_model_dir, src, tmp_path / "out"))
    with pytest.raises(UserError) as err:
        cpt.load_data(recipe, tokenizer)
    msg = str(err.value)
    assert "data.train.0" in msg and "'text'" in msg and "body" in msg


@pytest.mark.parametrize(
    ("path", "expected"),
    [("missing-folder", "does not exist"), ("empty", "no .parquet or .jsonl files")],
)
def test_missing_sources_fail_before_training(tmp_path, tiny_model_dir, tokenizer, path, expected):
    from medswallow.train import cpt

    (tmp_path / "empty").mkdir()
    _, recipe = load(tmp_path, cpt_recipe(tiny_model_dir, tmp_path / path, tmp_path / "out"))
    with pytest.raises(UserError, match=expected):
        cpt.load_data(recipe, tokenizer)


# --- retention mixing --------------------------------------------------------------------------------------


def _rows(n: int, tokens: int, tag: str):
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": [[1] * tokens] * n, "n_tokens": [tokens] * n, "tag": [tag] * n})


@pytest.mark.parametrize(
    ("main", "ret", "ratio", "unit", "share", "repeats"),
    [
        ((40, 10), (100, 10), 0.2, "tokens", 0.2, 0.1),  # 400 main tokens -> 100 retention tokens
        ((40, 10), (5, 10), 0.2, "tokens", 0.2, 2.0),  # too little retention data: used twice
        ((12, 10), (50, 3), 0.2, "examples", 0.2, 0.06),  # ratio counts examples, not tokens
        ((10, 10), (50, 3), 0.0, "examples", 0.0, 0.0),
    ],
)
def test_retention_is_mixed_to_the_ratio(main, ret, ratio, unit, share, repeats):
    from medswallow.train.data import mix_retention

    mixed, got_share, got_repeats = mix_retention(_rows(*main, "main"), _rows(*ret, "ret"), ratio, unit, seed=0)
    assert got_share == pytest.approx(share, abs=0.01)
    assert got_repeats == pytest.approx(repeats, abs=0.01)
    assert mixed["tag"].count("main") == main[0]
    assert mixed["tag"][: main[0]] != ["main"] * main[0] or ratio == 0  # shuffled, not appended


def test_sft_retention_table_counts_both_roles(tmp_path, tiny_model_dir, tokenizer):
    from medswallow.train import sft

    chat = write_chat(tmp_path / "chat.jsonl", n=8, bad=False)
    general = write_chat(tmp_path / "general.jsonl", n=4, bad=False)
    recipe = sft_recipe(tiny_model_dir, chat, tmp_path / "out")
    recipe["data"]["retention"] = {"sources": [{"path": str(general), "name": "general"}], "ratio": 0.2}
    _, r = load(tmp_path, recipe)
    data = sft.load_data(r, tokenizer)
    assert [(x.name, x.role, x.rows_kept) for x in data.reports] == [("chat.jsonl", "train", 8), ("general", "retention", 4)]
    assert data.examples == 10 and data.retention_share == pytest.approx(0.2)
