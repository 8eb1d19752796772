from __future__ import annotations

from tests.corpus.helpers import read_all


def test_rows_with_header_template_and_quarantined_rows(tmp_path):
    body = (
        "faq_id,question,answer\n"
        'q1,"減塩の目標は？","1日6g未満です。\n家庭でも測りましょう。"\n'
        "q2,only two fields\n"
        "q3,,空の質問\n"
        "q4,Why measure at home?,Home readings avoid the white-coat effect.\n"
    )
    (tmp_path / "faq.csv").write_bytes(body.encode("cp932"))
    docs, rej = read_all("csv", tmp_path, paths=["faq.csv"], fields={"id": "faq_id", "template": "{question}\n{answer}"})
    assert [d.id for d in docs] == ["src:q1", "src:q4"]
    assert docs[0].text == "減塩の目標は？\n1日6g未満です。\n家庭でも測りましょう。"
    assert [(r.reason, r.meta["line"]) for r in rej] == [("wrong_field_count", 4), ("missing_field:question", 5)]


def test_headerless_tsv_and_bad_bytes(tmp_path):
    (tmp_path / "t.tsv").write_bytes("a\t高血圧の説明\n".encode() + b"b\t\xff\xfe\xfd\n" + "c\t糖尿病の説明\n".encode())
    docs, rej = read_all("csv", tmp_path, paths=["t.tsv"], header=False, delimiter="\t", fields={"text": "col1", "id": "col0"})
    assert [d.text for d in docs] == ["高血圧の説明", "糖尿病の説明"]
    assert [r.reason for r in rej] == ["undecodable_line"]


def test_empty_and_binary_csv(tmp_path):
    (tmp_path / "e.csv").write_bytes(b"")
    (tmp_path / "b.csv").write_bytes(b"\x00\x01\x02" * 100)
    docs, rej = read_all("csv", tmp_path, paths=["*.csv"])
    assert docs == [] and sorted(r.reason for r in rej) == ["binary_file", "empty_file"]
