"""Person names (JA and EN) from Sudachi name features and cues, and the eponym/citation/role traps."""

from __future__ import annotations

import pytest

# (text, names that must be found) — several are in no list the engine has: unknown given names, rare surnames
NAMES = [
    ("患者：山田太郎様（78歳）", ["山田太郎"]),
    ("主治医 佐藤先生、担当看護師 鈴木さん。", ["佐藤", "鈴木"]),
    ("妻の花子さんが付き添い。", ["花子"]),
    ("氏名：ヤマダ　タロウ", ["ヤマダ　タロウ"]),
    ("長男 一郎 さんに連絡", ["一郎"]),
    ("轟木 凛太郎様", ["轟木 凛太郎"]),
    ("百瀬　心愛様の件", ["百瀬　心愛"]),
    ("薬師寺\u3000暖）様", ["薬師寺\u3000暖"]),
    ("記載医：小鳥遊", ["小鳥遊"]),
    ("Dr.五十嵐", ["五十嵐"]),
    ("お世話になっております。柊 颯真と申します。", ["柊 颯真"]),
    ("ゆいちゃんが昨夜から発熱。ゆいの母です。", ["ゆい", "ゆい"]),
    ("みなと総合病院\u3000長谷川\u3000（03-1234-5678）", ["長谷川"]),
    ("患者：YAMADA Taro様", ["YAMADA Taro"]),
    ("Patient: John Smith, DOB 03/02/1950", ["John Smith"]),
    ("Seen by Dr. Emily Carter today.", ["Emily Carter"]),
    ("Wife Mary reports that he fell.", ["Mary"]),
    ("Electronically signed by Robert Brown, MD", ["Robert Brown"]),
    ("Oluwaseun Adeyemi, 47-year-old, presents with cough.", ["Oluwaseun Adeyemi"]),
    ("Thanks,\nSiobhan O'Connor", ["Siobhan O'Connor"]),
    ("Anneke de Vries is a 52 year old woman", ["Anneke de Vries"]),
]

# text with no person in it: eponyms, citations, role words, drug and institution names
NO_NAMES = [
    "1日3回服用して様子を見てください。",  # 様子 is a word, not the honorific 様
    "経過観察して様子をみる。様々な原因が考えられます。",
    "川崎病、橋本病、バセドウ病、パーキンソン病の既往。",
    "アルツハイマー型認知症とクッシング症候群。ギラン・バレー症候群を疑う。",
    "Babinski反射陽性、マーフィー徴候陰性。",
    "田中ら（2018）の報告では有効であった。",
    "患者さんと看護師さんとご家族様に説明した。",
    "担当の先生より説明。主治医の先生も同席。",
    "History of Alzheimer's disease and Cushing syndrome; Babinski sign negative.",
    "Smith et al. 2019 reported similar outcomes; Jones and colleagues (2020) disagreed.",
    "Parkinson's disease, Hodgkin lymphoma, Crohn's disease and Graves' disease.",
    "Foley catheter removed. Apgar score 9. Glasgow Coma Scale 15.",
    "Patient Education: take metformin 500 mg twice daily.",
    "循環器内科へ紹介。市立中央病院で加療中。",
]


@pytest.mark.parametrize(("text", "names"), NAMES, ids=[n[0][:20] for n in NAMES])
def test_names_found(fast_engine, found, text, names):
    got = [surface for surface, _ in found(fast_engine, text, "PERSON")]
    assert got == names


@pytest.mark.parametrize("text", NO_NAMES, ids=[t[:20] for t in NO_NAMES])
def test_no_false_names(fast_engine, found, text):
    assert found(fast_engine, text, "PERSON") == []


@pytest.mark.slow
def test_thorough_mode_adds_ner_names_and_keeps_traps(thorough_engine, found):
    # no cue at all: only NER knows these are people
    text = "Yesterday Margaret Whitfield went home. 昨日、清水健一郎が退院した。"
    got = {s for s, label in found(thorough_engine, text) if label == "PERSON"}
    assert "Margaret Whitfield" in got
    assert any("清水" in s for s in got)
    for trap in NO_NAMES:
        assert found(thorough_engine, trap, "PERSON") == [], trap
