"""Language per document, per line and per span, from the script of the characters.

Japanese clinical text is full of Latin abbreviations (CRP, mg, HbA1c) and English text rarely holds kana,
so kana/kanji share decides: it is exact for the ja/en question this engine needs and costs microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_JA = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
_LATIN = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
# A piece ends at Japanese/English sentence marks, a newline, or ". " after a word of 3+ lowercase letters
# (so "Dr. Smith" and "et al. 2019" stay whole).
_SEGMENT = re.compile(r"(?:[^\n。！？!?.]|(?<![a-z][a-z][a-z])\.(?=\s)|\.(?!\s))*(?:[。！？!?]+|(?<=[a-z][a-z][a-z])\.(?=\s)|\n|$)")

SUPPORTED = ("ja", "en")


def detect_language(text: str) -> str:
    """``ja``, ``en``, or ``und`` (no letters), for a whole text.

    A text counts as Japanese once kana/kanji make up 10% of its letters: a Japanese note with many lab
    abbreviations stays ``ja``. Chinese (kanji without kana) and Korean are reported as ``zh``/``ko``;
    the engine treats them with the language-independent recognizers only.
    """
    n_ja = len(_JA.findall(text))
    n_lat = len(_LATIN.findall(text))
    n_ko = len(_HANGUL.findall(text))
    if n_ko > max(n_ja, n_lat):
        return "ko"
    if n_ja and n_ja >= 0.1 * (n_ja + n_lat):
        if not _KANA.search(text) and n_ja > 20:
            return "zh"
        return "ja"
    if n_lat:
        return "en"
    return "und"


@dataclass(frozen=True, slots=True)
class Segment:
    """A line or sentence of a document with its own language."""

    start: int
    end: int
    lang: str


def segments(text: str, doc_lang: str) -> list[Segment]:
    """Split at sentence ends and newlines; each piece gets its own language (falling back to the document's).

    Adjacent pieces of the same language are merged, so a monolingual document is one segment.
    """
    out: list[Segment] = []
    for m in _SEGMENT.finditer(text):
        s, e = m.span()
        if s == e:
            continue
        piece = text[s:e]
        lang = detect_language(piece)
        if lang == "und":
            lang = out[-1].lang if out else doc_lang
        if out and out[-1].lang == lang and out[-1].end == s:
            out[-1] = Segment(out[-1].start, e, lang)
        else:
            out.append(Segment(s, e, lang))
    return out


def span_language(text: str, start: int, end: int, segs: list[Segment], doc_lang: str, by_script: bool = False) -> str:
    """Language of one span: the segment it sits in, or (``by_script``: names) its own script when it has letters.

    Identifiers (R5.3.2, taro@example.jp) take their segment's language; a romaji name inside a Japanese
    sentence is reported as ``en`` only when asked to go by script.
    """
    if by_script:
        own = detect_language(text[start:end])
        if own in SUPPORTED:
            return own
    for seg in segs:
        if seg.start <= start < seg.end:
            return seg.lang
    return doc_lang
