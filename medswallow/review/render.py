"""Render model output inert: text in, HTML that can only ever display that text.

Model answers are untrusted: they may contain ``<script>``, ``<img onerror=...>``, ``javascript:`` links,
markdown images that load remote URLs, or HTML entities. Everything from the model is HTML-escaped
character by character; markdown is never interpreted (the app shows this HTML with ``st.html``, which
does not run markdown and additionally sanitises with DOMPurify); the only tags in the output are the
ones built here (``div``, ``span``, ``mark``, ``br``, ``sup``) with fixed attributes.

What is shown is what is stored: characters that change how text is displayed without being visible
themselves (bidi controls such as U+202E, zero-width spaces and joiners, other format and control
characters) are never emitted; a visible marker such as ``⟦RLO U+202E⟧`` stands in their place, so
``1日\u202e05\u202cmg`` cannot display as "1日50mg". The same segmentation (:func:`segments`) feeds the
mouse-selection component, so its offsets are characters of the stored text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from medswallow.review.spans import SpanLabel, sentences

# Every character HTML or markdown could act on becomes a numeric entity. st.html does not run markdown,
# but escaping it too means the same HTML stays inert if it ever reaches a markdown renderer by mistake.
_ESCAPES = {c: f"&#{ord(c)};" for c in "&<>\"'[]()!*_`#~|\\:{}=/$@^%+-"}
_DIV = (
    '<div class="ms-inert" style="white-space:pre-wrap;word-break:break-word;line-height:1.6;'
    'unicode-bidi:isolate">'
)
_MARK = '<mark style="background:#f9d6d5;border-bottom:2px solid #c0392b;padding:0 1px">'
_NUM = '<sup style="color:#888;font-size:0.7em;margin-right:2px">[{}]</sup>'
_MARKER = (
    '<span class="ms-cf" style="font-family:monospace;font-size:0.75em;color:#8e44ad;background:#f4ecf7;'
    'border:1px solid #8e44ad;border-radius:3px;padding:0 2px;margin:0 1px">{}</span>'
)

# Short names for the invisible characters a clinician most needs to recognise.
_NAMES = {
    0x00AD: "SHY", 0x061C: "ALM", 0x180E: "MVS", 0x200B: "ZWSP", 0x200C: "ZWNJ", 0x200D: "ZWJ",
    0x200E: "LRM", 0x200F: "RLM", 0x202A: "LRE", 0x202B: "RLE", 0x202C: "PDF", 0x202D: "LRO",
    0x202E: "RLO", 0x2060: "WJ", 0x2066: "LRI", 0x2067: "RLI", 0x2068: "FSI", 0x2069: "PDI",
    0xFEFF: "BOM", 0x2028: "LS", 0x2029: "PS", 0x0009: "TAB",
}


def is_invisible(ch: str) -> bool:
    """True for a character that must be shown as a marker: format (Cf), control (Cc) other than newline
    and tab, line/paragraph separators, and surrogates or unassigned code points."""
    if ch in "\n\t":
        return False
    return unicodedata.category(ch) in {"Cf", "Cc", "Zl", "Zp", "Cs", "Cn", "Co"}


def marker(ch: str) -> str:
    """The visible stand-in for an invisible character, e.g. ``⟦RLO U+202E⟧``."""
    cp = ord(ch)
    name = _NAMES.get(cp)
    return f"⟦{name + ' ' if name else ''}U+{cp:04X}⟧"


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of the stored text ``[start, end)`` and what is displayed for it.

    ``kind`` is ``"text"`` (displayed as is: ``shown == text[start:end]``), ``"marker"`` (one invisible
    character shown as a marker) or ``"hidden"`` (the ``\\r`` of a ``\\r\\n`` line ending). ``spans`` are the
    indices of the spans covering it; ``sentence`` is the number of the sentence that starts here (or 0).
    """

    start: int
    end: int
    shown: str
    kind: str
    spans: tuple[int, ...] = ()
    sentence: int = 0


def segments(
    text: str, spans: list[SpanLabel] | tuple[SpanLabel, ...] = (), numbered: bool = False
) -> list[Segment]:
    """Cut ``text`` at span edges, sentence starts and invisible characters (offsets are code points)."""
    cuts = {0, len(text)}
    for s in spans:
        cuts.update((max(0, min(s.start, len(text))), max(0, min(s.end, len(text)))))
    starts: dict[int, int] = {}
    if numbered:
        for i, (first, _end) in enumerate(sentences(text), start=1):
            starts[first] = i
            cuts.add(first)
    for i, ch in enumerate(text):
        if is_invisible(ch):
            cuts.update((i, i + 1))
    bounds = sorted(cuts)
    out: list[Segment] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        if a >= b:
            continue
        covering = tuple(j for j, s in enumerate(spans) if s.start <= a and b <= s.end)
        piece = text[a:b]
        if b - a == 1 and is_invisible(piece):
            if piece == "\r" and text[b : b + 1] == "\n":
                out.append(Segment(a, b, "", "hidden", covering, starts.get(a, 0)))
            else:
                out.append(Segment(a, b, marker(piece), "marker", covering, starts.get(a, 0)))
        else:
            out.append(Segment(a, b, piece, "text", covering, starts.get(a, 0)))
    return out


def _escape_plain(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text).replace("\n", "<br>")


def escape(text: str) -> str:
    """Escape ``text`` so that neither HTML nor markdown in it can take effect (newlines become <br>,
    invisible characters become visible markers)."""
    parts = []
    for seg in segments(text):
        if seg.kind == "text":
            parts.append(_escape_plain(seg.shown))
        elif seg.kind == "marker":
            parts.append(_MARKER.format(_escape_plain(seg.shown)))
    return "".join(parts)


def markdown_literal(text: str) -> str:
    """``text`` for a place that renders markdown (messages, expander titles, progress text): every character
    markdown, Streamlit's ``:color[...]``/``:icon:`` syntax or HTML could act on becomes a character reference,
    which markdown shows literally; invisible characters become their markers; newlines become spaces."""
    out = []
    for seg in segments(text):
        if seg.kind == "text":
            out.append("".join(_ESCAPES.get(c, c) for c in seg.shown.replace("\n", " ")))
        elif seg.kind == "marker":
            out.append(seg.shown)
    return "".join(out)


def render_text(text: str, spans: list[SpanLabel] | tuple[SpanLabel, ...] = (), numbered: bool = False) -> str:
    """Inert HTML for ``text``: spans highlighted with ``<mark>``, optional sentence numbers."""
    parts = []
    open_mark = False
    for seg in segments(text, spans, numbered):
        covered = bool(seg.spans)
        if covered != open_mark:
            parts.append(_MARK if covered else "</mark>")
            open_mark = covered
        if seg.sentence:
            parts.append(_NUM.format(seg.sentence))
        if seg.kind == "text":
            parts.append(_escape_plain(seg.shown))
        elif seg.kind == "marker":
            parts.append(_MARKER.format(_escape_plain(seg.shown)))
    if open_mark:
        parts.append("</mark>")
    return f'{_DIV}{"".join(parts)}</div>'


def render_plain(text: str) -> str:
    """Inert HTML for text without highlighting (prompts, reasoning, corrections, hints)."""
    return render_text(text)


def invisible_characters(text: str) -> list[tuple[int, str]]:
    """``(offset, marker)`` for every invisible character in ``text`` (for a warning next to the answer)."""
    return [(i, marker(ch)) for i, ch in enumerate(text) if is_invisible(ch) and not (ch == "\r" and text[i + 1 : i + 2] == "\n")]
