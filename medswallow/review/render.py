"""Render model output inert: text in, HTML that can only ever display that text.

Model answers are untrusted: they may contain ``<script>``, ``<img onerror=...>``, ``javascript:`` links,
markdown images that load remote URLs, or HTML entities. Everything from the model is HTML-escaped
character by character; markdown is never interpreted (the app shows this HTML with ``st.html``, which
does not run markdown and additionally sanitises with DOMPurify); the only tags in the output are the
ones built here (``div``, ``span``, ``mark``, ``br``, ``sup``) with fixed attributes.
"""

from __future__ import annotations

from medswallow.review.spans import SpanLabel, sentences

# Every character HTML or markdown could act on becomes a numeric entity. st.html does not run markdown,
# but escaping it too means the same HTML stays inert if it ever reaches a markdown renderer by mistake.
_ESCAPES = {c: f"&#{ord(c)};" for c in "&<>\"'[]()!*_`#~|\\:{}=/$@^%+-"}
_DIV = '<div class="ms-inert" style="white-space:pre-wrap;word-break:break-word;line-height:1.6">'
_MARK = '<mark style="background:#f9d6d5;border-bottom:2px solid #c0392b;padding:0 1px">'
_NUM = '<sup style="color:#888;font-size:0.7em;margin-right:2px">[{}]</sup>'


def escape(text: str) -> str:
    """Escape ``text`` so that neither HTML nor markdown in it can take effect (newlines become <br>)."""
    return "".join(_ESCAPES.get(c, c) for c in text.replace("\r\n", "\n")).replace("\n", "<br>")


def render_text(text: str, spans: list[SpanLabel] | tuple[SpanLabel, ...] = (), numbered: bool = False) -> str:
    """Inert HTML for ``text``: spans highlighted with ``<mark>``, optional sentence numbers."""
    marks = sorted({(s.start, s.end): s for s in spans}.values(), key=lambda s: (s.start, -s.end))
    starts: dict[int, list[str]] = {}
    boundaries = set()
    if numbered:
        for i, (first, _end) in enumerate(sentences(text), start=1):
            starts.setdefault(first, []).append(_NUM.format(i))
    covered = [False] * (len(text) + 1)
    for s in marks:
        for i in range(s.start, min(s.end, len(text))):
            covered[i] = True
    for i in range(len(text) + 1):
        prev = covered[i - 1] if i > 0 else False
        cur = covered[i] if i < len(text) else False
        if prev != cur:
            boundaries.add(i)
    parts = []
    open_mark = False
    for i, ch in enumerate(text):
        if i in boundaries:
            if open_mark:
                parts.append("</mark>")
                open_mark = False
            else:
                parts.append(_MARK)
                open_mark = True
        parts.extend(starts.get(i, []))
        parts.append(escape(ch))
    if open_mark:
        parts.append("</mark>")
    return f'{_DIV}{"".join(parts)}</div>'


def render_plain(text: str) -> str:
    """Inert HTML for text without highlighting (prompts, reasoning, corrections, hints)."""
    return render_text(text)
