from __future__ import annotations

import pytest

from medswallow.corpus.langid import detect


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("高血圧の患者ではCRPとHbA1cを測定し、結果をmg/dLで記録する。", "ja"),  # abbreviations do not make it mixed
        ("Hypertension guidelines recommend salt reduction for most adults.", "en"),
        ("本研究の目的は高血圧の治療効果を検証することである。Background: This study examined the effect of salt reduction on blood pressure in elderly patients. 結果として減塩は有効であった。", "mixed"),
        ("高血压指南建议减少盐的摄入，并定期测量血压。", "other"),  # Chinese: kanji without kana
        ("Die Leitlinie empfiehlt eine Salzreduktion bei Bluthochdruck.", "other"),
        ("한국어 문장은 일본어가 아닙니다. 고혈압 환자는 소금을 줄여야 합니다.", "other"),
        ("12345 --- 678", "und"),
    ],
)
def test_language_table(text, lang):
    assert detect(text)[0] == lang
