from __future__ import annotations

import gzip
import json

import pytest

from tests.corpus.helpers import read_all


def jl(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


def test_field_map_template_id_meta_and_lang(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        jl({"rid": "r1", "title": "敗血症", "body": "初期治療について。", "url": "u1", "lang": "ja"}, {"rid": "r2", "title": "T", "body": ["a", "b"]}),
        encoding="utf-8",
    )
    docs, rej = read_all("jsonl", tmp_path, paths=["a.jsonl"], fields={"id": "rid", "template": "{title}\n\n{body}", "meta": ["url"], "lang": "lang"})
    assert rej == []
    assert [d.id for d in docs] == ["src:r1", "src:r2"]
    assert docs[0].text == "敗血症\n\n初期治療について。" and docs[0].meta["url"] == "u1" and docs[0].meta["declared_lang"] == "ja"
    assert docs[1].text == "T\n\na\nb"  # list fields are joined by lines


def test_bad_lines_are_quarantined_one_by_one_and_reading_goes_on(tmp_path):
    lines = [
        {"text": "first good line"},
        {"text": "日本語の行（UTF-8）"},
        '{"text": "unterminated',
        "[1, 2, 3]",
        {"other": "no text field"},
        {"text": 42},
        {"text": "   "},
        "",
        {"text": "x" * 5000},
        {"text": "last good line"},
    ]
    p = tmp_path / "bad.jsonl"
    p.write_bytes(jl(*lines).encode() + b'{"text": "\xff\xfe broken bytes"}\n' + b"[" * 200000 + b"\n")
    docs, rej = read_all("jsonl", tmp_path, paths=["bad.jsonl"], max_record_mb=0.004)
    assert [d.text for d in docs] == ["first good line", "日本語の行（UTF-8）", "last good line"]
    assert [(r.reason, r.meta["line"]) for r in rej] == [
        ("malformed_json", 3),
        ("not_an_object", 4),
        ("missing_field:text", 5),
        ("wrong_type:text", 6),
        ("missing_field:text", 7),
        ("record_too_large", 9),
        ("undecodable_line", 11),
        ("record_too_large", 12),
    ]
    assert all(r.kind == "quarantined" and r.text == "" for r in rej)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jsonl", b"", "empty_file"),
        ("blank.jsonl", b"\n\n  \n", "empty_file"),
        ("binary.jsonl", bytes(range(256)) * 20, "binary_file"),
        ("corrupt.jsonl.gz", b"\x1f\x8b\x08\x00garbage", "unreadable:"),
    ],
)
def test_unusable_files_are_one_quarantined_record(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    docs, rej = read_all("jsonl", tmp_path, paths=[name])
    assert docs == [] and len(rej) == 1 and rej[0].reason.startswith(reason)


def test_truncated_gzip_keeps_lines_before_the_break(tmp_path):
    import random

    rng = random.Random(1)
    body = jl(*({"text": " ".join(str(rng.random()) for _ in range(20))} for _ in range(3000))).encode()
    data = gzip.compress(body)
    (tmp_path / "t.jsonl.gz").write_bytes(data[: len(data) // 2])
    docs, rej = read_all("jsonl", tmp_path, paths=["t.jsonl.gz"])
    assert 0 < len(docs) < 3000
    assert [r.reason for r in rej] == ["truncated_file"]
    assert rej[0].meta["file"] == "t.jsonl.gz"


@pytest.mark.parametrize("encoding", ["shift_jis", "cp932", "euc_jp", "utf-8-sig", "utf-16"])
def test_japanese_encodings_are_detected(tmp_path, encoding):
    text = "高血圧の治療では減塩が重要である。①家庭血圧を測定する。" if encoding != "shift_jis" else "高血圧の治療では減塩が重要である。家庭血圧を測定する。"
    if encoding == "euc_jp":
        text = text.replace("①", "1")
    (tmp_path / "e.jsonl").write_bytes(jl({"text": text}, {"text": text + "追記"}).encode(encoding))
    docs, rej = read_all("jsonl", tmp_path, paths=["e.jsonl"])
    assert rej == [] and [d.text for d in docs] == [text, text + "追記"]


def test_missing_files_are_a_clear_user_error(tmp_path):
    from medswallow.errors import UserError

    with pytest.raises(UserError, match="no file matches 'nope/\\*.jsonl'"):
        read_all("jsonl", tmp_path, paths=["nope/*.jsonl"])
