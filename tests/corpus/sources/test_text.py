from __future__ import annotations

from tests.corpus.helpers import REPO, read_all


def test_shift_jis_sample_is_decoded_not_garbled():
    docs, rej = read_all("text", REPO / "corpora" / "samples" / "general", paths=["ja_legacy_sjis.txt"])
    assert rej == [] and len(docs) == 3
    assert docs[0].text.startswith("日本の医療保険制度は")
    assert "①義務教育就学前" in docs[1].text  # a CP932 extension character
    assert docs[0].meta["encoding"] == "cp932"


def test_split_modes_and_euc_jp(tmp_path):
    text = "第一段落の一行目。\n第一段落の二行目。\n\n第二段落。\n"
    (tmp_path / "e.txt").write_bytes(text.encode("euc_jp"))
    para, _ = read_all("text", tmp_path, paths=["e.txt"])
    assert [d.text for d in para] == ["第一段落の一行目。\n第一段落の二行目。", "第二段落。"]
    assert [d.id for d in para] == ["src:e.txt:1", "src:e.txt:4"]
    lines, _ = read_all("text", tmp_path, paths=["e.txt"], split="line")
    assert len(lines) == 3
    whole, _ = read_all("text", tmp_path, paths=["e.txt"], split="file")
    assert whole[0].text == text


def test_huge_paragraph_and_bad_line_are_quarantined(tmp_path):
    body = "正しい段落\n\n".encode() + b"y" * 3000 + b"\n\nline a\n\xff\xfe bad\nline c\n\nlast\n"
    (tmp_path / "h.txt").write_bytes(body)
    docs, rej = read_all("text", tmp_path, paths=["h.txt"], max_record_mb=0.002)
    assert [d.text for d in docs] == ["正しい段落", "last"]
    assert [(r.reason, r.meta["line"]) for r in rej] == [("record_too_large", 3), ("undecodable_line", 5)]
