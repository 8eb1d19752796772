from __future__ import annotations

from tests.corpus.helpers import REPO, read_all

SAMPLES = REPO / "corpora" / "samples" / "guidelines"


def test_html_drops_boilerplate_keeps_headings_lists_tables():
    docs, rej = read_all("guideline", SAMPLES, paths=["ja_hypertension.html"])
    assert rej == []
    text = docs[0].text
    assert text.startswith("# 高血圧診療の手引き（サンプル版）")
    assert "## 2. 生活習慣の修正" in text
    assert "- 食塩摂取量を1日6g未満に制限する。\n- 野菜や果物" in text
    assert "1. 単剤で開始し" in text and "2. 併用療法では" in text
    assert "75歳未満の成人 | 130/80 mmHg未満 | 125/75 mmHg未満" in text
    for boiler in ("会員ログイン", "ホーム", "お知らせ", "Copyright", "シェア", "dataLayer", "font-family"):
        assert boiler not in text


def test_html_in_shift_jis_with_meta_charset(tmp_path):
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"></head><body><nav>メニュー</nav><p>熱中症の予防には水分補給が大切です。</p></body></html>'
    (tmp_path / "g.html").write_bytes(html.encode("cp932"))
    docs, _ = read_all("guideline", tmp_path, paths=["g.html"])
    assert docs[0].text == "熱中症の予防には水分補給が大切です。"


def test_markdown_keeps_structure_drops_markup():
    docs, _ = read_all("guideline", SAMPLES, paths=["ja_diabetes.md"])
    text = docs[0].text
    assert "title:" not in text  # front matter
    assert "## 薬物療法の選択" in text and "1. 肥満を伴う患者では" in text and "- 意識がある場合は" in text
    assert "HbA1c 7.0%未満" in text and "**" not in text
    assert "詳しくは足病変の手引きを参照" in text and "https://" not in text


def test_pdf_removes_running_header_footer_and_rejoins_lines():
    docs, _ = read_all("guideline", SAMPLES, paths=["en_sepsis.pdf"])
    text = docs[0].text
    assert "Sample Society - Sepsis pathway" not in text and "Page 2 of 4" not in text
    assert "a respiratory rate of 22 per minute or more, or a systolic blood pressure of 100 mmHg or less." in text
    assert "\n2. Give broad-spectrum antibiotics within one hour of recognition." in text


def test_broken_guideline_files(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4\n%%EOF garbage")
    (tmp_path / "fake.pdf").write_bytes(b"<html>not a pdf</html>")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "deep.html").write_text("<div>" * 5000 + "深い入れ子の本文です。" + "</div>" * 5000, encoding="utf-8")
    docs, rej = read_all("guideline", tmp_path, paths=["*"])
    assert [d.text for d in docs] == ["深い入れ子の本文です。"]
    reasons = sorted(r.reason for r in rej)
    assert reasons[0] == "empty_file" and reasons[1] == "not_a_pdf" and reasons[2].startswith(("unreadable_pdf", "no_text"))
