"""Records that must not be lost: long non-ASCII first lines, huge lines, truncated gzip, symlink loops,
unreadable files — each record is kept or quarantined with its true reason."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from tests.corpus.helpers import read_all

JA = "高血圧の治療では減塩と運動療法が基本である。"


def jl(records) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


@pytest.mark.parametrize("pad", ["", "a", "ab"])
@pytest.mark.parametrize("kind", ["jsonl", "text"])
def test_first_line_longer_than_the_sniff_window_is_still_utf8(tmp_path, kind, pad):
    # 300 KiB of 3-byte characters on the first line: the detection window ends inside a character
    # (for one of the three paddings, whatever the length of the JSON around the text).
    long = pad + JA * (300 * 1024 // len(JA.encode()) + 1)
    if kind == "jsonl":
        (tmp_path / "a.jsonl").write_bytes(jl([{"text": long}] + [{"text": f"{JA}{i}"} for i in range(10)]))
    else:
        (tmp_path / "a.txt").write_text(long + "\n" + "".join(f"{JA}{i}\n" for i in range(10)), encoding="utf-8")
    docs, rej = read_all(kind, tmp_path, paths=["a.*"], **({"split": "line"} if kind == "text" else {}))
    assert rej == [] and len(docs) == 11
    assert docs[0].text == long


def test_a_huge_first_line_is_too_large_and_the_other_records_are_kept(tmp_path):
    big = "a" + "診" * (2 * 1024 * 1024 // 3 + 10)  # > 2 MiB of non-ASCII text, limit 1 MiB; window cuts a character
    (tmp_path / "a.jsonl").write_bytes(jl([{"text": big}] + [{"text": f"{JA}{i}"} for i in range(5)]))
    docs, rej = read_all("jsonl", tmp_path, paths=["a.jsonl"], max_record_mb=1)
    assert [r.reason for r in rej] == ["record_too_large"]
    assert len(docs) == 5


def test_a_small_truncated_gzip_keeps_every_complete_record_before_the_break(tmp_path):
    raw = jl([{"id": i, "text": f"{JA}{i}" + os.urandom(40).hex()} for i in range(200)])
    assert len(raw) < 64 * 1024
    z = gzip.compress(raw)
    (tmp_path / "a.jsonl.gz").write_bytes(z[: len(z) * 2 // 3])
    docs, rej = read_all("jsonl", tmp_path, paths=["a.jsonl.gz"])
    assert len(docs) > 50  # the records before the break
    assert [r.reason for r in rej] == ["truncated_file"]
    assert f"after line {len(docs)}" in rej[0].detail


def test_a_symlink_loop_reads_each_file_once(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(jl([{"text": JA}]))
    (tmp_path / "in" / "loop").symlink_to(tmp_path / "in")
    (tmp_path / "in" / "alias.jsonl").symlink_to(tmp_path / "in" / "a.jsonl")
    docs, rej = read_all("jsonl", tmp_path, paths=["in/**/*.jsonl"])
    assert rej == [] and len(docs) == 1


def test_a_permission_error_says_permission(tmp_path, monkeypatch):
    from medswallow.corpus.sources import base

    (tmp_path / "a.jsonl").write_bytes(jl([{"text": JA}]))

    def denied(path):  # running as root, chmod cannot deny a read: raise what open() raises for users
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(base, "open_binary", denied)
    docs, rej = read_all("jsonl", tmp_path, paths=["a.jsonl"])
    assert docs == [] and rej[0].reason == "unreadable:permission_denied"
    assert "permission denied" in rej[0].detail and "gzip" not in rej[0].detail


def test_malformed_json_detail_names_line_column_and_is_not_cut(tmp_path):
    (tmp_path / "a.jsonl").write_bytes(b'{"text": "a\tb"}\n')
    _, rej = read_all("jsonl", tmp_path, paths=["a.jsonl"])
    detail = rej[0].detail
    assert rej[0].reason == "malformed_json"
    assert "line 1, column 12" in detail and not detail.rstrip().endswith(" at"), detail
