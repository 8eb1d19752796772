"""What a reader sees versus what is stored: invisible format characters, and the reordering bidi controls cause.

``1日\u202e05\u202cmg`` is stored as "five" but displayed as "1日50mg"; ``Take \u202e005\u202c mg`` displays
as "Take 500 mg"; zero-width characters split words without a trace. ``format_chars`` lists every such
character (Unicode category Cf) so the UI can show a marker and the pre-screen can flag it;
``displayed_text`` approximates what a left-to-right page shows, so checks can read that too.

``displayed_text`` applies the explicit part of the Unicode Bidirectional Algorithm (UAX #9) that changes
the order of digits and Latin/Japanese text: overrides (RLO reverses every character of its run, LRO keeps
them), and right-to-left embeddings and isolates (RLE, RLI, FSI that starts right-to-left), whose runs of
letters and numbers keep their inner order but come in reverse order. It does not reorder Hebrew or
Arabic letters outside such controls (not the attack here, and not what clinicians read). Every Cf
character is dropped from the result, as a browser draws none of them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

NAMES = {
    0x202A: "LRE", 0x202B: "RLE", 0x202C: "PDF", 0x202D: "LRO", 0x202E: "RLO",
    0x2066: "LRI", 0x2067: "RLI", 0x2068: "FSI", 0x2069: "PDI", 0x200E: "LRM", 0x200F: "RLM", 0x061C: "ALM",
    0x200B: "ZWSP", 0x200C: "ZWNJ", 0x200D: "ZWJ", 0x2060: "WJ", 0xFEFF: "ZWNBSP", 0x00AD: "SHY",
}
BIDI = frozenset({0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C})
_OPEN_EMBED = {"\u202a": "LRE", "\u202b": "RLE", "\u202d": "LRO", "\u202e": "RLO"}
_OPEN_ISOLATE = {"\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI"}
_PDF, _PDI = "\u202c", "\u2069"
_MAX_DEPTH = 125  # UAX #9's limit; deeper controls are ignored, as browsers do


@dataclass(frozen=True, slots=True)
class FormatChar:
    offset: int  # Python str offset in the stored text
    code: str  # "U+202E"
    name: str  # "RLO", "ZWSP", or the Unicode name
    bidi: bool  # a bidi control (can reorder what is shown), not only invisible


def format_chars(text: str) -> list[FormatChar]:
    """Every format character (Unicode category Cf) in ``text``: invisible, some reorder the display."""
    out = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cf":
            cp = ord(ch)
            name = NAMES.get(cp) or str(unicodedata.name(ch, f"U+{cp:04X}"))
            out.append(FormatChar(i, f"U+{cp:04X}", name, cp in BIDI))
    return out


def strip_format(text: str) -> str:
    """``text`` without its format characters, in stored (logical) order."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


@dataclass(slots=True)
class _Group:
    kind: str  # ROOT, LRE, RLE, LRO, RLO, LRI, RLI, FSI
    items: list[str | _Group]


def displayed_text(text: str) -> str:
    """An approximation of what a left-to-right page shows for ``text`` (see the module docstring)."""
    if not any(unicodedata.category(ch) == "Cf" for ch in text):
        return text
    return "\n".join(_render(_parse(paragraph)) for paragraph in text.split("\n"))


def _parse(paragraph: str) -> _Group:
    root = _Group("ROOT", [])
    stack = [root]
    for ch in paragraph:
        if ch in _OPEN_EMBED or ch in _OPEN_ISOLATE:
            if len(stack) <= _MAX_DEPTH:
                group = _Group(_OPEN_EMBED.get(ch) or _OPEN_ISOLATE[ch], [])
                stack[-1].items.append(group)
                stack.append(group)
        elif ch == _PDF:
            if stack[-1].kind in ("LRE", "RLE", "LRO", "RLO"):  # PDF never closes an isolate
                stack.pop()
        elif ch == _PDI:
            if any(g.kind in ("LRI", "RLI", "FSI") for g in stack[1:]):
                while stack[-1].kind not in ("LRI", "RLI", "FSI"):
                    stack.pop()  # a PDI also closes the embeddings opened inside its isolate
                stack.pop()
        elif unicodedata.category(ch) != "Cf":
            stack[-1].items.append(ch)
    return root


def _rtl(group: _Group) -> bool:
    if group.kind in ("RLE", "RLO", "RLI"):
        return True
    if group.kind == "FSI":  # the direction of its first strong character
        for ch in _flatten(group):
            cls = unicodedata.bidirectional(ch)
            if cls in ("R", "AL"):
                return True
            if cls == "L":
                return False
    return False


def _flatten(group: _Group) -> str:
    return "".join(i if isinstance(i, str) else _flatten(i) for i in group.items)


def _render(group: _Group) -> str:
    if group.kind == "RLO":  # every character right to left; nested groups stay whole
        return "".join(i[::-1] if isinstance(i, str) else _render(i) for i in reversed(group.items))
    if group.kind == "LRO" or not _rtl(group):
        return "".join(i if isinstance(i, str) else _render(i) for i in group.items)
    # Right-to-left embedding/isolate: runs of letters and numbers keep their order, the runs are reversed.
    units: list[str] = []
    run = ""
    for item in group.items:
        if isinstance(item, str) and _keeps_order(item, run):
            run += item
            continue
        if run:
            units.append(run)
            run = ""
        units.append(item if isinstance(item, str) else _render(item))
    if run:
        units.append(run)
    return "".join(reversed(units))


def _keeps_order(ch: str, run: str) -> bool:
    cls = unicodedata.bidirectional(ch)
    if cls in ("L", "EN", "AN"):
        return True
    # "2.5" and "1,000" stay one number: a separator between digits joins them.
    return cls in ("CS", "ES") and bool(run) and unicodedata.bidirectional(run[-1]) in ("EN", "AN")
