"""Spans of unsafe claims in an answer: numbered sentences, and turning what an annotator typed into offsets.

An annotator marks a span by typing sentence numbers shown next to the answer (``3``, ``2-4``) or by
pasting the passage itself. Offsets are Python str offsets into the final answer, ``end`` exclusive.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from medswallow.errors import UserError

# A sentence ends at Japanese terminal punctuation, at Western punctuation followed by whitespace or the
# end ("2.5 mg", "e.g.x", URLs and "![x]" stay whole), or at a newline; closing brackets/quotes stay attached.
_SENTENCE_END = re.compile(r"[。．！？]+[」』）)\]\"'”’]*|[.!?]+[\"'”’)\]]*(?=\s|$)|\n+")
_REF = re.compile(r"^\s*#?(\d+)\s*(?:[-‐–—~〜～ー]\s*#?(\d+))?\s*$")


@dataclass(frozen=True, slots=True)
class SpanLabel:
    """One marked claim: offsets into the answer, its category and severity, and the text it covers."""

    start: int
    end: int
    category: str
    severity: str
    quote: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "category": self.category,
            "severity": self.severity,
            "quote": self.quote,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SpanLabel:
        return cls(
            start=int(data["start"]),  # type: ignore[call-overload]
            end=int(data["end"]),  # type: ignore[call-overload]
            category=str(data["category"]),
            severity=str(data["severity"]),
            quote=str(data.get("quote", "")),
            note=str(data.get("note", "")),
        )


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence offsets ``(start, end)``, leading/trailing whitespace excluded, empty pieces dropped."""
    out: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.end() if not m.group(0).startswith("\n") else m.start()
        _append_trimmed(text, start, end, out)
        start = m.end()
    _append_trimmed(text, start, len(text), out)
    return out


def _append_trimmed(text: str, start: int, end: int, out: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        out.append((start, end))


def _normalise(s: str) -> str:
    # NFKC folds full-width letters/digits; whitespace runs collapse (copying from a page changes them).
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s)).strip()


def locate(text: str, ref: str) -> tuple[int, int]:
    """Offsets of what the annotator typed: sentence numbers (``3``, ``2-4``) or an exact passage.

    A passage must occur exactly once (or be made unique by pasting more of it); whitespace and full-width
    differences are tolerated.
    """
    ref = ref.strip()
    if not ref:
        raise UserError("type sentence numbers (e.g. 3 or 2-4) or paste the unsafe passage")
    m = _REF.match(unicodedata.normalize("NFKC", ref))
    if m:
        sents = sentences(text)
        first = int(m.group(1))
        last = int(m.group(2) or first)
        if first > last:
            first, last = last, first
        if first < 1 or last > len(sents):
            raise UserError(f"sentence {last if last > len(sents) else first} does not exist (the answer has {len(sents)})")
        return sents[first - 1][0], sents[last - 1][1]
    hits = _find_all(text, ref)
    if not hits:
        raise UserError("that passage is not in the answer; paste it exactly or use sentence numbers")
    if len(hits) > 1:
        raise UserError(f"that passage occurs {len(hits)} times; paste a longer passage or use sentence numbers")
    return hits[0]


def _find_all(text: str, needle: str) -> list[tuple[int, int]]:
    exact = [(m.start(), m.start() + len(needle)) for m in re.finditer(re.escape(needle), text)]
    if exact:
        return exact
    # Tolerant match: map each character of the normalised text back to the original offsets.
    norm_chars: list[str] = []
    origin: list[int] = []
    prev_space = True
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch)
        if folded.isspace():
            if prev_space:
                continue
            folded, prev_space = " ", True
        else:
            prev_space = False
        for c in folded:
            norm_chars.append(c)
            origin.append(i)
    norm_text = "".join(norm_chars)
    target = _normalise(needle)
    hits = []
    for m in re.finditer(re.escape(target), norm_text):
        start = origin[m.start()]
        end = origin[m.end() - 1] + 1
        hits.append((start, end))
    return hits


def validate_spans(spans: list[SpanLabel], text_len: int) -> None:
    seen = set()
    for s in spans:
        if not (0 <= s.start < s.end <= text_len):
            raise UserError(f"span {s.start}-{s.end} is outside the answer (length {text_len})")
        key = (s.start, s.end, s.category)
        if key in seen:
            raise UserError(f"span {s.start}-{s.end} with category {s.category!r} is marked twice")
        seen.add(key)


def char_mask(text_len: int, spans: list[tuple[int, int]]) -> list[int]:
    """1 for every character covered by a span, else 0 (the units of span-overlap agreement)."""
    mask = [0] * text_len
    for start, end in spans:
        for i in range(max(0, start), min(end, text_len)):
            mask[i] = 1
    return mask
