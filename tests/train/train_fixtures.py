"""Tiny training inputs written by the tests themselves: build-corpus shards, harmony chat rows, recipes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

WORDS = ["高血圧", "糖尿病", "患者", "治療", "投与", "検査", "hypertension", "insulin", "dose", "the", "patient", "は", "を", "。"]


def write_corpus(out: Path, n_docs: int = 40, seed: int = 0, shards: int = 2) -> Path:
    """A build-corpus output folder: OUT/data/*.parquet with id, text, source, lang, n_tokens."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60)))
        docs.append({"id": f"doc-{i}", "text": text, "source": "sample", "lang": "ja", "n_tokens": _count(text)})
    (out / "data").mkdir(parents=True, exist_ok=True)
    per = -(-n_docs // shards)
    for s in range(shards):
        pq.write_table(pa.Table.from_pylist(docs[s * per : (s + 1) * per]), out / "data" / f"shard-{s:05d}.parquet")
    (out / "manifest.json").write_text(json.dumps({"sources": {"sample": {"docs_kept": n_docs}}}))
    return out


def _count(text: str) -> int:
    """Exact o200k_harmony count, as build-corpus writes it (0 where openai_harmony is not installed)."""
    from medswallow.errors import UserError

    try:
        from medswallow.models.tokenizer import count_tokens

        return count_tokens(text)
    except UserError:
        return 0


def chat_row(i: int, *, thinking: str | None = "ガイドラインを確認する。", system: str | None = None) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": f"質問{i}: 高血圧の第一選択薬は？"})
    answer: dict[str, Any] = {"role": "assistant", "content": f"回答{i}: ARB、ACE阻害薬、Ca拮抗薬、サイアザイド系利尿薬。"}
    if thinking:
        answer["thinking"] = thinking
    messages.append(answer)
    return {"id": f"chat-{i}", "messages": messages}


BAD_CHAT_ROWS = [
    ({"id": "bad-user-last", "messages": [{"role": "user", "content": "hi"}]}, "does not end with an assistant turn"),
    ({"id": "bad-role", "messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}, "unsupported role 'robot'"),
    ({"id": "bad-markup", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<|channel|>final<|message|>a"}]}, "harmony markup inside message text"),
]


def write_chat(path: Path, n: int = 12, bad: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps(chat_row(i), ensure_ascii=False) + "\n")
        if bad:
            for row, _reason in BAD_CHAT_ROWS:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_recipe(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text("# medswallow train " + path.name + "\n" + yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False))
    return path


def cpt_recipe(model_dir: Path, corpus: Path, out: Path, **train: Any) -> dict[str, Any]:
    return {
        "kind": "cpt",
        "method": "full",
        "model": {"name_or_path": str(model_dir)},
        "data": {"train": [{"path": str(corpus)}], "max_length": 64},
        "train": {
            "output_dir": str(out),
            "max_steps": 3,
            "per_device_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "logging_steps": 1,
            "save_steps": 2,
            "warmup_ratio": 0.0,
            **train,
        },
    }


def sft_recipe(model_dir: Path, chat: Path, out: Path, **train: Any) -> dict[str, Any]:
    return {
        "kind": "sft",
        "method": "lora",
        "model": {"name_or_path": str(model_dir)},
        "lora": {"r": 4, "alpha": 8, "targets": ["attention", "experts"]},
        "data": {"train": [{"path": str(chat)}], "max_length": 256},
        "train": {
            "output_dir": str(out),
            "max_steps": 2,
            "per_device_batch_size": 2,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-3,
            "logging_steps": 1,
            "warmup_ratio": 0.0,
            **train,
        },
        "export": {"dtype": "float32"},
    }
