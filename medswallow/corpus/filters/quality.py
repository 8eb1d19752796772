"""Language and quality filters with Japanese-aware thresholds.

Stock web-text heuristics assume spaces between words (Gopher, C4) and drop nearly all Japanese. Here
length is counted in characters per language, repetition in character n-grams, and prose is recognised
by hiragana for Japanese and by stop words and word length for English.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from medswallow.corpus.filters.base import Filter, FilterResult
from medswallow.corpus.langid import detect
from medswallow.corpus.ngrams import char_ngram_hashes
from medswallow.records import Document


class LanguageFilter(Filter):
    """Sets ``doc.lang`` (ja/en/mixed/other/und) and drops languages the recipe does not keep."""

    name = "lang"

    def __init__(self, keep: list[str], mixed_min_share: float) -> None:
        self.keep = set(keep)
        self.mixed_min_share = mixed_min_share

    def filter(self, doc: Document) -> FilterResult:
        lang, detail, score = detect(doc.text, self.mixed_min_share)
        doc.lang = lang
        doc.meta["lang_detail"] = detail
        doc.meta["lang_score"] = score
        if lang in self.keep or (lang == "und" and "other" in self.keep):
            return True
        return False, lang if lang != "und" else "undetermined"


class LengthFilter(Filter):
    """Too short to teach anything, or so long it is a dump or a table."""

    name = "quality"

    def __init__(self, min_chars: dict[str, int], max_chars: int) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars

    def filter(self, doc: Document) -> FilterResult:
        n = len(doc.text)
        if n < self.min_chars.get(doc.lang, self.min_chars.get("other", 0)):
            return False, "too_short"
        if n > self.max_chars:
            return False, "too_long"
        return True


# Markup, drawing and decoration characters; usual punctuation, units and math stay allowed.
_SYMBOL = re.compile(
    r"[#*|\\{}\[\]<>^~_=@$&`\u2500-\u257f\u2580-\u259f\u25a0-\u25ff\u2190-\u21ff\u2600-\u27bf\U0001f000-\U0001faff]"
)
_SPACE = re.compile(r"\s")


class SymbolRatioFilter(Filter):
    name = "quality"

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    def filter(self, doc: Document) -> FilterResult:
        visible = len(doc.text) - _SPACE.subn("", doc.text)[1]
        if visible and _SYMBOL.subn("", doc.text)[1] / visible > self.max_ratio:
            return False, "symbol_ratio"
        return True


class DuplicateLinesFilter(Filter):
    """Share of characters in lines that occur more than once (menus, repeated boilerplate)."""

    name = "quality"

    def __init__(self, max_ratio: float) -> None:
        self.max_ratio = max_ratio

    def filter(self, doc: Document) -> FilterResult:
        lines = [ln.strip() for ln in doc.text.split("\n") if ln.strip()]
        if len(lines) < 3:
            return True
        counts = Counter(lines)
        total = sum(len(ln) for ln in lines)
        dup = sum(len(ln) * c for ln, c in counts.items() if c > 1)
        if total and dup / total > self.max_ratio:
            return False, "duplicate_lines"
        return True


class RepeatedNgramFilter(Filter):
    """Share of character n-grams that repeat inside the document (loops, spam, generated filler)."""

    name = "quality"

    def __init__(self, max_ratio: float, n: int = 16) -> None:
        self.max_ratio = max_ratio
        self.n = n

    def filter(self, doc: Document) -> FilterResult:
        if len(doc.text) < 4 * self.n:
            return True
        h = char_ngram_hashes(doc.text, self.n)
        _, counts = np.unique(h, return_counts=True)
        repeated = float(counts[counts > 1].sum()) / len(h)
        if repeated > self.max_ratio:
            return False, "repeated_ngrams"
        return True


_HIRAGANA = re.compile(r"[\u3041-\u309f]")
_LETTER = re.compile(r"[^\W\d_]")


class JapaneseProseFilter(Filter):
    """Japanese prose has hiragana (particles, inflections); keyword lists and tables mostly do not."""

    name = "quality"

    def __init__(self, min_hiragana_ratio: float) -> None:
        self.min_ratio = min_hiragana_ratio

    def filter(self, doc: Document) -> FilterResult:
        if doc.lang != "ja":
            return True
        letters = _LETTER.subn("", doc.text)[1]
        if letters and _HIRAGANA.subn("", doc.text)[1] / letters < self.min_ratio:
            return False, "few_hiragana"
        return True


STOP_WORDS_EN = frozenset("the be to of and that have with is in for on are this was it as by from not".split())
_WORD = re.compile(r"[A-Za-z]+")


class EnglishProseFilter(Filter):
    """Gopher-style checks for English: stop words present, mean word length plausible."""

    name = "quality"

    def __init__(self, min_stopwords: int, min_mean: float, max_mean: float) -> None:
        self.min_stopwords = min_stopwords
        self.min_mean = min_mean
        self.max_mean = max_mean

    def filter(self, doc: Document) -> FilterResult:
        if doc.lang != "en":
            return True
        words = _WORD.findall(doc.text[:50_000].lower())
        if not words:
            return False, "no_words"
        if len(STOP_WORDS_EN.intersection(words)) < self.min_stopwords:
            return False, "few_stop_words"
        mean = sum(map(len, words)) / len(words)
        if not self.min_mean <= mean <= self.max_mean:
            return False, "word_length"
        return True


def quality_filters(cfg: Any) -> list[Filter]:
    """The quality heuristics of a recipe's ``quality`` section, cheapest first."""
    return [
        LengthFilter(cfg.min_chars, cfg.max_chars),
        SymbolRatioFilter(cfg.max_symbol_ratio),
        DuplicateLinesFilter(cfg.max_dup_line_ratio),
        JapaneseProseFilter(cfg.min_hiragana_ratio),
        EnglishProseFilter(cfg.min_stopwords_en, cfg.min_mean_word_len_en, cfg.max_mean_word_len_en),
        RepeatedNgramFilter(cfg.max_dup_ngram_ratio),
    ]
