from __future__ import annotations

import pytest

from medswallow.corpus.filters.base import Filter
from medswallow.corpus.filters.quality import LanguageFilter, quality_filters
from medswallow.corpus.recipe import QualityConfig
from medswallow.records import Document

JA_PROSE = "高血圧の治療では、生活習慣の修正が基本である。減塩や運動を続けることで血圧は下がり、脳卒中や心疾患の危険も減る。"
EN_PROSE = (
    "Hypertension is a common condition in which the force of the blood against the artery walls is high enough "
    "that it may eventually cause health problems, such as heart disease and stroke."
)


def run(text: str, lang: str) -> str:
    doc = Document(id="d", text=text, source="s", lang=lang)
    for f in quality_filters(QualityConfig()):
        kept, rejected = f.process([doc])
        if rejected:
            return rejected[0].reason
    return "kept"


@pytest.mark.parametrize(
    ("text", "lang", "verdict"),
    [
        (JA_PROSE, "ja", "kept"),
        (EN_PROSE, "en", "kept"),
        ("短すぎる文。", "ja", "quality:too_short"),
        ("Too short.", "en", "quality:too_short"),
        ("東京都 千代田区 中央区 港区 新宿区 文京区 台東区 墨田区 江東区 品川区 目黒区 大田区 世田谷区", "ja", "quality:few_hiragana"),
        ("|" * 50 + " ### ***  <<<>>> {{}} " * 10 + JA_PROSE, "ja", "quality:symbol_ratio"),
        ("\n".join(["メニューへ戻る"] * 6 + [JA_PROSE]), "ja", "quality:duplicate_lines"),
        ("ありがとうございます。" * 30, "ja", "quality:repeated_ngrams"),
        ("Qwrtp xzzkl mmnbv plkjh ytrew qasdf zxcvb nmlkj hgfds poiuy trewq lkjhg fdsaz xcvbn mnbvc asdfg hjklp qwert yuiop zxcvb vbnmq wertz", "en", "quality:few_stop_words"),
        ("the and of " + " ".join(["pneumonoultramicroscopicsilicovolcanoconiosis"] * 6), "en", "quality:word_length"),
    ],
)
def test_quality_table(text, lang, verdict):
    assert run(text, lang) == verdict


def test_language_filter_sets_lang_and_drops_unkept():
    f = LanguageFilter(["ja", "en", "mixed"], 0.25)
    docs = [Document("a", JA_PROSE, "s"), Document("b", "高血压指南建议减少盐的摄入，并定期测量血压。", "s")]
    kept, rejected = f.process(docs)
    assert [d.id for d in kept] == ["a"] and kept[0].lang == "ja"
    assert rejected[0].reason == "lang:other" and rejected[0].meta["lang"] == "other"


class Explodes(Filter):
    name = "boom"

    def filter(self, doc):
        if "bad" in doc.text:
            raise ValueError("secret patient name inside")
        return doc.text != "drop", "asked"


def test_filter_hook_counts_reasons_and_quarantines_errors_without_their_message():
    kept, rejected = Explodes().process([Document("1", "ok", "s"), Document("2", "drop", "s"), Document("3", "bad", "s")])
    assert [d.id for d in kept] == ["1"]
    assert [(r.id, r.reason, r.kind) for r in rejected] == [("2", "boom:asked", "dropped"), ("3", "boom:error:ValueError", "quarantined")]
    assert "secret" not in rejected[1].detail
