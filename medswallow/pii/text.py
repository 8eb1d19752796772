"""Width folding and character classes shared by the recognizers.

Japanese text mixes full-width and half-width forms (０３－１２３４－５６７８, ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ).
Recognizers run on a *folded* copy where every full-width ASCII form, the ideographic space and the
many dash look-alikes map to one half-width character each: the folded text has exactly the same length,
so offsets found on it are offsets in the original.
"""

from __future__ import annotations

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc\uff0d\uff70\u2500\u2501"
"""Hyphen look-alikes written between digits (incl. the long-vowel mark ー, a common typo in phone numbers)."""

_FOLD: dict[int, str] = {c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}
_FOLD[0x3000] = " "
_FOLD[0xFF0D] = "-"


def _build() -> dict[int, str]:
    table = dict(_FOLD)
    for ch in _DASHES:
        # ー and ｰ stay themselves: they are part of katakana words (names!). Recognizers that
        # accept them between digits say so in their patterns.
        if ch not in "\u30fc\uff70":
            table[ord(ch)] = "-"
    return table


FOLD_TABLE = _build()


def fold(text: str) -> str:
    """Map full-width ASCII, ideographic space and dashes to half-width; the length never changes."""
    return text.translate(FOLD_TABLE)


# Character classes for patterns written against folded text (the regex module understands \p{..}).
KANJI = r"\p{Han}々〆ヶ"
HIRA = r"\p{Hiragana}"
KATA = r"\p{Katakana}ー"
JA_CHAR = rf"[{KANJI}{HIRA}{KATA}]"
DIGIT_BOUNDARY_BEFORE = r"(?<![0-9A-Za-z])"
DIGIT_BOUNDARY_AFTER = r"(?![0-9])"
KANJI_NUM = "〇一二三四五六七八九十百千"
DASH = "-ー"
"""Dashes accepted between digits in folded text."""


def digits_only(text: str) -> str:
    """The ASCII digits of a (folded) string, in order."""
    return "".join(ch for ch in fold(text) if "0" <= ch <= "9")
