"""Unicode normalisation suited to Japanese: safe folds on the stored text, aggressive ones only for matching.

The stored text gets NFC (composes か+゛ into が; never strips dakuten), half-width katakana -> full-width,
full-width letters/digits -> ASCII, invisible and control characters removed, newlines unified. Full
NFKC, which also rewrites ①, ㎎, ㍻ and full-width punctuation, is applied only when the recipe asks.
:func:`match_key` is the aggressive form used for duplicate and benchmark matching; it is never stored.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Invisible characters that carry nothing in a training text (BOM, zero-width space, word joiner, soft hyphen).
_INVISIBLE = {0xFEFF: None, 0x200B: None, 0x2060: None, 0x00AD: None}
# C0/C1 controls except tab and newline.
_CONTROLS = {c: None for c in [*range(0, 9), 11, 12, *range(14, 32), 127, *range(0x80, 0xA0)]}
_DELETE = _INVISIBLE | _CONTROLS
_HALFWIDTH_KANA = re.compile(r"[\uff61-\uff9f]+")
_FULLWIDTH_ALNUM = re.compile(r"[０-９Ａ-Ｚａ-ｚ]+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_MANY_NEWLINES = re.compile(r"\n{3,}")


def _nfkc(m: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", m.group(0))


class Normalizer:
    """Callable: raw text -> stored text, as the recipe's ``normalize`` section says."""

    def __init__(self, cfg: Any) -> None:
        self.form = cfg.form
        self.halfwidth_katakana = cfg.halfwidth_katakana
        self.fullwidth_alnum = cfg.fullwidth_alnum

    def __call__(self, text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_DELETE)
        if self.form == "nfkc":
            text = unicodedata.normalize("NFKC", text)
        else:
            if self.halfwidth_katakana:
                text = _HALFWIDTH_KANA.sub(_nfkc, text)  # ｶﾞ -> ガ (NFKC composes the voiced mark)
            if self.fullwidth_alnum:
                text = _FULLWIDTH_ALNUM.sub(_nfkc, text)
            if self.form == "nfc" and not text.isascii():
                text = unicodedata.normalize("NFC", text)
        text = _TRAILING_SPACE.sub("\n", text)
        return _MANY_NEWLINES.sub("\n\n", text).strip()


# Matching key: NFKC, case-folded, without whitespace and punctuation, so formatting never hides a copy.
_NOT_WORD = re.compile(r"[\W_]+")
# Spacing voiced marks (カ゛) become combining ones first, so NFKC composes them (ガ) instead of leaving a
# mark that the punctuation strip would then remove: dakuten are never lost.
_SPACING_MARKS = str.maketrans({"\u309b": "\u3099", "\u309c": "\u309a"})


def match_key(text: str) -> str:
    """The aggressive form used for duplicate and benchmark matching (never stored)."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text.translate(_SPACING_MARKS)).casefold())
